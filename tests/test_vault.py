"""Vault mirrors (`type: vault`) against closed forms: what crosses the network, what the
destination keeps under its own retention, what its filter sends, how its own retention can
lose its base (and is blamed for it), what a volume mirror below a vault sees, and how soft
locks keep a vault intermediate's retention from deleting what the hops below still need.

Every run pins its seed and has a constant change rate (no variability), so byte counts are
exact: a PCPI's cumulative changed bytes is change_rate x its creation time.
"""

from __future__ import annotations

import pandas as pd
import pytest

from sim.engine.model import simulate

GIB = 2.0**30
H = 3600.0
VAULT = "A:/vol/v->B:/vol/v"


def vault_doc(*, vault_schedule: str = "30 * * * *", vault_retention=None, duration: str = "12h1m",
              source_retention=None, protocol: str = "none") -> dict:
    """A -vault-> B: an hourly policy on A (last_n 3 unless told), the vault at :30 keeping 8."""
    return {"name": "vault", "seed": 11, "duration": duration, "protocol": protocol,
            "appliances": {"A": {"capacity": "10TiB"}, "B": {"capacity": "10TiB"}},
            "links": [{"between": ["A", "B"], "bandwidth": "10Gbit/s", "latency": "1ms"}],
            "volumes": {"A:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h"}},
            "snapshot_policies": {"hourly": {"schedule": "0 * * * *", "label": "hourly",
                                             "retention": source_retention or {"last_n": 3},
                                             "volumes": ["A:/vol/v"]}},
            "mirrors": [{"source": "A:/vol/v", "destination": "B:/vol/v", "type": "vault",
                         "schedule": vault_schedule, "retention": vault_retention or {"keep": 8}}]}


def alive(pcpis: pd.DataFrame, volume: str, at: float | None = None) -> set[int]:
    """PCPI ids on `volume` at the end of the run, or just after the events at time `at`."""
    rows = pcpis[pcpis.volume == volume]
    if at is None:
        return set(rows[rows.deleted_s.isna()].pcpi_id)
    arrived = rows.arrived_s.fillna(rows.created_s)
    return set(rows[(arrived <= at) & (rows.deleted_s.isna() | (rows.deleted_s > at))].pcpi_id)


@pytest.mark.parametrize(("schedule", "hours"), [("30 * * * *", 1), ("30 */2 * * *", 2), ("30 */3 * * *", 3)])
def test_transfer_bytes_are_the_volume_then_the_change_since_the_base(make_scenario, schedule, hours):
    """Baseline: the volume's size (100 GiB). Each later update sends the newest hourly PCPI
    with the previous one sent as base: change_rate x the vault's interval (1 GiB/h x h)."""
    transfers = simulate(make_scenario(vault_doc(vault_schedule=schedule))).transfers
    assert transfers.kind.tolist() == ["baseline"] + ["incremental"] * (len(transfers) - 1)
    assert len(transfers) == 12 // hours
    assert transfers.bytes.iloc[0] == pytest.approx(100 * GIB)
    assert transfers.bytes.iloc[1:].tolist() == pytest.approx([hours * GIB] * (len(transfers) - 1))
    assert (transfers.base_pcpi_id.iloc[1:].to_numpy() == transfers.pcpi_id.iloc[:-1].to_numpy()).all()


def test_the_destination_keeps_its_own_count_and_never_replays_the_source_deletions(make_scenario):
    """Source: last_n 3 (hourly). Vault: keep 8. After the k-th update (k = 1, 2, ...) B holds
    min(k, 8) PCPIs, the newest received, whatever A deleted; A holds 3 after each firing from
    2 h on. B's deletions are all its own retention's, by the vault relationship."""
    result = simulate(make_scenario(vault_doc()))
    pcpis, transfers = result.pcpis, result.transfers
    for k, end in enumerate(transfers.end_s, start=1):
        held = alive(pcpis, "B:/vol/v", end)
        assert len(held) == min(k, 8), (k, sorted(held))
        assert max(held) == transfers.pcpi_id.iloc[k - 1]
    for t in range(2, 13):
        assert len(alive(pcpis, "A:/vol/v", t * H)) == 3
    on_b, on_a = alive(pcpis, "B:/vol/v"), alive(pcpis, "A:/vol/v")
    assert len(on_b) == 8 and len(on_a) == 3
    assert len(on_b - on_a) == 6  # PCPIs A deleted long ago, still in the vault
    b_deleted = pcpis[(pcpis.volume == "B:/vol/v") & pcpis.deleted_s.notna()]
    assert set(b_deleted.reason) == {"retention"} and set(b_deleted.deleted_by) == {VAULT}


