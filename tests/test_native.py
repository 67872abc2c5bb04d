"""The compiled hot path (`sim.native`, `sim.compile`): loaded only while it matches its
source, and giving the same results as the interpreter to the last bit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim import native
from sim.compile import main as compile_main
from sim.compile import write_manifest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = "sim.engine.network"
"""A hot module the tests look at."""


def built() -> bool:
    """Whether this checkout's hot path is compiled and fresh (`make test` builds it first)."""
    return CHECKED in native.fresh_modules()


needs_build = pytest.mark.skipif(not built(), reason="the hot path is not compiled here (python -m sim.compile build)")


def python(code: str, *, pure: bool = False, path: Path = ROOT, **env: str) -> str:
    """stdout of `python -c code` in a fresh interpreter importing `sim` from `path`."""
    environment = {key: value for key, value in os.environ.items() if key != native.PURE_ENV}
    environment.update(env, PYTHONPATH=str(path))
    if pure:
        environment[native.PURE_ENV] = "1"
    done = subprocess.run([sys.executable, "-c", code], cwd=path, env=environment, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_manifest_entry_is_fresh_only_for_the_source_it_was_built_from(tmp_path: Path) -> None:
    compiled = tmp_path / "network.so"
    compiled.write_bytes(b"")
    source_sha = native.digest(native.source_of(CHECKED))
    manifest = tmp_path / "manifest.json"

    def entry(sha: str, interpreter: str = native.interpreter_tag()) -> dict[str, object]:
        return {"interpreter": interpreter, "directives": native.DIRECTIVES,
                "modules": {CHECKED: {"file": compiled.name, "source_sha256": sha}}}

    manifest.write_text(json.dumps(entry(source_sha)))
    assert native.fresh_modules(manifest) == {CHECKED: compiled}
    manifest.write_text(json.dumps(entry("0" * 64)))  # the source was edited since
    assert native.fresh_modules(manifest) == {}
    manifest.write_text(json.dumps(entry(source_sha, ".cpython-310-x86_64-linux-gnu.so")))  # another interpreter
    assert native.fresh_modules(manifest) == {}
    manifest.write_text(json.dumps({**entry(source_sha), "directives": {"binding": False}}))  # other directives
    assert native.fresh_modules(manifest) == {}
    compiled.unlink()  # the compiled file is gone
    manifest.write_text(json.dumps(entry(source_sha)))
    assert native.fresh_modules(manifest) == {}
    header = {"interpreter": native.interpreter_tag(), "directives": native.DIRECTIVES}
    for broken in ("{not json", "[]", json.dumps({**header, "modules": {CHECKED: {}}}), json.dumps({**header, "modules": 3})):
        manifest.write_text(broken)
        assert native.fresh_modules(manifest) == {}
    assert native.fresh_modules(tmp_path / "missing.json") == {}


def test_modules_outside_the_package_are_found_without_importing_them() -> None:
    assert native.source_of("simpy.core").name == "core.py"
    assert native.source_of("sim.engine.network") == ROOT / "sim" / "engine" / "network.py"
    assert native.source_of("no_such_package.core") == Path(os.devnull)


@needs_build
def test_the_compiled_module_loads_unless_pure_python_is_asked_for() -> None:
    code = f"import {CHECKED} as m, simpy.core as c; from sim.native import is_native; print(is_native(m), is_native(c))"
    assert python("import sim\n" + code).split() == ["True", "True"]
    assert python("import sim\n" + code, pure=True).split() == ["False", "False"]


@needs_build
def test_an_edited_module_runs_from_its_source_and_the_others_stay_compiled(tmp_path: Path) -> None:
    """A copy of the package with one hot module edited after the build: that module is
    imported from its `.py` (a stale build never runs old code), every other one compiled."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "sim", copy / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    edited = copy / "sim" / "engine" / "network.py"
    edited.write_text(edited.read_text() + "\nEDITED_AFTER_THE_BUILD = True\n")
    out = python("import sim.engine.network as n, sim.engine.mirror as m\nfrom sim.native import is_native\n"
                 "print(is_native(n), is_native(m), n.EDITED_AFTER_THE_BUILD, n.__file__)", path=copy).split()
    assert out[:3] == ["False", "True", "True"]
    assert out[3] == str(edited)
    status = python("from sim.compile import status\nprint(dict(status())['sim.engine.network'])", path=copy)
    assert status.strip() == "stale: runs as Python"


@needs_build
def test_compiled_and_interpreted_runs_give_identical_results() -> None:
    """Every summary and every table, hashed (tests/fingerprint.py), under every protocol,
    for scenarios with faults, message loss, holds and retention rules."""
    scenarios = ["scenarios/quickstart.yaml", "scenarios/lock_message_loss.yaml", "scenarios/zrepl_shared_identity.yaml",
                 "scenarios/appliance_crash_mid_transfer.yaml",
                 "tests/worlds/vault_receives_a_pcpi_it_deleted_again.yaml"]
    code = ("import json, sys\nsys.path.insert(0, 'tests')\nfrom pathlib import Path\nfrom fingerprint import fingerprints\n"
            f"print(json.dumps(fingerprints(paths=[Path(p).resolve() for p in {scenarios!r}]), sort_keys=True))")
    compiled, interpreted = json.loads(python(code)), json.loads(python(code, pure=True))
    assert len(compiled) == len(scenarios) * len(json.loads(python(
        "from sim.protocols.registry import names; import json; print(json.dumps(names()))")))
    assert compiled == interpreted


def test_a_build_without_a_compiler_says_so_and_leaves_pure_python(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    def no_compiler(*_args: object, **_kwargs: object) -> None:
        raise ImportError("No module named 'Cython'")

    monkeypatch.setattr("sim.compile.build", no_compiler)
    assert compile_main(["build"]) == 0
    assert "not compiled (No module named 'Cython'); everything runs as Python" in capsys.readouterr().err
    assert compile_main(["bogus"]) == 2


def test_the_manifest_is_replaced_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sim.compile.NATIVE_DIR", tmp_path)
    monkeypatch.setattr("sim.compile.MANIFEST", tmp_path / "manifest.json")
    compiled = tmp_path / "sim" / "engine" / "network.so"
    write_manifest({CHECKED: compiled}, {CHECKED: "ab" * 32})
    assert json.loads((tmp_path / "manifest.json").read_text())["modules"] == {
        CHECKED: {"file": "sim/engine/network.so", "source_sha256": "ab" * 32}}
    assert not list(tmp_path.glob("*.partial"))
