"""Every kind of mistake in a scenario: exit code 2, one `file:line: field: message` line per
problem, the right line and field, no traceback and no results folder.

One test per class of mistake (parametrized), then a hypothesis test that feeds random
mutations of library scenarios to `cascadesim run` and accepts only two endings: exit 0 with
a complete results folder, or exit 2 with nothing but `file:line: field: message` lines.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from conftest import SCENARIOS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from sim.cli import main
from sim.scenario.file import MAX_FILE_BYTES

PROBLEM = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<field>\S+): (?P<message>\S.*)$")
"""One problem line. The path holds no ':' in these tests; a field never holds a space."""
TABLES = ("events", "transfers", "pcpis", "locks", "timeseries")

BASE = """\
name: bad_input_base
seed: 1
duration: 2d
sample_interval: 1h

appliances:
  A: {capacity: 4TiB}
  B: {capacity: 4TiB}
  C: {capacity: 4TiB}
routers: [R1]

links:
  - {between: [A, B], bandwidth: 10Gbit/s, latency: 1ms}
  - {between: [B, R1], bandwidth: 1Gbit/s, latency: 10ms}
  - {between: [R1, C], bandwidth: 1Gbit/s, latency: 10ms, outages: [{at: 1d, for: 2h}]}

volumes:
  A:/vol/v:
    size: 100GiB
    change_rate: 1GiB/h
    qtrees: {q1: {share: 0.5}}

snapshot_policies:
  hourly: {schedule: "0 * * * *", label: hourly, keep: 3, volumes: [A:/vol/v]}

mirrors:
  - {source: A:/vol/v, destination: B:/vol/v, schedule: "*/15 * * * *"}
  - {source: B:/vol/v, destination: C:/vol/v, schedule: "0 */2 * * *"}
  - {source: A:/vol/v/q1, destination: C:/vol/q/q1, type: qtree, schedule: "0 */4 * * *"}

expect:
  none: {premature_deletions: {min: 0}}