def test_a_grammar_on_the_vault_decides_what_it_keeps(make_scenario):
    """`last_n: 4` on the vault, `last_n: 2` on the source: B ends with the 4 newest hourly PCPIs."""
    pcpis = simulate(make_scenario(vault_doc(vault_retention={"last_n": 4},
                                             source_retention={"last_n": 2}))).pcpis
    on_b = pcpis[(pcpis.volume == "B:/vol/v") & pcpis.deleted_s.isna()]
    assert sorted(on_b.created_s / H) == [8.0, 9.0, 10.0, 11.0]
    assert len(alive(pcpis, "A:/vol/v")) == 2


def test_the_filter_sends_only_matching_pcpis_and_every_one_since_the_base(make_scenario):
    """A second policy takes `quarter` PCPIs every 15 minutes; the vault (every 2 h at :50)
    with `filter: ^hourly[.]` receives only hourly PCPIs, both taken since the last update
    (zfs send -I), and sends the bytes changed since its base: 2 GiB, quarters included."""
    doc = vault_doc(vault_schedule="50 */2 * * *", vault_retention={"keep": 50})
    doc["snapshot_policies"]["quarter"] = {"schedule": "*/15 * * * *", "label": "quarter", "keep": 2,
                                           "volumes": ["A:/vol/v"]}
    doc["mirrors"][0]["filter"] = r"^hourly[.]"
    result = simulate(make_scenario(doc))
    pcpis, transfers = result.pcpis, result.transfers
    on_b = pcpis[pcpis.volume == "B:/vol/v"]
    assert set(on_b.label) == {"hourly"} and on_b.name.str.startswith("hourly.").all()
    hourly_a = pcpis[(pcpis.volume == "A:/vol/v") & (pcpis.label == "hourly")].drop_duplicates("pcpi_id")
    first_sent, last_sent = transfers.pcpi_id.min(), transfers.pcpi_id.max()
    assert set(on_b.pcpi_id) == set(hourly_a[hourly_a.pcpi_id.between(first_sent, last_sent)].pcpi_id)
    per_update = on_b.groupby("arrived_s").size().tolist()
    assert per_update == [1] + [2] * (len(transfers) - 1)
    assert transfers.bytes.iloc[1:].tolist() == pytest.approx([2 * GIB] * (len(transfers) - 1))


def test_a_vault_whose_retention_drops_its_base_rebaselines_and_is_blamed(make_scenario):
    """A grid whose regex matches nothing received keeps nothing: after each update B deletes
    everything it received, the last PCPI it shared with A among them. So each of the n
    updates is followed by one premature deletion on B:/vol/v (the vault's own volume),
    blamed on the vault relationship, every update after the first is a full re-baseline
    (100 GiB), and the last deletion is still pending at the end."""
    doc = vault_doc(vault_retention={"grid": "1x1d(keep=all)", "regex": "^nomatch"})
    result = simulate(make_scenario(doc))
    transfers, events, pcpis, kpis = result.transfers, result.events, result.pcpis, result.kpis
    n = len(transfers)
    assert n == 12
    assert transfers.kind.tolist() == ["baseline"] + ["rebaseline"] * (n - 1)
    assert transfers.bytes.tolist() == pytest.approx([100 * GIB] * n)
    premature = events[events.event == "premature_deletion"]
    assert len(premature) == n
    assert set(premature.component) == {"B:/vol/v"} and set(premature.detail) == {VAULT}
    assert premature.time_s.tolist() == pytest.approx(transfers.end_s.tolist())
    blamed = pcpis[pcpis.premature]
    assert set(blamed.volume) == {"B:/vol/v"} and set(blamed.reason) == {"retention"}
    assert set(blamed.deleted_by) == {VAULT}
    assert (kpis["premature_deletions"], kpis["rebaselines"], kpis["bases_lost_pending"]) == (n, n - 1, 1)
    assert alive(pcpis, "B:/vol/v") == set()


