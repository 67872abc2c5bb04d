"""Human units: durations, sizes and rates parse to seconds, bytes and bytes per second."""

import pint
import pytest

from sim.scenario.units import COMMON_UNITS, parse_duration, parse_rate, parse_size


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("4h", 14400), ("7d", 604800), ("3d12h", 302400), ("2ms", 0.002), ("1w", 604800),
])
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(("text", "size"), [
    ("2TiB", 2 * 2**40), ("500GB", 500e9), ("512MiB", 512 * 2**20), ("1Gbit", 1e9 / 8), ("1.5 TiB", 1.5 * 2**40),
])
def test_sizes(text, size):
    assert parse_size(text) == pytest.approx(size)


@pytest.mark.parametrize(("text", "rate"), [
    ("1Gbit/s", 1e9 / 8), ("100MB/s", 100e6), ("20GiB/h", 20 * 2**30 / 3600), ("1TiB/7d", 2**40 / 604800),
])
def test_rates(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize(("parser", "value", "fragment"), [
    (parse_duration, "soon", "not a duration"),
    (parse_duration, 15, "has no unit"),
    (parse_duration, "-1h", "positive"),
    (parse_size, "2 meters", "not a size"),
    (parse_size, "5", "not a size"),
    (parse_size, "lots", "not a size"),
    (parse_rate, "1Gbit", "not a rate"),
    (parse_rate, "1Gbit/fortnightish", "not a rate"),
])
def test_bad_units_say_what_is_wrong(parser, value, fragment):
    with pytest.raises(ValueError, match=fragment):
        parser(value)


def test_the_common_units_are_pints_answers_to_the_last_bit():
    ureg = pint.UnitRegistry()
    for unit, per_unit in COMMON_UNITS.items():
        assert per_unit == ureg.Quantity(1, ureg.parse_units(unit)).to(ureg.byte).magnitude, unit


@pytest.mark.parametrize(("text", "size"), [("3 kilobytes", 3000.0), ("2 gibibyte", 2.0 * 2**30), ("8 octets", 8.0),
                                            ("4 hB", 400.0)])
def test_other_units_are_read_by_pint(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1KB", "1Kbit", "1b", "1 nibble", "1 m", "1 Bd"])
def test_units_pint_does_not_read_as_information_are_refused(text):
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)