"""
"""A valid scenario with every kind of section, written as a user would."""


def run_cli(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, Path, str, str]:
    """`cascadesim run` on `text` written to a file: exit code, file, stdout, stderr."""
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    code = main(["run", str(path), "--out", str(tmp_path / "out"), *extra])
    out, err = capsys.readouterr()
    return code, path, out, err


def assert_clean_refusal(code: int, path: Path, out: str, err: str) -> list[re.Match[str]]:
    """Exit 2, nothing on stdout, only problem lines naming the file, no results folder."""
    assert code == 2, (out, err)
    assert out == ""
    lines = err.splitlines()
    assert lines, "no problem reported"
    matches = [PROBLEM.match(line) for line in lines]
    assert all(matches), lines
    assert all(m.group("file") == str(path) for m in matches), lines  # type: ignore[union-attr]
    assert not (path.parent / "out").exists()
    return matches  # type: ignore[return-value]


def test_the_base_scenario_is_valid(tmp_path, capsys):
    code, _path, _out, err = run_cli(tmp_path, BASE, capsys)
    assert code == 0, err


def test_a_scenario_may_say_it_is_in_format_version_1(tmp_path, capsys):
    code, _path, _out, err = run_cli(tmp_path, "version: 1\n" + BASE, capsys)
    assert code == 0, err


# (class of mistake, replaced text, replacement, field reported, words of the message, text
# on the reported line). Each replaced text occurs once in BASE.
CASES = [
    ("yaml syntax", "seed: 1\n", "seed: [1, 2\n", "(yaml)", "expected ',' or ']'", "duration: 2d"),
    ("yaml tab", "seed: 1\n", "seed: 1\n\tcolour: red\n", "(yaml)", "'\\t'", "colour: red"),
    ("duplicate key", "  B: {capacity: 4TiB}\n", "  B: {capacity: 4TiB}\n  B: {capacity: 8TiB}\n",
     "appliances.B", "duplicate key (first given on line 8)", "B: {capacity: 8TiB}"),
    ("unknown key", "change_rate: 1GiB/h", "change_rate: 1GiB/h\n    colour: red", "volumes.A:/vol/v.colour",
     "unknown field", "colour: red"),
    ("unknown top-level key", "mirrors:\n", "mirror:\n", "mirror", "unknown field", "mirror:"),
    ("wrong type", "keep: 3", "keep: three", "snapshot_policies.hourly.keep", "valid integer", "keep: three"),
    ("wrong type of section", "routers: [R1]", "routers: {R1: yes}", "routers", "valid tuple", "routers:"),
    ("bad unit of a size", "size: 100GiB", "size: 100 parsecs", "volumes.A:/vol/v.size", "not a size", "size:"),
    ("bad unit of a rate", "bandwidth: 10Gbit/s", "bandwidth: 10Gbit", "links[0].bandwidth", "not a rate",
     "between: [A, B]"),
    ("bad duration", "duration: 2d", "duration: forever", "duration", "not a duration", "duration:"),
    ("bad cron", '"0 */2 * * *"', '"every two hours"', "mirrors[1].schedule", "not a cron", "B:/vol/v"),
    ("cron with seconds", '"0 */2 * * *"', '"0 0 */2 * * *"', "mirrors[1].schedule", "five fields", "B:/vol/v"),
    ("cron that never fires", '"0 */4 * * *"', '"0 0 31 2 *"', "mirrors[2].schedule", "never fires", "type: qtree"),
    ("unknown appliance in a link", "between: [A, B]", "between: [A, Z]", "links[0].between",
     "unknown appliance or router 'Z'", "between: [A, Z]"),
    ("unknown appliance in a mirror", "destination: B:/vol/v", "destination: Z:/vol/v", "mirrors[0].destination",
     "unknown appliance 'Z'", "Z:/vol/v"),
    ("unknown volume", "{source: B:/vol/v,", "{source: B:/vol/w,", "mirrors[1].source", "unknown volume 'B:/vol/w'",
     "B:/vol/w"),
    ("unknown volume in a policy", "volumes: [A:/vol/v]", "volumes: [A:/vol/x]", "snapshot_policies.hourly.volumes[0]",
     "unknown volume", "A:/vol/x"),
    ("unknown qtree", "source: A:/vol/v/q1", "source: A:/vol/v/q9", "mirrors[2].source", "has no qtree 'q9'",
     "A:/vol/v/q9"),
    ("mirror into its own source", "destination: C:/vol/v", "destination: B:/vol/v", "mirrors[1].destination",
     "the destination is the source itself", "source: B:/vol/v"),
    ("cycle of mirrors", "{source: A:/vol/v, destination: B:/vol/v,",
     "{source: C:/vol/v, destination: B:/vol/v,", "mirrors", "form a cycle", "mirrors:"),
    ("two mirrors into one destination", "destination: C:/vol/q/q1", "destination: C:/vol/v/q1",
     "mirrors[2].destination", "already the destination of mirrors[1]", "type: qtree"),
    ("no network path", "  - {between: [B, R1], bandwidth: 1Gbit/s, latency: 10ms}\n", "", "mirrors[1]",
     "no network path from 'B' to 'C'", "B:/vol/v, destination: C"),
    ("router named like an appliance", "routers: [R1]", "routers: [R1, A]", "routers[1]", "already the name",
     "routers:"),
    ("volume listed twice", "volumes: [A:/vol/v]", "volumes: [A:/vol/v, A:/vol/v]",
     "snapshot_policies.hourly.volumes[1]", "listed twice", "hourly:"),
    ("name that breaks volume names", "  C: {capacity: 4TiB}", "  C: {capacity: 4TiB}\n  D:E: {capacity: 4TiB}",
     "appliances.D:E", "not a name", "D:E"),
    ("zero size", "size: 100GiB", "size: 0GiB", "volumes.A:/vol/v.size", "must be positive", "size:"),
    ("negative capacity", "  A: {capacity: 4TiB}", "  A: {capacity: -4TiB}", "appliances.A.capacity",
     "must be positive", "A: {capacity"),
    ("zero bandwidth", "bandwidth: 10Gbit/s", "bandwidth: 0Gbit/s", "links[0].bandwidth", "must be positive",
     "between: [A, B]"),
    ("negative change rate", "change_rate: 1GiB/h", "change_rate: -1GiB/h", "volumes.A:/vol/v.change_rate",
     "must be positive", "change_rate"),
    ("negative latency", "latency: 1ms", "latency: -1ms", "links[0].latency", "must be positive", "between: [A, B]"),
    ("zero keep", "keep: 3", "keep: 0", "snapshot_policies.hourly.keep", "greater than or equal to 1", "keep: 0"),
    ("number without a unit", "size: 100GiB", "size: 100", "volumes.A:/vol/v.size", "has no unit", "size:"),
    ("infinite size", "size: 100GiB", "size: inf GiB", "volumes.A:/vol/v.size", "finite", "size:"),
    ("not-a-number variability", "change_rate: 1GiB/h", "change_rate: 1GiB/h\n    change_variability: .nan",
     "volumes.A:/vol/v.change_variability", "finite", "change_variability"),
    ("expect: unknown KPI", "premature_deletions: {min: 0}", "happiness: {min: 0}", "expect.none.happiness",
     "Input should be", "happiness"),
    ("expect: unknown protocol", "  none: {premature", "  maybe: {premature", "expect.maybe", "unknown protocol",
     "maybe:"),
    ("expect: empty range", "{min: 0}}", "{min: 3, max: 1}}", "expect.none.premature_deletions", "larger than max",
     "none:"),
    ("expect: mean over one seed", "{min: 0}}", "{mean: 1}}", "expect.none.premature_deletions", "seeds: N",
     "none:"),
    ("duration past the limit", "duration: 2d", "duration: 11y", "duration", "limit of 10 years", "duration:"),
    ("size past the limit", "size: 100GiB", "size: 2EiB", "volumes.A:/vol/v.size", "limit of 1 EiB", "size:"),
    ("sampling past the limit", "sample_interval: 1h", "sample_interval: 1s", "sample_interval", "too fine",
     "sample_interval"),
    ("firings past the limit", 'duration: 2d', 'duration: 9y', "duration", "scheduled snapshots and updates",
     "duration:"),
    ("run past the calendar", "seed: 1\n", "seed: 1\nstart: 8999-12-31T00:00:00Z\n", "duration",
     "would end after 9000-01-01", "duration:"),
    ("start before the clock's epoch", "seed: 1\n", "seed: 1\nstart: 0001-01-01T00:00:00Z\n", "start",
     "must be from 1970-01-01 to 9000-01-01", "start:"),
    ("unsupported format version", "seed: 1\n", "version: 2\nseed: 1\n", "version",
     "2 is not a scenario format version this cascadesim reads: it reads version 1", "version: 2"),
    ("format version as text", "seed: 1\n", 'version: "1"\nseed: 1\n', "version", "it reads version 1", "version:"),
    ("bool given for a number", "seed: 1\n", "seed: true\n", "seed", "valid integer", "seed: true"),
    ("string given for a number", "seed: 1\n", 'seed: "7"\n', "seed", "valid integer", 'seed: "7"'),
    ("bool given for a count", "keep: 3", "keep: true", "snapshot_policies.hourly.keep", "valid integer", "keep: true"),
    ("string given for a fraction", "qtrees: {q1: {share: 0.5}}", 'qtrees: {q1: {share: "0.5"}}',
     "volumes.A:/vol/v.qtrees.q1.share", "valid number", "qtrees:"),
    ("number out of range", "seed: 1\n", "seed: 99999999999999999999\n", "seed", "less than", "seed:"),
    ("size out of range", "size: 100GiB", "size: 1e400TiB", "volumes.A:/vol/v.size", "out of range", "size:"),
    ("size as arithmetic", "size: 100GiB", "size: 10 GiB * 100 / 10", "volumes.A:/vol/v.size",
     "write a number and a unit", "size:"),
    ("size as a power", "size: 100GiB", "size: 2**2000 B", "volumes.A:/vol/v.size", "write a number and a unit",
     "size:"),
    ("rate as arithmetic", "bandwidth: 10Gbit/s", "bandwidth: 10Gbit*8/s", "links[0].bandwidth", "not a rate",
     "between: [A, B]"),
    ("mirror schedule that never fires in the run", '"0 */4 * * *"', '"0 0 1 6 *"', "mirrors[2].schedule",
     "does not fire within the run: its first firing, 2026-06-01 00:00 UTC", "type: qtree"),
    ("snapshot schedule that never fires in the run", '"0 * * * *"', '"0 0 1 6 *"', "snapshot_policies.hourly.schedule",
     "does not fire within the run", "hourly:"),
    ("bandwidth schedule that never fires in the run", "latency: 1ms}",
     'latency: 1ms, bandwidth_schedule: [{schedule: "0 0 1 6 *", bandwidth: 1Gbit/s}]}',
     "links[0].bandwidth_schedule[0].schedule", "does not fire within the run", "between: [A, B]"),
    ("scheduled bandwidth past the limit", "latency: 1ms}",
     'latency: 1ms, bandwidth_schedule: [{schedule: "0 8 * * *", bandwidth: 2EiB/s}]}',
     "links[0].bandwidth_schedule[0].bandwidth", "limit of 1 EiB per second", "between: [A, B]"),
    ("random failures of no link", "routers: [R1]\n",
     "routers: [R1]\nfaults:\n  links:\n    - {between: [A, C], mtbf: 1d, mttr: 1h}\n",
     "faults.links[0].between", "no link between 'A' and 'C' in `links`", "between: [A, C]"),
    ("two random failure entries for one link", "routers: [R1]\n",
     "routers: [R1]\nfaults:\n  links:\n    - {between: [A, B], mtbf: 1d, mttr: 1h}\n"
     "    - {between: [B, A], mtbf: 2d, mttr: 1h}\n",
     "faults.links[1].between", "link A-B already fails randomly by faults.links[0]", "between: [B, A]"),
    ("link repair time under the limit", "routers: [R1]\n",
     "routers: [R1]\nfaults:\n  links:\n    - {between: [A, B], mtbf: 1d, mttr: 500ms}\n",
     "faults.links[0].mttr", "shorter than the limit of 1 s", "mttr: 500ms"),
    ("link failures past the limit", "duration: 2d\n",
     "duration: 30d\nfaults:\n  links: [{between: [A, B], mtbf: 1s, mttr: 1s}]\n",
     "faults", "random link failures and crashes would happen about 1.3e+06 times over the run (limit 1,000,000",
     "faults:"),
    ("crash restart time under the limit", "routers: [R1]\n",
     "routers: [R1]\nfaults:\n  appliances:\n    B: {mtbf: 1d, mttr: 100ms}\n",
     "faults.appliances.B.mttr", "shorter than the limit of 1 s", "B: {mtbf: 1d, mttr: 100ms}"),
    ("cron step larger than its field", '"*/15 * * * *"', '"*/1000000 * * * *"', "mirrors[0].schedule",
     "the step '1000000' of the minute field is not a whole number from 1 to 59", "destination: B:/vol/v"),
    ("scenario name of dot dot", "name: bad_input_base", "name: ..", "name", "may not be '.', '..'", "name:"),
    ("scenario name too long", "name: bad_input_base", "name: " + "n" * 101, "name", "more than 100", "name:"),
    ("alias to an enclosing node", "routers: [R1]", "routers: &r [R1, *r]", "(yaml)", "refers to a node that contains it",
     "routers:"),
]


@pytest.mark.parametrize(("kind", "old", "new", "field", "words", "on_line"), CASES, ids=[c[0] for c in CASES])
def test_each_class_of_mistake_is_refused_with_its_line_and_field(tmp_path, capsys, kind, old, new, field, words,
                                                                  on_line):
    assert BASE.count(old) == 1, kind
    text = BASE.replace(old, new)
    if kind == "firings past the limit":  # every minute for 9 years: 4.7 million updates per mirror
        text = text.replace('"*/15 * * * *"', '"* * * * *"').replace('"0 */2 * * *"', '"* * * * *"')
        text = text.replace("sample_interval: 1h", "sample_interval: 1d")
    matches = assert_clean_refusal(*run_cli(tmp_path, text, capsys))
    named = [m for m in matches if m.group("field") == field and words in m.group("message")]
    assert named, [m.group(0) for m in matches]
    line = int(named[0].group("line"))
    assert on_line in text.splitlines()[line - 1], (line, text.splitlines()[line - 1])


LIMITS = [case for case in CASES if "limit" in case[0]]


@pytest.mark.parametrize(("kind", "old", "new", "field", "words", "on_line"), LIMITS, ids=[c[0] for c in LIMITS])
def test_limits_can_be_lifted_with_no_limits(tmp_path, capsys, kind, old, new, field, words, on_line):
    text = BASE.replace(old, new)
    if kind == "size past the limit":  # the appliances must hold the volume and its mirrors too
        text = text.replace("{capacity: 4TiB}", "{capacity: 4EiB}")
    if kind == "firings past the limit":
        text = text.replace('"*/15 * * * *"', '"* * * * *"').replace('"0 */2 * * *"', '"* * * * *"')
    path = tmp_path / "big.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 2
    assert "--no-limits" in capsys.readouterr().err
    assert main(["validate", str(path), "--no-limits"]) == 0, capsys.readouterr().err


def test_validate_reports_every_problem_of_a_file_at_once(tmp_path, capsys):
    text = (BASE.replace("keep: 3", "keep: three").replace("size: 100GiB", "size: 100 parsecs")
            .replace("  B: {capacity: 4TiB}\n", "  B: {capacity: 4TiB}\n  B: {capacity: 8TiB}\n")
            .replace("sample_interval: 1h", "sample_interval: 1h\ncolour: red"))
    path = tmp_path / "many.yaml"
    path.write_text(text)
    assert main(["validate", str(path), str(SCENARIOS / "quickstart.yaml")]) == 2
    out, err = capsys.readouterr()
    fields = [PROBLEM.match(line).group("field") for line in err.splitlines()]  # type: ignore[union-attr]
    assert sorted(fields) == sorted(["appliances.B", "snapshot_policies.hourly.keep", "volumes.A:/vol/v.size", "colour"])
    assert out == f"{SCENARIOS / 'quickstart.yaml'}: ok (quickstart)\n"


def test_a_key_with_spaces_stays_one_field(tmp_path, capsys):
    matches = assert_clean_refusal(*run_cli(tmp_path, BASE.replace("seed: 1\n", "seed: 1\nmy colour: red\n"), capsys))
    assert [m.group("field") for m in matches] == ['["my\\u0020colour"]']


@pytest.mark.parametrize("text", ["", "just a string\n", "- a\n- list\n"])
def test_a_file_that_is_not_a_mapping(tmp_path, capsys, text):
    assert_clean_refusal(*run_cli(tmp_path, text, capsys))


# -- random mutations of library scenarios ------------------------------------------------

MUTATED = ("quickstart", "destination_retired", "shared_wan", "slow_branch", "short_retention", "fanout_tree",
           "mixed_qtree_volume")
"""Small library scenarios (the fleet is too slow to run dozens of times)."""
GARBAGE: tuple[Any, ...] = (
    None, True, -1, 0, 2.5, 1e308, "", "garbage", "-5GiB", "0GiB", "1e400TiB", "nan", "0 0 31 2 *",
    "* * * * * *", "99999y", "A:/vol/nowhere", "Z", [], {}, [1, "x"], {"x": 1}, {"min": "x"},
)
"""Values swapped in for a field: every type YAML can give, and values wrong for any field."""


def shortened(name: str) -> Any:
    """A library scenario as a round-trip document, made to run for two days (events moved
    inside them), so that a valid mutation runs in a fraction of a second."""
    document = YAML(typ="rt").load((SCENARIOS / f"{name}.yaml").read_text())
    document["duration"] = "2d"
    for link in document.get("links", []):
        for outage in link.get("outages", []):
            outage["at"], outage["for"] = "1d", "6h"
    for mirror in document.get("mirrors", []):
        if "retire_at" in mirror:
            mirror["retire_at"] = "1d"
    return document


def node_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every mapping entry and sequence item in a document, depth first."""
    paths: list[tuple[Any, ...]] = []
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        paths.append((*path, key))
        paths += node_paths(child, (*path, key))
    return paths


