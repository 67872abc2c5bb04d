"""The trade-off picture: what safety buys (re-baselines, gaps) against what it costs (space
held past retention), one point per protocol, every protocol named."""

from pathlib import Path

from sim.engine.model import simulate
from sim.present.compare import TRADEOFF_PANELS, plot_compare, plot_tradeoff
from sim.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "offline_target_pileup.yaml"


def test_each_protocol_is_one_labelled_point_at_its_measured_outcome():
    protocols = ("none", "softlock", "znapzend")
    summaries = {p: simulate(load_scenario(SCENARIO, {"protocol": p}), tables=False).summary for p in protocols}
    fig = plot_tradeoff(summaries, "pile-up")
    axes = fig.axes
    assert len(axes) == len(TRADEOFF_PANELS)
    for ax, kpi in zip(axes, TRADEOFF_PANELS):
        points = [tuple(c.get_offsets()[0]) for c in ax.collections]
        assert sorted(y for _x, y in points) == sorted(float(s["kpis"][kpi]) for s in summaries.values())
        named = " ".join(text.get_text() for text in ax.texts)
        assert all(p in named for p in protocols)
    # The pile-up strategy holds the most space and loses no history; none holds none and loses most.
    gaps = axes[1]
    by_y = {round(y): x for x, y in (tuple(c.get_offsets()[0]) for c in gaps.collections)}
    assert by_y[0] > by_y[summaries["none"]["kpis"]["gap_pcpis"]]
    assert len(plot_compare(summaries, "pile-up").axes) >= 2 + len(TRADEOFF_PANELS)
