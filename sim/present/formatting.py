"""Numbers as storage people read them: bytes in IEC units, lock cost in byte-hours, delays in
the time unit that fits, bandwidths in bits per second, shares in percent.

The one place that turns a KPI or a fact into text, and that picks the unit of a chart's axis:
the terminal (`run`, `compare`, `check`, `locks`), report.html, the plots and the library
catalog all call it, so a value reads the same everywhere. A KPI's unit comes from the registry
(`sim.observe.kpis`). Machine-readable numbers stay in the files (summary.json, Parquet, CSV).
"""

from __future__ import annotations

import math

from sim.observe.kpis import BY_NAME, Unit

BYTE_UNITS = ((6, "EiB"), (5, "PiB"), (4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB"))
"""Powers of 1024 and their names, largest first."""
DIGITS = 3
"""Significant digits of a value for people (`3.04 TiB`, `29.4 h`)."""
HOURS_AXIS_UP_TO_S = 14 * 86400.0
"""A time axis counts hours up to two weeks (so the ticks of a run of days fall on hours), days beyond."""

def byte_unit(largest: float) -> tuple[float, str]:
    """(bytes per unit, name) that keeps `largest` between 1 and 1024 where possible."""
    for power, name in BYTE_UNITS:
        if abs(largest) >= 1024.0**power:
            return 1024.0**power, name
    return 1.0, "B"


def seconds_unit(largest_s: float) -> tuple[float, str]:
    """(seconds per unit, name) for an axis of times or delays up to `largest_s`: days past
    `HOURS_AXIS_UP_TO_S`, hours from an hour, minutes from a minute, else seconds."""
    largest_s = abs(largest_s)
    if largest_s > HOURS_AXIS_UP_TO_S:
        return 86400.0, "days"
    if largest_s >= 3600.0:
        return 3600.0, "hours"
    if largest_s >= 60.0:
        return 60.0, "minutes"
    return 1.0, "seconds"


def unit_scale(unit: Unit, largest: float) -> tuple[float, str]:
    """(value per unit, axis label) for an axis of values of `unit` up to `largest`: `GiB`,
    `TiB·h`, `hours`, or `count`."""
    if unit == "bytes":
        return byte_unit(largest)
    if unit == "byte_hours":
        scale, name = byte_unit(largest)
        return scale, f"{name}·h"
    if unit == "seconds":
        return seconds_unit(largest)
    if unit == "fraction":
        return 1.0, "fraction"
    return 1.0, "count"


def format_number(value: float, digits: int = DIGITS) -> str:
    """`value` to `digits` significant digits, without an exponent below a million."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    text = f"{value:,.{digits}g}"
    if "e" in text and abs(value) < 1e6:
        text = f"{value:,.0f}"
    return text


def format_bytes(value: float, digits: int = DIGITS) -> str:
    """`3.04 TiB`, `512 MiB`, `0 B`."""
    scale, unit = byte_unit(value)
    return f"{format_number(value / scale, digits)} {unit}"


def format_byte_hours(value: float, digits: int = DIGITS) -> str:
    """Space held over time: `1.29 TiB·h`."""
    scale, unit = byte_unit(value)
    return f"{format_number(value / scale, digits)} {unit}·h"


def format_seconds(seconds: float, digits: int = DIGITS) -> str:
    """A delay or lag in the unit that reads best: `31 ms`, `9.8 min`, `28.6 h`, `3.5 d`."""
    for threshold, scale, name in ((2 * 86400.0, 86400.0, "d"), (3600.0, 3600.0, "h"), (60.0, 60.0, "min"),
                                   (1.0, 1.0, "s")):
        if abs(seconds) >= threshold:
            return f"{format_number(seconds / scale, digits)} {name}"
    if seconds == 0:
        return "0 s"
    return f"{format_number(seconds * 1000, digits)} ms"


def format_rate(bytes_per_s: float) -> str:
    """A link bandwidth as network people write it: `10 Gbit/s`."""
    bits = bytes_per_s * 8
    for scale, name in ((1e12, "Tbit/s"), (1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s")):
        if bits >= scale:
            return f"{format_number(bits / scale, DIGITS)} {name}"
    return f"{format_number(bits, DIGITS)} bit/s"


def format_count(value: float, digits: int = DIGITS) -> str:
    """A count in full with thousands separators (`1,234`); a mean or other fraction to `digits`."""
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return format_number(value, digits)


def format_percent(fraction: float, decimals: int = 1) -> str:
    """A share of a whole (a utilisation, a busy fraction) as a percentage: `40.0%`."""
    return f"{fraction:.{decimals}%}"


def format_value(unit: Unit, value: float | None, digits: int = DIGITS) -> str:
    """A number of `unit` (`count`, `bytes`, `byte_hours`, `seconds`, `fraction`); `-` for a missing value."""
    if value is None:
        return "-"
    if unit == "fraction":
        return format_percent(float(value), 3)
    if unit == "bytes":
        return format_bytes(float(value), digits)
    if unit == "byte_hours":
        return format_byte_hours(float(value), digits)
    if unit == "seconds":
        return format_seconds(float(value), digits)
    return format_count(value, digits)


def format_kpi(name: str, value: float | None, digits: int = DIGITS) -> str:
    """A KPI's value in its unit (from the registry, `sim.observe.kpis`); `-` for a missing value."""
    return format_value(BY_NAME[name].unit, value, digits)


def plural(count: float, noun: str, plural_noun: str | None = None) -> str:
    """`1 re-baseline`, `3 re-baselines`, `1,204 failed writes`."""
    word = noun if count == 1 else (plural_noun or f"{noun}s")
    return f"{format_count(count)} {word}"


def outcome(kpis: dict[str, float]) -> str:
    """A run's outcome in one sentence: what broke, what locks cost, what space pressure did.

    `0 premature deletions, 0 re-baselines; locks pinned 1.29 TiB·h, peak 430 GiB; 0 failed
    writes, 0 autodeletes`. The bytes re-sent and the bytes of failed writes are said when there
    were re-baselines and failed writes.
    """
    broke = f"{plural(kpis['premature_deletions'], 'premature deletion')}, {plural(kpis['rebaselines'], 're-baseline')}"
    if kpis["rebaselines"]:
        broke += f" ({format_bytes(kpis['rebaseline_bytes'])} re-sent)"
    locks = (f"locks pinned {format_byte_hours(kpis['lock_space_byte_hours'])}, "
             f"peak {format_bytes(kpis['lock_space_peak_bytes'])}")
    space = plural(kpis["failed_writes"], "failed write")
    if kpis["failed_writes"]:
        space += f" ({format_bytes(kpis['failed_write_bytes'])})"
    return f"{broke}; {locks}; {space}, {plural(kpis['autodeletes'], 'autodelete')}"
