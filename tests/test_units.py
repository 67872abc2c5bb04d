"""Human units: durations, sizes and rates parse to seconds, bytes and bytes per second."""

import pytest

from sim.scenario.units import parse_duration, parse_rate, parse_size


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
