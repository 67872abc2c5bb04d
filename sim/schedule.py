"""Cron schedules as firing times in simulated seconds.

croniter computes each firing; a run asks once per distinct expression for every firing
in the run window, and every component with that expression shares the resulting tuple.
"""

from __future__ import annotations

from croniter import croniter


class ScheduleBook:
    """Firing times (seconds after the run start) of each cron expression, computed once."""

    def __init__(self, start_ts: float, duration_s: float):
        self.start_ts = start_ts
        self.duration_s = duration_s
        self._times: dict[str, tuple[float, ...]] = {}

    def firings(self, expr: str) -> tuple[float, ...]:
        """All firings of `expr` in [0, duration) seconds after the start, in order."""
        times = self._times.get(expr)
        if times is None:
            # A firing exactly at the start counts: croniter's get_next is strictly after.
            it = croniter(expr, self.start_ts - 1e-3)
            found = []
            end = self.start_ts + self.duration_s
            while True:
                ts = it.get_next(float)
                if ts >= end:
                    break
                found.append(round(ts - self.start_ts, 6))
            times = self._times[expr] = tuple(found)
        return times
