"""Retention grammars in scenario files: every malformed `retention:` (and vault setting) is
refused with file, line, field and a clear message (exit 2); a valid rule of each grammar
runs; and a run's PCPI counts under each grammar follow a closed form derived from the
grammar's docstring (counted from the `pcpis` table of `simulate`).

How the counts are read: a policy takes its PCPI and applies its retention at the same
instant, so "alive just after the firing at t" is `created_s <= t` and not deleted by t.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import dump_yaml

from sim.cli import main
from sim.engine.model import simulate
from sim.scenario import ScenarioError, load_scenario

PROBLEM = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>\S+): (?P<message>\S.*)$")

BASE = """\
name: retention_base
seed: 1
duration: 6h

appliances:
  A: {capacity: 4TiB}
  B: {capacity: 4TiB}
  C: {capacity: 4TiB}

links:
  - {between: [A, B], bandwidth: 10Gbit/s, latency: 1ms}
  - {between: [A, C], bandwidth: 10Gbit/s, latency: 1ms}

volumes:
  A:/vol/v: {size: 100GiB, change_rate: 1GiB/h}

snapshot_policies:
  hourly:
    schedule: "0 * * * *"
    label: hourly
    retention: {last_n: 3}
    volumes: [A:/vol/v]

mirrors:
  - destination: B:/vol/v
    source: A:/vol/v
    type: vault
    schedule: "30 * * * *"
    retention: [{grid: "1x1h(keep=all) | 24x1h", regex: "^hourly"}, {last_n: 2}]
    filter: "^hourly[.]"
  - destination: C:/vol/v
    source: A:/vol/v
    schedule: "*/15 * * * *"
