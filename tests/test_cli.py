"""The command line: results folders, comparison, and clean refusals of bad scenarios."""

import json
import re
import subprocess
import sys

import pytest
from conftest import SCENARIOS, chain_document, dump_yaml

from sim.cli import main
from sim.protocols.registry import names

QUICKSTART = SCENARIOS / "quickstart.yaml"
TABLES = ("events", "transfers", "pcpis", "locks", "timeseries")


def test_run_writes_summary_tables_and_plot(tmp_path, capsys):
    assert main(["run", str(QUICKSTART), "--protocol", "softlock", "--seed", "7", "--out", str(tmp_path)]) == 0
    folder = tmp_path / "quickstart" / "softlock-seed7"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["scenario"] == "quickstart" and summary["seed"] == 7 and summary["protocol"] == "softlock"
    assert set(summary["kpis"]) >= {"premature_deletions", "rebaselines", "rebaseline_bytes", "bytes_transferred",
                                    "updates_completed", "updates_skipped", "max_lag_s", "lock_messages",
                                    "failed_writes"}
    assert set(summary["relationships"]) == {"A:/vol/db->B:/vol/db", "B:/vol/db->C:/vol/db"}
    for name in TABLES:
        assert (folder / f"{name}.parquet").stat().st_size > 0
    assert (folder / "pcpi_timeline.png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert str(folder) in out and "premature_deletions" in out


def test_compare_prints_and_writes_a_side_by_side_table(tmp_path, capsys):
    assert main(["compare", str(QUICKSTART), "--protocols", "none,softlock", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "none" in out and "softlock" in out and "rebaselines" in out
    csv = (tmp_path / "quickstart" / "compare-seed42.csv").read_text().splitlines()
    assert csv[0] == "kpi,none,softlock"


def test_compare_and_check_parse_the_scenario_file_once_whatever_the_protocols(tmp_path, monkeypatch, capsys):
    # Parsing is most of the cost of loading a large file (8 s at 3,000 appliances); the limits,
    # which depend on the protocol, are checked per protocol on the one parsed document.
    import sim.scenario.load

    parses: list[str] = []
    compose = sim.scenario.load.compose
    monkeypatch.setattr(sim.scenario.load, "compose", lambda text: parses.append(text) or compose(text))
    assert main(["compare", str(QUICKSTART), "--protocols", "none,softlock,lease", "--out", str(tmp_path), "--quiet",
                 "--set", "sample_interval=2h"]) == 0
    assert len(parses) == 1 + 1  # the file, and the --set value
    assert main(["check", str(QUICKSTART), "--jobs", "1"]) == 0
    assert len(parses) == 2 + 1
    capsys.readouterr()


def test_validate_accepts_the_library():
    assert main(["validate", *map(str, sorted(SCENARIOS.glob("*.yaml")))]) == 0


def test_validate_imports_neither_pint_nor_the_results_stack():
    # pint's registry (0.4 s), pandas with pyarrow, numpy and matplotlib were most of validate's 1 s.
    code = ("import sys; from sim.cli import main; main(['validate', 'scenarios/quickstart.yaml']); "
            "print(sorted({'pint', 'pandas', 'pyarrow', 'numpy', 'matplotlib'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=SCENARIOS.parent, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["scenarios/quickstart.yaml: ok (quickstart)", "[]"]


def test_check_runs_expect_blocks(capsys):
    assert main(["check", str(QUICKSTART)]) == 0
    assert "0 failed" in capsys.readouterr().out


def bad(doc_text: str, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(doc_text)
    proc = subprocess.run([sys.executable, "-m", "sim", "run", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True)
    return path, proc


GOOD = dump_yaml(chain_document())


@pytest.mark.parametrize(("mutate", "line", "field", "message"), [
    (lambda t: t.replace("keep: 3", "keep: 3\n    colour: red"), None, "snapshot_policies.hourly.colour", "unknown field"),
    (lambda t: t.replace("keep: 3", "keep: three"), None, "snapshot_policies.hourly.keep", "integer"),
    (lambda t: t.replace("bandwidth: 1Gbit/s", "bandwidth: fast", 1), None, "links[0].bandwidth", "not a rate"),
    (lambda t: t.replace("size: 100GiB", "size: 100 parsecs"), None, "volumes.A:/vol/v.size", "not a size"),
    (lambda t: t.replace("duration: 2d", "duration: forever"), None, "duration", "not a duration"),
    (lambda t: t.replace("schedule: 0 * * * *", "schedule: every hour"), None, "snapshot_policies.hourly.schedule",
     "not a cron"),
    (lambda t: t.replace("between: [A, B]", "between: [A, Z]"), None, "links[0].between", "unknown appliance"),
    (lambda t: t.replace("destination: C:/vol/v", "destination: B:/vol/v"), None, "mirrors[1].destination",
     "destination is the source"),
    (lambda t: t.replace("protocol: none", "protocol: maybe"), None, "protocol", "unknown protocol"),
    (lambda t: t.replace("name: chain\n", ""), 1, "name", "required"),
])
def test_bad_scenarios_exit_2_with_file_line_field(tmp_path, mutate, line, field, message):
    text = mutate(GOOD)
    assert text != GOOD
    path, proc = bad(text, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert all(entry.startswith(f"{path}:") for entry in lines), lines
    matching = [entry.split(":", 2) for entry in lines if f": {field}: " in entry and message in entry]
    assert matching, lines
    _, lineno, _rest = matching[0]
    if line is None:  # the named line holds the field's own key
        key = field.split(".")[-1].split("[")[0]
        assert key in text.splitlines()[int(lineno) - 1]
    else:
        assert int(lineno) == line
    assert not (tmp_path / "out").exists()


def test_yaml_syntax_errors_name_the_line(tmp_path):
    path, proc = bad("name: x\nseed: [1, 2\nduration: 1d\n", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"{path}:")
    assert "Traceback" not in proc.stderr


def test_a_missing_file_is_a_clean_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "sim", "validate", str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"mirrors": [{"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "0 * * * *"},
                  {"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "0 * * * *"}]},
     "mirrors[1].destination", "already the destination"),
    ({"mirrors": [{"source": "A:/vol/v", "destination": "B:/vol/v", "schedule": "0 * * * *"},
                  {"source": "B:/vol/v", "destination": "A:/vol/v", "schedule": "0 * * * *"}]},
     "mirrors", "cycle"),
    ({"links": [{"between": ["A", "B"], "bandwidth": "1Gbit/s", "latency": "1ms"}]}, "mirrors[1]", "no network path"),
    ({"appliances": {"A": {"capacity": "10GiB"}, "B": {"capacity": "1TiB"}, "C": {"capacity": "1TiB"}}},
     "appliances.A.capacity", "more than the capacity"),
    ({"duration": "20y"}, "duration", "limit"),
    ({"sample_interval": "1s", "duration": "1y"}, "sample_interval", "too fine"),
    ({"expect": {"softlock": {"happiness": 1}}}, "expect.softlock.happiness", "Input should be"),
])
def test_cross_reference_errors(write_scenario, overrides, field, message):
    path = write_scenario(chain_document(**overrides))
    proc = subprocess.run([sys.executable, "-m", "sim", "validate", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert any(f": {field}: " in line and message in line for line in proc.stderr.splitlines()), proc.stderr
    assert "Traceback" not in proc.stderr


def test_locks_lists_who_holds_each_pcpi_and_why(capsys):
    # Mid-outage: C cannot update, so under softlock its base is pinned at the head A.
    assert main(["locks", str(QUICKSTART), "--at", "3d12h", "--protocol", "softlock"]) == 0
    listing = capsys.readouterr().out
    head = listing.split("\nB:/vol/db  (")[0]
    assert "for C:/vol/db, via B:/vol/db, 2 hops" in head
    assert "hard: base of A:/vol/db->B:/vol/db" in head
    assert main(["locks", str(QUICKSTART), "--at", "3d12h", "--protocol", "none"]) == 0
    assert "for C:/vol/db" not in capsys.readouterr().out


def test_locks_refuses_a_moment_outside_the_run(capsys):
    assert main(["locks", str(QUICKSTART), "--at", "30d"]) == 2
    assert "after the end of the run" in capsys.readouterr().err


RAW_NUMBER = re.compile(r"\d{5,}|\d\.\d{4,}")
"""A number as the engine holds it (bytes, seconds), not as people read it."""


def test_run_prints_its_verdict_and_kpis_in_storage_units(tmp_path, capsys):
    assert main(["run", str(QUICKSTART), "--protocol", "none", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == ("none: 1 premature deletion, 1 re-baseline (500 GiB re-sent); locks pinned 0 B·h, peak 0 B; "
                      "0 failed writes, 0 autodeletes")
    table = out[out.index("") + 1:out.index("", out.index("") + 1)]
    rows = {line.split()[0]: line.split(None, 1)[1] for line in table[1:]}
    assert rows["rebaseline_bytes"] == "500 GiB" and rows["max_lag_s"] == "29.4 h"
    assert rows["bytes_transferred"].endswith(" TiB") and rows["failed_write_bytes"] == "0 B"
    assert not [line for line in table if RAW_NUMBER.search(line)], table


def test_compare_of_every_protocol_prints_a_verdict_each_and_a_table_within_100_columns(write_scenario, tmp_path, capsys):
    path = write_scenario(chain_document(duration="1d"))
    assert main(["compare", str(path), "--protocols", ",".join(names()), "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    verdicts = [line for line in out if re.match(r"^\w+: +\d+ premature deletions?, ", line)]
    assert [v.split(":")[0] for v in verdicts] == list(names())
    rest = out[out.index(verdicts[-1]) + 2:]
    table = rest[:next(i for i, line in enumerate(rest) if line.startswith("table: "))]
    while table and not table[-1]:
        table.pop()
    blocks = "\n".join(table).split("\n\n")
    headers = [block.splitlines()[0].split() for block in blocks]
    assert all(header[0] == "kpi" for header in headers)
    assert [p for header in headers for p in header[1:]] == list(names())  # every protocol, in blocks that fit
    assert max(map(len, table)) <= 100
    assert not [line for line in table if RAW_NUMBER.search(line)], table


def test_check_prints_measured_values_and_bounds_in_storage_units(capsys):
    assert main(["check", str(SCENARIOS / "destination_retired.yaml")]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("pass")]
    space = [row for row in rows if " lock_space_byte_hours " in row]
    assert space and all("B·h" in row for row in space)
    assert not [row for row in rows if RAW_NUMBER.search(row)], rows


def test_locks_prints_times_and_sizes_in_storage_units(capsys):
    assert main(["locks", str(QUICKSTART), "--at", "3d12h", "--protocol", "softlock"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("t = 3.5 d (2026-01-04_1200 UTC)")
    assert re.match(r"^A:/vol/db  \(\d+ PCPIs, snapshot space [\d.]+ GiB, held by locks [\d.]+ GiB\)$", listing[1])
    assert re.search(r" [\d.]+ GiB  hard: base of A:/vol/db->B:/vol/db", "\n".join(listing))
