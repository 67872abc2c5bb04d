"""The wall clock of a run: simulated seconds as the UTC stamps storage systems name snapshots with."""

from __future__ import annotations

import datetime as dt


class WallClock:
    """Maps simulated seconds to wall-clock time from the scenario's `start`."""

    __slots__ = ("start_ts",)

    def __init__(self, start_ts: float):
        self.start_ts = start_ts

    def stamp(self, at_s: float) -> str:
        """`2026-01-01_0400`: the wall-clock minute of a simulated time, as snapshot names carry it."""
        moment = dt.datetime.fromtimestamp(self.start_ts + at_s, tz=dt.UTC)
        return moment.strftime("%Y-%m-%d_%H%M")