"""
"""A valid scenario with a grammar on a policy and a vault with a list of rules and a filter."""

POLICY_RETENTION = "    retention: {last_n: 3}\n"
VAULT_RETENTION = '    retention: [{grid: "1x1h(keep=all) | 24x1h", regex: "^hourly"}, {last_n: 2}]\n'
VAULT_FILTER = '    filter: "^hourly[.]"\n'
VOLUME_MIRROR = '    schedule: "*/15 * * * *"\n'


def run_cli(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, Path, str, str]:
    """`cascadesim run` on `text` written to a file: exit code, file, stdout, stderr."""
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    code = main(["run", str(path), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    return code, path, out, err


def refusal(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> list[re.Match[str]]:
    """The problem lines of a refused run: exit 2, nothing on stdout, no results folder."""
    code, path, out, err = run_cli(tmp_path, text, capsys)
    assert code == 2, (out, err)
    assert out == "" and "Traceback" not in err
    matches = [PROBLEM.match(line) for line in err.splitlines()]
    assert matches and all(matches), err
    assert all(m.group("file") == str(path) for m in matches)  # type: ignore[union-attr]
    assert not (tmp_path / "out").exists()
    return matches  # type: ignore[return-value]


def test_the_base_scenario_runs(tmp_path, capsys):
    code, _path, _out, err = run_cli(tmp_path, BASE, capsys)
    assert code == 0, err


# (mistake, replaced text, replacement, field reported, words of the message, text on the
# reported line). Each replaced text occurs once in BASE.
CASES = [
    ("unknown grammar key", POLICY_RETENTION, "    retention: {lastn: 3}\n", "snapshot_policies.hourly.retention",
     "unknown retention grammar lastn; choose from keep, grid, last_n, not_replicated, sanoid, znapzend, btrbk, "
     "thinner", "retention: {lastn: 3}"),
    ("only a regex, no grammar", POLICY_RETENTION, '    retention: {regex: "^hourly"}\n',
     "snapshot_policies.hourly.retention", "unknown retention grammar (none)", "retention: {regex"),
    ("two grammars in one rule", POLICY_RETENTION, '    retention: {grid: "24x1h", last_n: 3}\n',
     "snapshot_policies.hourly.retention", "one grammar per rule, not grid, last_n: write a list of rules",
     "retention: {grid"),
    ("keep inside a list", POLICY_RETENTION, "    retention: [{last_n: 3}, {keep: 3}]\n",
     "snapshot_policies.hourly.retention", "rule 2: keep stands alone (retention: {keep: N}); in a list of rules "
     "use last_n", "retention: [{last_n: 3}, {keep: 3}]"),
    ("keep with a regex", POLICY_RETENTION, '    retention: {keep: 3, regex: "^h"}\n',
     "snapshot_policies.hourly.retention", "keep stands alone", "retention: {keep: 3"),
    ("keep of zero", POLICY_RETENTION, "    retention: {keep: 0}\n", "snapshot_policies.hourly.retention",
     "keep 0: a whole number from 1 to 100000", "retention: {keep: 0}"),
    ("empty list", POLICY_RETENTION, "    retention: []\n", "snapshot_policies.hourly.retention",
     "an empty list of retention rules would keep nothing; give at least one rule", "retention: []"),
    ("empty rule", POLICY_RETENTION, "    retention: {}\n", "snapshot_policies.hourly.retention",
     "a retention rule is a mapping such as {keep: 6} or {grid: ...}", "retention: {}"),
    ("regex on sanoid", POLICY_RETENTION, '    retention: {sanoid: {count: 4, period: 1h}, regex: "^hourly"}\n',
     "snapshot_policies.hourly.retention", "sanoid takes no regex (grid and last_n do)", "retention: {sanoid"),
    ("regex on znapzend", POLICY_RETENTION, '    retention: {znapzend: "6h=>1h", regex: "^hourly"}\n',
     "snapshot_policies.hourly.retention", "znapzend takes no regex (grid and last_n do)", "retention: {znapzend"),
    ("bad grid interval", POLICY_RETENTION, '    retention: {grid: "24 hours"}\n', "snapshot_policies.hourly.retention",
     'grid interval "24 hours": expected <count>x<duration>[(keep=<n>|all)]', "retention: {grid"),
    ("grid intervals shrinking", POLICY_RETENTION, '    retention: {grid: "1x1h | 2x30m"}\n',
     "snapshot_policies.hourly.retention", "interval lengths must not decrease (except after keep=all intervals)",
     "retention: {grid"),
    ("grid month unit", POLICY_RETENTION, '    retention: {grid: "6x1mo"}\n', "snapshot_policies.hourly.retention",
     "expected <integer><unit>, unit one of s, m, h, d, w", "retention: {grid"),
    ("grid bad regex", POLICY_RETENTION, '    retention: {grid: "24x1h", regex: "("}\n',
     "snapshot_policies.hourly.retention", 'regex "(": invalid', "retention: {grid"),
    ("znapzend unknown unit", POLICY_RETENTION, '    retention: {znapzend: "33asdf=>10min"}\n',
     "snapshot_policies.hourly.retention", 'znapzend plan "33asdf=>10min": unknown unit "asdf"', "retention: {znap"),
    ("znapzend retention shorter than interval", POLICY_RETENTION, '    retention: {znapzend: "1h=>2h"}\n',
     "snapshot_policies.hourly.retention", 'znapzend plan "1h=>2h": retention 1h is shorter than interval 2h',
     "retention: {znap"),
    ("znapzend item without arrow", POLICY_RETENTION, '    retention: {znapzend: "1h"}\n',
     "snapshot_policies.hourly.retention", 'znapzend plan "1h": "1h": expected <retention>=><interval>',
     "retention: {znap"),
    ("sanoid missing period", POLICY_RETENTION, "    retention: {sanoid: {count: 4}}\n",
     "snapshot_policies.hourly.retention", "sanoid: missing period", "retention: {sanoid"),
    ("btrbk unknown setting", POLICY_RETENTION, '    retention: {btrbk: {preserve_min: 2d, preserve: "14d", x: 1}}\n',
     "snapshot_policies.hourly.retention", "btrbk: unknown setting x (allowed: preserve_min, preserve, "
     "preserve_day_of_week, preserve_hour_of_day)", "retention: {btrbk"),
    ("thinner bad rule", POLICY_RETENTION, '    retention: {thinner: "10,1d"}\n', "snapshot_policies.hourly.retention",
     '"1d" is not a count or <period><unit><ttl><unit>', "retention: {thinner"),
    ("second rule of a list is bad", VAULT_RETENTION, '    retention: [{last_n: 2}, {grid: "x"}]\n',
     "mirrors[0].retention", 'rule 2: grid interval "x"', "retention: [{last_n: 2}, {grid"),
    ("keep and retention both given", POLICY_RETENTION, "    keep: 3\n" + POLICY_RETENTION, "snapshot_policies.hourly",
     "give either keep (a count) or retention (a grammar), not both and not neither", "hourly:"),
    ("neither keep nor retention", POLICY_RETENTION, "", "snapshot_policies.hourly",
     "give either keep (a count) or retention (a grammar), not both and not neither", "hourly:"),
    ("retention on a volume mirror", VOLUME_MIRROR, VOLUME_MIRROR + "    retention: {keep: 3}\n", "mirrors[1]",
     "retention and filter are for vault mirrors; a volume mirror replays its source", "destination: C:/vol/v"),
    ("filter on a volume mirror", VOLUME_MIRROR, VOLUME_MIRROR + '    filter: "^hourly"\n', "mirrors[1]",
     "retention and filter are for vault mirrors", "destination: C:/vol/v"),
    ("vault without retention", VAULT_RETENTION, "", "mirrors[0]",
     "a vault mirror needs retention: what its destination keeps of what it receives", "destination: B:/vol/v"),
    ("bad filter regex", VAULT_FILTER, '    filter: "["\n', "mirrors[0].filter",
     "'[' is not a regular expression: unterminated character set", 'filter: "["'),
    ("empty filter", VAULT_FILTER, '    filter: ""\n', "mirrors[0].filter", "at least 1 character", 'filter: ""'),
    ("unknown mirror type", "    type: vault\n", "    type: archive\n", "mirrors[0].type", "'volume', 'qtree' or 'vault'",
     "type: archive"),
]


@pytest.mark.parametrize(("kind", "old", "new", "field", "words", "on_line"), CASES, ids=[c[0] for c in CASES])
def test_each_malformed_retention_is_refused_with_line_and_field(tmp_path, capsys, kind, old, new, field, words,
                                                                 on_line):
    assert BASE.count(old) == 1, kind
    text = BASE.replace(old, new)
    matches = refusal(tmp_path, text, capsys)
    named = [m for m in matches if m.group("field") == field and words in m.group("message")]
    assert named, [m.group(0) for m in matches]
    line = int(named[0].group("line"))
    assert on_line in text.splitlines()[line - 1], (line, text.splitlines()[line - 1])


def test_load_scenario_raises_the_same_problem(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace(POLICY_RETENTION, "    retention: [{last_n: 3}, {keep: 3}]\n"))
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    line = BASE.splitlines().index(POLICY_RETENTION.rstrip("\n")) + 1
    assert error.value.problems == [
        f"{path}:{line}: snapshot_policies.hourly.retention: rule 2: keep stands alone (retention: {{keep: N}}); "
        f"in a list of rules use last_n"]


def test_a_one_rule_list_of_keep_is_keep(make_scenario):
    """`[{keep: N}]` is `{keep: N}` (keep stands alone in it): accepted, and it runs as keep-N."""
    listed = simulate(make_scenario(policy_only({"keep": 4}, "0 * * * *", "10h")))
    alone = simulate(make_scenario(policy_only([{"keep": 4}], "0 * * * *", "10h")))
    pd.testing.assert_frame_equal(listed.pcpis, alone.pcpis)


@pytest.mark.parametrize("setting", ['{preserve_min: 2, preserve: "14d"}', '{preserve_min: 2d, preserve: 14}'])
def test_a_btrbk_setting_given_as_a_number_is_refused_cleanly(tmp_path, capsys, setting):
    text = BASE.replace(POLICY_RETENTION, f"    retention: {{btrbk: {setting}}}\n")
    matches = refusal(tmp_path, text, capsys)
    assert [m.group("field") for m in matches] == ["snapshot_policies.hourly.retention"]
    assert "btrbk" in matches[0].group("message")


def test_not_replicated_false_says_what_to_write(tmp_path, capsys):
    text = BASE.replace(POLICY_RETENTION, "    retention: [{last_n: 3}, {not_replicated: false}]\n")
    matches = refusal(tmp_path, text, capsys)
    message = matches[0].group("message")
    assert "true" in message or "keep_snapshot_at_cursor" in message, message


def test_a_bad_filter_regex_is_reported_at_the_filter(tmp_path, capsys):
    text = BASE.replace(VAULT_FILTER, '    filter: "["\n')
    matches = refusal(tmp_path, text, capsys)
    assert [m.group("field") for m in matches] == ["mirrors[0].filter"]
    assert 'filter: "["' in text.splitlines()[int(matches[0].group("line")) - 1]


# -- each grammar runs, on a policy and on a vault ------------------------------------------

GRAMMARS = {
    "keep": {"keep": 4},
    "grid": {"grid": "1x1h(keep=all) | 6x1h", "regex": "^snap"},
    "last_n": {"last_n": 5, "regex": "^snap"},
    "not_replicated": [{"last_n": 2}, {"not_replicated": {"keep_snapshot_at_cursor": False}}],
    "sanoid": {"sanoid": {"count": 4, "period": "hourly"}},
    "znapzend": {"znapzend": "6h=>1h"},
    "btrbk": {"btrbk": {"preserve_min": "no", "preserve": "6h 1d", "preserve_day_of_week": "monday",
                        "preserve_hour_of_day": 3}},
    "thinner": {"thinner": "3,1h6h"},
}


@pytest.mark.parametrize("grammar", GRAMMARS)
def test_each_grammar_runs_on_a_policy_and_on_a_vault(tmp_path, capsys, grammar):
    doc = policy_only(GRAMMARS[grammar], "*/15 * * * *", "12h")
    doc["appliances"]["B"] = {"capacity": "10TiB"}
    doc["links"] = [{"between": ["A", "B"], "bandwidth": "10Gbit/s", "latency": "1ms"}]
    doc["mirrors"] = [{"source": "A:/vol/v", "destination": "B:/vol/v", "type": "vault", "schedule": "5 * * * *",
                       "retention": GRAMMARS[grammar]}]
    code, _path, _out, err = run_cli(tmp_path, dump_yaml(doc), capsys)
    assert code == 0, err
    result = simulate(load_scenario(tmp_path / "scenario.yaml"))
    pcpis = result.pcpis
    assert (pcpis[pcpis.volume == "A:/vol/v"].reason.dropna() == "retention").any()
    assert len(pcpis[(pcpis.volume == "B:/vol/v") & pcpis.deleted_s.isna()]) >= 1


# -- counts under each grammar, against closed forms ----------------------------------------


def policy_only(retention, schedule: str, duration: str) -> dict:
    """One writable volume, one policy with `retention`, no mirrors (so nothing is locked or
    busy, and every PCPI counts as replicated)."""
    return {"name": "grammar", "seed": 7, "duration": duration, "protocol": "none",
            "appliances": {"A": {"capacity": "10TiB"}},
            "volumes": {"A:/vol/v": {"size": "100GiB", "change_rate": "1GiB/h"}},
            "snapshot_policies": {"snap": {"schedule": schedule, "label": "snap", "retention": retention,
                                           "volumes": ["A:/vol/v"]}}}


def alive_after_firings(pcpis: pd.DataFrame, volume: str = "A:/vol/v", label: str = "snap") -> pd.Series:
    """Per firing time t (seconds), how many PCPIs of `label` are on `volume` just after the
    policy took its PCPI and applied retention at t."""
    rows = pcpis[(pcpis.volume == volume) & (pcpis.label == label)]
    times = sorted(rows.created_s.unique())
    return pd.Series([int(((rows.created_s <= t) & (rows.deleted_s.isna() | (rows.deleted_s > t))).sum())
                      for t in times], index=times)


def survivors_at(pcpis: pd.DataFrame, t: float, volume: str = "A:/vol/v") -> list[float]:
    """Creation times (hours) of the PCPIs on `volume` just after the firing at `t`."""
    rows = pcpis[(pcpis.volume == volume) & (pcpis.created_s <= t) & (pcpis.deleted_s.isna() | (pcpis.deleted_s > t))]
    return sorted(rows.created_s / 3600)


H = 3600.0
QUARTER = "*/15 * * * *"


def counts(make_scenario, retention, schedule: str = QUARTER, duration: str = "1d1m") -> tuple[pd.Series, pd.DataFrame]:
    """Counts after each firing; 1d1m makes the last firing t = 24 h, on the hour (the
    policy fires at t = 0 too: the run starts at midnight)."""
    pcpis = simulate(make_scenario(policy_only(retention, schedule, duration))).pcpis
    return alive_after_firings(pcpis), pcpis


@pytest.mark.parametrize("n", [1, 5])
def test_last_n_keeps_exactly_n(make_scenario, n):
    """`last_n: N` on an hourly policy: after the k-th firing (k = 0, 1, ...) min(k + 1, N)
    remain; so from N - 1 hours on, exactly N, the newest."""
    alive, pcpis = counts(make_scenario, {"last_n": n}, "0 * * * *")
    assert len(alive) == 25
    assert alive.tolist() == [min(k + 1, n) for k in range(25)]
    assert survivors_at(pcpis, 24 * H) == [24.0 - i for i in range(n)][::-1]


def test_last_n_regex_keeps_nothing_it_does_not_match(make_scenario):
    """A rule keeps nothing its regex does not match, the newest included: each PCPI goes at
    the firing that took it."""
    alive, _ = counts(make_scenario, {"last_n": 5, "regex": "^nomatch"}, "0 * * * *")
    assert (alive == 0).all()


def test_keep_n_keeps_exactly_n(make_scenario):
    alive, _ = counts(make_scenario, {"keep": 4}, "0 * * * *")
    assert alive.tolist() == [min(k + 1, 4) for k in range(25)]


@pytest.mark.parametrize(("schedule", "period", "limit"), [
    ("0 * * * *", "1h", 5),      # count 4 hourly: the 4 newest and the one exactly 4 h old
    (QUARTER, "1h", 17),         # every 15 min: all created in [now - 4 h, now], 4 x 4 + 1
    (QUARTER, "hourly", 17),     # sanoid's period names are the same durations
])
def test_sanoid_keeps_what_is_younger_than_count_periods(make_scenario, schedule, period, limit):
    """sanoid `count: 4, period: P`: a PCPI goes when created before now - 4 P (strictly) and
    more than 4 remain; with n PCPIs every `i` apart that is min(n, 4 P / i + 1) (the one
    exactly 4 P old stays: the age limit is strict)."""
    alive, pcpis = counts(make_scenario, {"sanoid": {"count": 4, "period": period}}, schedule)
    assert alive.tolist() == [min(k + 1, limit) for k in range(len(alive))]
    assert survivors_at(pcpis, 24 * H)[0] == 20.0


def test_sanoid_count_zero_keeps_only_what_is_taken_now(make_scenario):
    alive, _ = counts(make_scenario, {"sanoid": {"count": 0, "period": "1h"}}, "0 * * * *")
    assert (alive == 1).all()


def test_znapzend_keeps_one_per_hour_for_six_hours(make_scenario):
    """`6h=>1h` on a 15-minute policy: one PCPI per epoch-aligned hour slot (the first, at
    :00) whose age is at most 6 h, plus the one taken now; the slot of now - 6 h is claimed
    only when now is on the hour. So from 6 h on: 7 at every firing, all at :00 but the
    newest, the oldest at most 6 h old."""
    alive, pcpis = counts(make_scenario, {"znapzend": "6h=>1h"})
    steady = alive[alive.index >= 6 * H]
    assert (steady == 7).all(), steady.value_counts()
    assert survivors_at(pcpis, 24 * H) == [18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 24.0]
    assert survivors_at(pcpis, 23.75 * H) == [18.0, 19.0, 20.0, 21.0, 22.0, 23.0, 23.75]


def test_grid_keeps_all_of_the_first_hour_and_one_per_older_hour(make_scenario):
    """`1x1h(keep=all) | 6x1h` on a 15-minute policy: bucket 0 (age < 1 h) keeps its 4 PCPIs,
    each of the 6 hour buckets after it its oldest one, nothing 7 h or older: 4 + 6 = 10 from
    7 h on. "Now" is the youngest PCPI."""
    alive, pcpis = counts(make_scenario, {"grid": "1x1h(keep=all) | 6x1h"})
    assert (alive[alive.index >= 7 * H] == 10).all()
    survivors = survivors_at(pcpis, 24 * H)
    assert survivors[-4:] == [23.25, 23.5, 23.75, 24.0]
    assert min(survivors) > 24 - 7


def test_btrbk_preserve_hours_keeps_the_first_of_each_hour(make_scenario):
    """`preserve_min: no`, `preserve: 6h`: the first PCPI of each clock hour, for the hour now
    and the 6 before it: 7 from 6 h on, whatever the minute (the newest goes unless first)."""
    alive, pcpis = counts(make_scenario, {"btrbk": {"preserve_min": "no", "preserve": "6h"}})
    assert (alive[alive.index >= 6 * H] == 7).all()
    assert survivors_at(pcpis, 23.75 * H) == [17.0, 18.0, 19.0, 20.0, 21.0, 22.0, 23.0]


def test_btrbk_preserve_min_keeps_everything_in_its_window(make_scenario):
    """`preserve_min: 2h`, `preserve: no`: every PCPI at most 2 clock hours back: at :00 that
    is 1 (this hour) + 4 + 4 = 9; at :45, 4 + 4 + 4 = 12."""
    alive, _ = counts(make_scenario, {"btrbk": {"preserve_min": "2h", "preserve": "no"}})
    assert alive[24 * H] == 9 and alive[23.75 * H] == 12


def test_thinner_keeps_the_newest_three_and_one_per_hour(make_scenario):
    """`3,1h6h` on a 15-minute policy: the 3 newest, plus the first PCPI of each epoch hour
    block whose age is at most 6 h. The block of now - 6 h has a survivor only when now is on
    the hour (its :00 is exactly 6 h old; the ones after it went at their next firings). So
    from 7 h on, by the minute of the firing: :00 7 blocks + 2 newest not at :00 = 9; :15
    6 + 2 = 8; :30 6 + 2 = 8; :45 6 + 3 = 9."""
    alive, _ = counts(make_scenario, {"thinner": "3,1h6h"})
    steady = alive[alive.index >= 7 * H]
    expected = {0: 9, 15: 8, 30: 8, 45: 9}
    assert all(count == expected[int(t % H) // 60] for t, count in steady.items()), steady


def test_not_replicated_alone_keeps_the_newest_of_a_volume_that_feeds_nobody(make_scenario):
    """A volume that feeds nobody has everything replicated: the cursor is the newest, which
    `not_replicated` keeps (keep_snapshot_at_cursor true)."""
    alive, _ = counts(make_scenario, {"not_replicated": True}, "0 * * * *")
    assert (alive == 1).all()


def test_not_replicated_keeps_everything_a_cut_off_vault_has_not_received(make_scenario):
    """`[{last_n: 2}, {not_replicated: true}]` on an hourly source whose vault (at :30) is cut
    off from 2:15 to 8:15: the cursor stays at the PCPI of 1:00 (sent at 1:30), so after the
    firing at t (2 h <= t <= 8 h) the source keeps 1:00 .. t, that is t / 1 h PCPIs; once the
    vault has caught up (its update at 8:15 sends the PCPI of 8:00), the last 2 again."""
    doc = policy_only([{"last_n": 2}, {"not_replicated": True}], "0 * * * *", "12h1m")
    doc["appliances"]["B"] = {"capacity": "10TiB"}
    doc["links"] = [{"between": ["A", "B"], "bandwidth": "10Gbit/s", "latency": "1ms",
                     "outages": [{"at": "2h15m", "for": "6h"}]}]
    doc["mirrors"] = [{"source": "A:/vol/v", "destination": "B:/vol/v", "type": "vault", "schedule": "30 * * * *",
                       "retention": {"keep": 50}}]
    alive = alive_after_firings(simulate(make_scenario(doc)).pcpis)
    for t, count in alive.items():
        hours = int(t // H)
        expected = min(hours + 1, 2) if hours < 2 else hours if hours <= 8 else 2
        assert count == expected, (hours, count)