def parent_of(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        document = document[key]
    return document


def dump(document: Any) -> str:
    stream = io.StringIO()
    YAML(typ="rt").dump(document, stream)
    return stream.getvalue()


@st.composite
def mutated_scenarios(draw: st.DrawFn) -> str:
    """A library scenario with one key deleted, one value swapped for garbage or for another
    field's value, one line repeated, or the file cut short."""
    document = shortened(draw(st.sampled_from(MUTATED)))
    paths = node_paths(document)
    kind = draw(st.sampled_from(("delete", "garbage", "swap", "repeat line", "truncate")))
    if kind in ("delete", "garbage", "swap"):
        path = draw(st.sampled_from(paths))
        parent = parent_of(document, path)
        if kind == "delete":
            del parent[path[-1]]
        elif kind == "garbage":
            parent[path[-1]] = draw(st.sampled_from(GARBAGE))
        else:
            other = draw(st.sampled_from(paths))
            parent[path[-1]] = parent_of(document, other)[other[-1]]
        return dump(document)
    text = dump(document)
    if kind == "truncate":
        return text[:draw(st.integers(0, len(text) - 1))]
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(0, len(lines) - 1))
    return "".join(lines[:at + 1] + lines[at:])


@settings(max_examples=80, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=mutated_scenarios())
def test_mutated_scenarios_either_run_completely_or_are_refused_cleanly(text, capsys):
    with tempfile.TemporaryDirectory() as folder:
        code, path, out, err = run_cli(Path(folder), text, capsys)
        if code == 0:
            assert err == ""
            runs = [p for p in (Path(folder) / "out").glob("*/*") if p.is_dir()]
            assert len(runs) == 1 and not runs[0].name.startswith(".")
            summary = json.loads((runs[0] / "summary.json").read_text())
            assert summary["provenance"]["scenario_sha256"]
            for table in TABLES:
                assert (runs[0] / f"{table}.parquet").stat().st_size > 0
            assert (runs[0] / "scenario.json").stat().st_size > 0
            assert (runs[0] / "report.html").stat().st_size > 0
        else:
            assert_clean_refusal(code, path, out, err)


