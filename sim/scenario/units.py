"""Human units in scenarios: durations (`15m`, `3d12h`), sizes (`2TiB`) and rates (`1Gbit/s`).

Everything inside the engine is seconds, bytes and bytes per second (floats). A size is a
number and a unit, read by a regular expression: pint only names the unit (SI and IEC
prefixes, bits and bytes), it never evaluates the text, so `9**9**9 B` is a clean error rather
than an endless computation. pytimeparse2 reads compound durations. A rate is a size over a
duration, so `20GiB/h` and `1Gbit/s` share one rule.

Importing pint and building its registry takes about 0.4 s, more than reading a scenario: the
units scenarios use (`COMMON_UNITS`: bytes and bits with SI and IEC prefixes) are pint's answers
written down, which a test checks against pint, and pint is imported only for any other unit.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from pytimeparse2 import parse as _parse_timespan

if TYPE_CHECKING:
    import pint

_PREFIXES = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18, "Z": 1e21, "Y": 1e24,
             **{f"{p}i": 2.0 ** (10 * n) for n, p in enumerate("KMGTPEZY", start=1)}}
COMMON_UNITS = {f"{prefix}{unit}": factor * per_unit
                for prefix, factor in _PREFIXES.items() for unit, per_unit in (("B", 1.0), ("bit", 0.125))}
"""Bytes in one of each unit scenarios commonly use (`B`, `kB`, `GiB`, `bit`, `Gbit`, `Kibit`,
...), as pint gives them (`tests/test_units.py` compares every one)."""


@lru_cache(maxsize=1)
def _registry() -> pint.UnitRegistry:
    import pint

    return pint.UnitRegistry()


def _require_text(value: object, example: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a value with a unit, e.g. {example!r}")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} has no unit; write it with one, e.g. {example!r}")
    return value.strip()


def parse_duration(value: object, *, allow_zero: bool = False) -> float:
    """Seconds in a duration such as `15m`, `7d`, `3d12h`, `2ms`. Positive unless `allow_zero`."""
    if allow_zero and value == 0:
        return 0.0
    text = _require_text(value, "15m")
    seconds = _parse_timespan(text)
    if seconds is None:
        raise ValueError(f"{text!r} is not a duration; use e.g. '30s', '15m', '4h', '7d', '3d12h'")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{text!r}: a duration must be positive")
    return float(seconds)


_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan))\s*([A-Za-z]{1,12})$",
                       re.IGNORECASE)
"""A size: a decimal number, then a unit made of letters (`2TiB`, `1.5 GB`, `512e3 KiB`). No
arithmetic or exponent operators: pint would evaluate `2**2000 B` or `10 GiB * 100 / 10`."""


def _bytes_per(unit: str) -> float:
    """Bytes in one `unit` of information (`B`, `KiB`, `Gbit`, ...); ValueError for anything else."""
    common = COMMON_UNITS.get(unit)
    return _bytes_per_pint(unit) if common is None else common


@lru_cache(maxsize=64)
def _bytes_per_pint(unit: str) -> float:
    """Bytes in one `unit` of information as pint reads it; ValueError for anything but information."""
    ureg = _registry()
    try:
        quantity = ureg.Quantity(1, ureg.parse_units(unit))
        # pint treats information as dimensionless: require that the quantity reduce to bits.
        if quantity.to_root_units().units != ureg.bit:
            raise ValueError(unit)
        return float(quantity.to(ureg.byte).magnitude)
    except Exception:  # pint raises several unrelated types for unknown units
        raise ValueError(unit) from None


def parse_size(value: object) -> float:
    """Bytes in a size such as `2TiB`, `500GB`, `1Gbit`: a number and a unit, nothing else.
    Must be positive and finite."""
    text = _require_text(value, "2TiB")
    match = _QUANTITY.match(text)
    try:
        if match is None:
            raise ValueError(text)
        per_unit = _bytes_per(match.group(2))
    except ValueError:
        raise ValueError(f"{text!r} is not a size: write a number and a unit, e.g. '512MiB', '2TiB', '500GB'") from None
    number = float(match.group(1))
    if math.isnan(number) or match.group(1).lstrip("+-").lower().startswith("inf"):
        raise ValueError(f"{text!r}: must be a finite number")
    size = number * per_unit
    if math.isinf(size):
        raise ValueError(f"{text!r} is out of range: must be a finite number of bytes")
    if size <= 0:
        raise ValueError(f"{text!r}: a size must be positive")
    return size


def parse_rate(value: object) -> float:
    """Bytes per second in a rate such as `1Gbit/s`, `100MB/s`, `20GiB/h`, `1TiB/7d`."""
    text = _require_text(value, "1Gbit/s")
    amount, slash, per = text.partition("/")
    if not slash or not per.strip():
        raise ValueError(f"{text!r} is not a rate; write size/time, e.g. '1Gbit/s', '20GiB/h'")
    per = per.strip()
    if per[0].isalpha():
        per = "1" + per
    try:
        return parse_size(amount) / parse_duration(per)
    except ValueError as err:
        raise ValueError(f"{text!r} is not a rate ({err}); write size/time, e.g. '1Gbit/s'") from None