def chain_doc(protocol: str, *, depth: int = 3, vault_keep: int = 2, outage: bool = True) -> dict:
    """A -vault-> B -volume-> C (-volume-> D when depth is 4): hourly PCPIs on A (keep 3), the
    vault at :10 keeping `vault_keep`, C at :20, D at :40; the last link is cut from 2 h to 8 h."""
    doc = vault_doc(vault_schedule="10 * * * *", vault_retention={"keep": vault_keep}, duration="1d",
                    source_retention={"keep": 3}, protocol=protocol)
    doc["appliances"]["C"] = {"capacity": "10TiB"}
    doc["links"].append({"between": ["B", "C"], "bandwidth": "10Gbit/s", "latency": "1ms"})
    doc["mirrors"].append({"source": "B:/vol/v", "destination": "C:/vol/v", "schedule": "20 * * * *"})
    if depth == 4:
        doc["appliances"]["D"] = {"capacity": "10TiB"}
        doc["links"].append({"between": ["C", "D"], "bandwidth": "10Gbit/s", "latency": "1ms"})
        doc["mirrors"].append({"source": "C:/vol/v", "destination": "D:/vol/v", "schedule": "40 * * * *"})
    if outage:
        doc["links"][-1]["outages"] = [{"at": "2h", "for": "6h"}]
    return doc


def test_a_volume_mirror_below_a_vault_replicates_the_vault_set(make_scenario):
    """C, a volume mirror of the vault destination B, holds exactly B's set after each of its
    updates (B changes only at :10, C updates at :20 and the run ends at 12:25): the vault's
    PCPIs, with ids and names, including ones A deleted long ago."""
    doc = chain_doc("none", depth=3, vault_keep=5, outage=False)
    doc["duration"] = "12h25m"
    result = simulate(make_scenario(doc))
    pcpis, transfers = result.pcpis, result.transfers
    for end in transfers[transfers.relationship == "B:/vol/v->C:/vol/v"].end_s:
        assert alive(pcpis, "C:/vol/v", end) == alive(pcpis, "B:/vol/v", end)
    on_b, on_c = alive(pcpis, "B:/vol/v"), alive(pcpis, "C:/vol/v")
    assert on_c == on_b and len(on_b) == 6  # keep 5 unlocked + B->C's hard-locked base
    assert on_c - alive(pcpis, "A:/vol/v")
    names = pcpis[pcpis.volume.isin(["B:/vol/v", "C:/vol/v"]) & pcpis.deleted_s.isna()]
    assert names.groupby("pcpi_id").name.nunique().eq(1).all() and set(names.label) == {"hourly"}
    assert result.kpis["rebaselines"] == 0


def test_the_next_hop_below_a_vault_is_protected_by_its_hard_lock_under_none(make_scenario):
    """A -vault-> B -volume-> C, B keeping 2, B->C cut for 6 h: even under `none` nothing is
    lost. B is a source as well as a vault destination: it hard-locks B->C's base, and B's
    retention honours hard locks, so the PCPI C needs stays however long C is away."""
    result = simulate(make_scenario(chain_doc("none", depth=3)))
    assert result.kpis["premature_deletions"] == 0 and result.kpis["rebaselines"] == 0


@pytest.mark.parametrize("protocol", ["softlock", "hard", "lease"])
def test_soft_locks_keep_a_vault_intermediate_from_deleting_what_the_tail_needs(make_scenario, protocol):
    """A -vault-> B -volume-> C -volume-> D, B keeping 2, C->D cut from 2 h to 8 h.

    `none`: B's retention deletes the PCPI D holds as its base (locks on the image C keep
    nothing, and C replays B's deletion at its next update): premature deletions > 0, the
    root deletion on B by the vault's own retention, blamed on C->D.
    A forwarding protocol: D's lock set reaches B through C (a vault destination forwards as a
    volume destination does), B's retention honours it: no premature deletion, no
    re-baseline, and B holds more than its 2 (+1 locked base) during the outage."""
    none = simulate(make_scenario(chain_doc("none", depth=4)))
    assert none.kpis["premature_deletions"] > 0 and none.kpis["rebaselines"] > 0
    premature = none.events[none.events.event == "premature_deletion"]
    assert set(premature.detail) == {"C:/vol/v->D:/vol/v"}
    lost = set(premature.pcpi_id)
    at_b = none.pcpis[(none.pcpis.volume == "B:/vol/v") & none.pcpis.pcpi_id.isin(lost)]
    assert set(at_b.reason) == {"retention"} and set(at_b.deleted_by) == {VAULT}

    locked = simulate(make_scenario(chain_doc(protocol, depth=4)))
    assert locked.kpis["premature_deletions"] == 0 and locked.kpis["rebaselines"] == 0
    most_on_b = max(len(alive(locked.pcpis, "B:/vol/v", t * H + 15 * 60)) for t in range(2, 9))
    assert most_on_b > 3
    assert max(len(alive(none.pcpis, "B:/vol/v", t * H + 15 * 60)) for t in range(2, 9)) == 3
