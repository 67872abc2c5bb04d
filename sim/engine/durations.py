"""Random durations of faults: time to failure, repair time, extra delay, by their mean.

Times to failure are exponential (failures of a component without wear-out arrive as a
Poisson process). Repair times and extra delays follow the scenario's `RepairSpec` family,
parameterised so that the mean is the given mean whatever the shape: Weibull with shape k has
scale mean / Gamma(1 + 1/k); lognormal with sigma has mu = ln(mean) - sigma^2 / 2.
"""

from __future__ import annotations

import math

import numpy as np

from sim.scenario.schema import RepairSpec


def exponential(rng: np.random.Generator, mean: float) -> float:
    """An exponential duration of mean `mean`."""
    return float(rng.exponential(mean))


def repair_time(rng: np.random.Generator, mean: float, spec: RepairSpec) -> float:
    """A duration of mean `mean` from the family `spec` names."""
    if spec.distribution == "exponential":
        return float(rng.exponential(mean))
    shape = spec.shape
    assert shape is not None, "the schema requires a shape for weibull and lognormal"
    if spec.distribution == "weibull":
        return float(mean / math.gamma(1.0 + 1.0 / shape) * rng.weibull(shape))
    return float(rng.lognormal(math.log(mean) - shape * shape / 2.0, shape))
