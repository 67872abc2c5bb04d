"""`bench/scale.py`'s split of the model's loop CPU per firing: SimPy's share of its events and
the model's own work, against the budget issue 15's model/floor target leaves that work."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

SCALE = Path(__file__).resolve().parent.parent / "bench" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    # Loaded without a place in sys.modules, on purpose: Hypothesis draws constants from the
    # local modules sys.modules holds, so registering the benchmark would change the worlds
    # tests/test_random_worlds.py draws after this file (it once lost "re-point two hops up").
    spec = importlib.util.spec_from_file_location("bench_scale", SCALE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@given(floor_events=st.integers(1, 10**7), events_per_firing=st.floats(1.0, 20.0),
       us_per_event=st.floats(0.1, 5.0), target=st.floats(1.0, 100.0))
def test_the_work_a_target_allows_is_the_work_of_a_loop_that_meets_it_exactly(scale, floor_events, events_per_firing,
                                                                               us_per_event, target):
    events = round(floor_events * events_per_firing)
    floor_cpu_s = floor_events * us_per_event * 1e-6
    at_target = scale.work_per_firing(events, target * floor_cpu_s, floor_events, floor_cpu_s, target)
    assert at_target["work_us_per_firing"] == pytest.approx(at_target["work_budget_us"], abs=1e-2)
    assert at_target["floor_us_per_event"] == pytest.approx(us_per_event, abs=1e-4)


def test_a_loop_of_the_floors_own_events_has_no_work_and_a_target_of_one_leaves_none(scale):
    split = scale.work_per_firing(1000, 0.002, 1000, 0.002, 1.0)
    assert split == {"floor_us_per_event": 2.0, "work_us_per_firing": 0.0, "work_budget_us": 0.0}


def test_five_events_per_firing_leave_three_floor_events_of_work_under_a_target_of_eight(scale):
    split = scale.work_per_firing(5000, 0.025, 1000, 0.001, 8.0)
    assert split == {"floor_us_per_event": 1.0, "work_us_per_firing": 20.0, "work_budget_us": 3.0}


def test_no_target_no_budget_and_no_floor_no_split(scale):
    assert scale.work_per_firing(10, 1.0, 5, 0.5, None)["work_budget_us"] is None
    assert set(scale.work_per_firing(10, 1.0, 0, 0.0, 8.0).values()) == {None}
