"""Plots and terminal tables of a run's results."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from sim.model import RunResult  # noqa: E402
from sim.scenario import KPIS  # noqa: E402

HOURS = 3600.0


def plot_pcpi_timeline(result: RunResult, path: Path) -> None:
    """Per volume, each PCPI a line from arrival to deletion; locked spans drawn over it.

    Soft-locked spans are orange, hard-locked spans grey; a red cross marks a premature
    deletion; a PCPI lost by a mirror image update ends in a small dot.
    """
    pcpis = result.tables["pcpis"]
    locks = result.tables["locks"]
    end_h = result.scenario.duration / HOURS
    volumes = list(dict.fromkeys(pcpis["volume"])) if len(pcpis) else []
    volumes.sort()
    fig, axes = plt.subplots(max(len(volumes), 1), 1, sharex=True, squeeze=False,
                             figsize=(11, 1.0 + 2.2 * max(len(volumes), 1)))
    for ax, volume in zip(axes[:, 0], volumes):
        rows = pcpis[pcpis["volume"] == volume].sort_values(["arrived_s", "pcpi_id"])
        order = {pid: i for i, pid in enumerate(rows["pcpi_id"])}
        start = rows["arrived_s"] / HOURS
        stop = rows["deleted_s"].fillna(result.scenario.duration) / HOURS
        y = rows["pcpi_id"].map(order)
        ax.hlines(y, start, stop, color="tab:blue", linewidth=0.6, label="PCPI retained")
        for kind, colour, label in (("hard", "0.45", "hard-locked"), ("soft", "tab:orange", "soft-locked")):
            held = locks[(locks["volume"] == volume) & ((locks["type"] == "hard") == (kind == "hard"))]
            if len(held):
                ax.hlines(held["pcpi_id"].map(order), held["set_s"] / HOURS,
                          held["released_s"].fillna(result.scenario.duration) / HOURS,
                          color=colour, linewidth=2.2, label=label)
        image = rows[rows["reason"] == "mirror_image"]
        ax.plot(image["deleted_s"] / HOURS, image["pcpi_id"].map(order), ".", color="0.3",
                markersize=2, label="removed by mirror update")
        bad = rows[rows["premature"]]
        if len(bad):
            ax.plot(bad["deleted_s"] / HOURS, bad["pcpi_id"].map(order), "x", color="red",
                    markersize=9, mew=2, label="premature deletion")
        ax.set_ylabel("PCPI #")
        ax.set_title(f"{volume}: {len(rows)} PCPIs", fontsize=10, loc="left")
        ax.set_xlim(0, end_h)
        ax.legend(loc="upper left", fontsize=7, ncol=5)
    axes[-1, 0].set_xlabel("simulated time (hours)")
    fig.suptitle(f"PCPI lifetimes - {result.scenario.name}, protocol {result.scenario.protocol}, "
                 f"seed {result.scenario.seed}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def kpi_table(summaries: dict[str, dict]) -> pd.DataFrame:
    """KPIs as rows, one column per run label (e.g. protocol)."""
    return pd.DataFrame({label: {k: s["kpis"][k] for k in KPIS} for label, s in summaries.items()})


def format_kpi_table(table: pd.DataFrame) -> str:
    """Readable text of a KPI table: integers without decimals, bytes and lags rounded."""
    def cell(value: float) -> str:
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.1f}"
    return table.map(cell).to_string()
