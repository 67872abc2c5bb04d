"""Collectors: fixed columns, one plain tuple appended per row, one DataFrame at the end."""

from __future__ import annotations

import pandas as pd

EVENT_COLUMNS = ("time_s", "event", "component", "pcpi_id", "value", "detail")
TRANSFER_COLUMNS = ("relationship", "start_s", "end_s", "bytes", "sent_bytes", "kind", "base_pcpi_id", "pcpi_id",
                    "completed", "aborted")
PCPI_COLUMNS = ("volume", "pcpi_id", "name", "label", "origin", "created_s", "arrived_s",
                "deleted_s", "reason", "deleted_by", "premature", "changed_bytes")
LOCK_COLUMNS = ("volume", "pcpi_id", "type", "string", "locking_dataset", "via", "hops",
                "created_s", "set_s", "propagation_s", "released_s", "release_reason")
TIMESERIES_COLUMNS = ("time_s", "metric", "component", "value")


class Collector:
    """Rows of one table; `to_frame` builds the DataFrame once."""

    __slots__ = ("columns", "rows")

    def __init__(self, columns: tuple[str, ...]):
        self.columns = columns
        self.rows: list[tuple] = []

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_records(self.rows, columns=list(self.columns))


def new_collectors() -> dict[str, Collector]:
    """The tables every run produces, by name."""
    return {
        "events": Collector(EVENT_COLUMNS),
        "transfers": Collector(TRANSFER_COLUMNS),
        "pcpis": Collector(PCPI_COLUMNS),
        "locks": Collector(LOCK_COLUMNS),
        "timeseries": Collector(TIMESERIES_COLUMNS),
    }