# -- hostile files and flags --------------------------------------------------------------

BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
name: bomb
seed: 1
"""
"""The 11-line anchor bomb: 9**9 strings once every alias is expanded."""

TIMED = """
import sys, time
from sim.scenario import ScenarioError, load_scenario
started = time.perf_counter()
try:
    load_scenario(sys.argv[1])
except ScenarioError as err:
    print(time.perf_counter() - started)
    print("\\n".join(err.problems))
"""
"""Loads a scenario in a fresh process and prints the seconds it took to refuse it, then the problems."""


@pytest.mark.parametrize(("kind", "text", "words"), [
    ("anchor bomb", BOMB, "aliases expand the document's"),
    ("tower of powers as a size", BASE.replace("size: 100GiB", "size: 9**9**9 B"), "write a number and a unit"),
    ("huge power as a size", BASE.replace("size: 100GiB", "size: 2**2000 B"), "write a number and a unit"),
    ("arithmetic as a size", BASE.replace("size: 100GiB", "size: 10 GiB * 100 / 10"), "write a number and a unit"),
    ("deep nesting", "name: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
], ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None)
def test_hostile_documents_are_refused_within_a_second(tmp_path, kind, text, words):
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    done = subprocess.run([sys.executable, "-c", TIMED, str(path)], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).parent.parent)
    assert "Traceback" not in done.stderr, done.stderr
    seconds, *problems = done.stdout.splitlines()
    assert float(seconds) < 1.0, kind
    assert any(words in problem for problem in problems), problems


def test_a_file_past_the_size_limit_is_refused_unless_limits_are_lifted(tmp_path, capsys):
    path = tmp_path / "big.yaml"
    path.write_text(BASE + "# " + "x" * (MAX_FILE_BYTES - len(BASE)) + "\n")
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}:1: (file): larger than the limit of 512 KiB for a scenario file " \
                                      f"(--no-limits lifts it)\n"
    assert main(["validate", str(path), "--no-limits"]) == 0
    assert "warning: --no-limits" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_only_regular_files_are_read_and_nothing_blocks(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "folder.yaml"
        path.mkdir()
    done = subprocess.run([sys.executable, "-m", "sim", "run", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert done.returncode == 2 and done.stdout == ""
    what = {"fifo": "a FIFO (named pipe)", "device": "a device", "folder": "a folder"}[kind]
    assert done.stderr == f"{path}:1: (file): cannot read: {what}, not a scenario file\n"


def test_a_byte_that_is_not_utf8_is_reported_on_its_line(tmp_path, capsys):
    path = tmp_path / "latin1.yaml"
    lines = BASE.encode().splitlines(keepends=True)
    lines[11] = lines[11].replace(b"# ", b"# caf\xe9 ") if b"# " in lines[11] else b"# caf\xe9\n" + lines[11]
    path.write_bytes(b"".join(lines))
    assert main(["validate", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}:12: (file): byte 0xe9 at column 6 is not UTF-8 text; save the file as " \
                                      f"UTF-8\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "-1"], "argument --seed: '-1' is not a seed"),
    (["--seed", str(2**63)], "argument --seed: '9223372036854775808' is not a seed"),
    (["--seed", "seven"], "argument --seed: 'seven' is not a seed"),
])
def test_flag_values_are_blamed_on_the_flag(tmp_path, capsys, args, message):
    path = tmp_path / "scenario.yaml"
    path.write_text(BASE)
    with pytest.raises(SystemExit) as exit_:
        main(["run", str(path), "--out", str(tmp_path / "out"), *args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and str(path) not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("at", "message"), [
    ("soon", "argument --at: 'soon' is not a duration"),
    ("1e400s", "argument --at: '1e400s' is not a duration"),
    ("-1h", "argument --at: '-1h': a duration must be positive"),
])
def test_locks_at_is_blamed_on_the_flag(tmp_path, capsys, at, message):
    path = tmp_path / "scenario.yaml"
    path.write_text(BASE)
    with pytest.raises(SystemExit):
        main(["locks", str(path), f"--at={at}"])
    assert message in capsys.readouterr().err


def test_no_limits_warns_on_stderr(tmp_path, capsys):
    path = tmp_path / "scenario.yaml"
    path.write_text(BASE)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-limits", "--set", "duration=30h"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("cascadesim: warning: --no-limits:")
