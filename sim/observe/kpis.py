"""The one registry of KPIs: what each scalar outcome of a run is called, its unit, what it
counts, and which way is worse.

`summary.json` writes them in this order; the terminal, report.html, the compare figure, the
library catalog and `expect:` validation all read this registry, so a new KPI is one entry
here plus the observer that measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["count", "bytes", "byte_hours", "seconds", "fraction"]


@dataclass(frozen=True, slots=True)
class Kpi:
    """One scalar outcome of a run.

    `unit`: how its number reads (a count, bytes, byte-hours, seconds). `meaning`: what it
    counts, in the README's words. `higher_is_worse`: the direction a reader compares in.
    `alarm`: any value but zero says something went wrong (highlighted wherever shown).
    `label`: a short title for a chart, or None to leave it out of the compare figure.
    """

    name: str
    unit: Unit
    meaning: str
    higher_is_worse: bool = True
    alarm: bool = False
    label: str | None = None


KPIS: tuple[Kpi, ...] = (
    Kpi("premature_deletions", "count",
        "deletions that left some relationship without a usable base (its next transfer re-baselines)",
        alarm=True, label="premature deletions"),
    Kpi("bases_lost_pending", "count",
        "relationships whose base was lost and that had not re-baselined by the end", alarm=True),
    Kpi("rebaselines", "count", "full re-sends of a volume after its initial baseline", alarm=True,
        label="re-baselines"),
    Kpi("rebaseline_bytes", "bytes", "bytes re-sent by those re-baselines"),
    Kpi("bytes_transferred", "bytes", "bytes sent by every mirror update", label="bytes sent"),
    Kpi("updates_completed", "count", "mirror updates that finished", higher_is_worse=False),
    Kpi("updates_skipped", "count", "updates due while the previous one still ran, or with nothing to send"),
    Kpi("max_lag_s", "seconds", "worst lag (RPO) of any destination", label="max lag"),
    Kpi("lock_messages", "count", "soft-lock messages sent"),
    Kpi("failed_writes", "count", "write intervals whose changes did not fit because an appliance was full",
        alarm=True, label="failed writes (appliance full)"),
    Kpi("failed_write_bytes", "bytes", "bytes of changes refused because an appliance was full", alarm=True,
        label="bytes of failed writes"),
    Kpi("lock_space_byte_hours", "byte_hours",
        "snapshot space held only because protocol locks override retention, over time", label="lock space overhead"),
    Kpi("lock_space_peak_bytes", "bytes",
        "the most snapshot space protocol locks held at once, all appliances together"),
    Kpi("hold_space_byte_hours", "byte_hours",
        "snapshot space held only because application holds override retention, over time"),
    Kpi("lock_message_bytes", "bytes", "bytes of those soft-lock messages on the wire"),
    Kpi("autodeletes", "count", "PCPIs deleted by space-pressure autodelete", alarm=True, label="autodeletes"),
    Kpi("gap_pcpis", "count", "PCPIs pruned upstream before they reached a destination meant to keep them",
        label="gap PCPIs (history lost)"),
    Kpi("peak_pcpis", "count", "the most PCPIs any one volume held at once (a pile-up when cleanup stops)",
        label="peak PCPIs on a volume"),
    Kpi("transfer_breaks", "count",
        "transfer attempts broken: a link down (under abort or resume), a crashed end, or no room at the destination",
        label="transfer breaks"),
    Kpi("aborted_bytes", "bytes",
        "bytes sent and thrown away: attempts that restart from zero, transfers that did not fit or were never applied",
        label="bytes thrown away"),
    Kpi("failed_transfers", "count", "transfers whose break policy gave up (attempts used up, or no room under stall)",
        alarm=True, label="failed transfers"),
    Kpi("no_space_breaks", "count", "transfers that arrived at a destination appliance without room for them",
        alarm=True),
    Kpi("missed_firings", "count", "snapshot and update firings missed because their appliance was down"),
    Kpi("link_availability", "fraction", "the fraction of the run the links were up, averaged over the links",
        higher_is_worse=False),
)
"""Every KPI, in the order summary.json and the tables list them."""

BY_NAME: dict[str, Kpi] = {kpi.name: kpi for kpi in KPIS}
NAMES: tuple[str, ...] = tuple(kpi.name for kpi in KPIS)
ALARMS: tuple[str, ...] = tuple(kpi.name for kpi in KPIS if kpi.alarm)
COMPARE_ORDER: tuple[str, ...] = (
    "rebaselines", "premature_deletions", "bytes_transferred", "lock_space_byte_hours", "max_lag_s",
    "autodeletes", "failed_writes", "failed_write_bytes", "gap_pcpis",
)
"""The KPIs of the protocol-comparison figure, in its reading order (each has a `label`)."""
