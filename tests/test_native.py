"""The compiled hot path (`sim.native`, `sim.compile`): loaded only while it matches its
source, and giving the same results as the interpreter to the last bit."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim import native
from sim.compile import CompilerUnusable, probe_compiler, write_manifest
from sim.compile import main as compile_main

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
    compiled.write_bytes(b"compiled code")
    source_sha = native.digest(native.source_of(CHECKED))
    manifest = tmp_path / "manifest.json"
    header = {"interpreter": native.interpreter_tag(), "directives": native.DIRECTIVES}

    def entry(sha: str = source_sha, size: int = 13, module: str = CHECKED, **changed: object) -> dict[str, object]:
        return {**header, "modules": {module: {"file": compiled.name, "source_sha256": sha, "size": size}}, **changed}

    manifest.write_text(json.dumps(entry()))
    assert native.fresh_modules(manifest) == {CHECKED: compiled}
    for stale in (entry(sha="0" * 64),  # the source was edited since
                  entry(size=12),  # the file is not the one the build wrote (cut short, say)
                  entry(module="sim.engine.cascade_runs"),  # not a hot module (any more)
                  entry(interpreter=".cpython-310-x86_64-linux-gnu.so"),  # another interpreter
                  entry(directives={"binding": False})):  # other directives
        manifest.write_text(json.dumps(stale))
        assert native.fresh_modules(manifest) == {}, stale
    compiled.unlink()  # the compiled file is gone
    manifest.write_text(json.dumps(entry()))
    assert native.fresh_modules(manifest) == {}
    for broken in ("{not json", "[]", json.dumps({**header, "modules": {CHECKED: {}}}), json.dumps({**header, "modules": 3})):
        manifest.write_text(broken)
        assert native.fresh_modules(manifest) == {}
    assert native.fresh_modules(tmp_path / "missing.json") == {}


def test_a_compiled_file_is_named_after_the_source_it_holds() -> None:
    assert native.compiled_name("sim.engine.network", "ab" * 32) == (
        f"sim/engine/network-abababababababab{native.interpreter_tag()}")


def test_modules_outside_the_package_are_found_without_importing_them() -> None:
    assert native.source_of("simpy.core").name == "core.py"
    assert native.source_of("sim.engine.network") == ROOT / "sim" / "engine" / "network.py"
    assert native.source_of("no_such_package.core") == Path(os.devnull)


@needs_build
def test_the_compiled_module_loads_unless_pure_python_is_asked_for() -> None:
    code = f"import {CHECKED} as m, simpy.core as c; from sim.native import is_native; print(is_native(m), is_native(c))"
    assert python("import sim\n" + code).split() == ["True", "True"]
    assert python("import sim\n" + code, pure=True).split() == ["False", "False"]


def package_copy(tmp_path: Path) -> Path:
    """A copy of this checkout's package with its build, to edit."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "sim", copy / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@needs_build
def test_an_edited_module_runs_from_its_source_and_the_others_stay_compiled(tmp_path: Path) -> None:
    """A copy of the package with one hot module edited after the build: that module is
    imported from its `.py` (a stale build never runs old code), every other one compiled."""
    copy = package_copy(tmp_path)
    edited = copy / "sim" / "engine" / "network.py"
    edited.write_text(edited.read_text() + "\nEDITED_AFTER_THE_BUILD = True\n")
    out = python("import sim.engine.network as n, sim.engine.mirror as m\nfrom sim.native import is_native\n"
                 "print(is_native(n), is_native(m), n.EDITED_AFTER_THE_BUILD, n.__file__)", path=copy).split()
    assert out[:3] == ["False", "True", "True"]
    assert out[3] == str(edited)
    status = python("from sim.compile import status\nprint(dict(status())['sim.engine.network'])", path=copy)
    assert status.strip() == "stale: runs as Python"


@needs_build
def test_a_module_edited_while_python_runs_is_imported_and_reloaded_from_its_source(tmp_path: Path) -> None:
    """The check is made at each import, not once: a hot module first imported after an edit,
    and one reloaded after an edit (a notebook's autoreload), run the edited source."""
    copy = package_copy(tmp_path)
    clock, deletion = (copy / "sim" / "engine" / f"{name}.py" for name in ("clock", "deletion"))
    out = python(f"""
import importlib, pathlib
import sim, sim.engine.clock as clock
from sim.native import is_native
before = is_native(clock)
for path in ({str(clock)!r}, {str(deletion)!r}):
    path = pathlib.Path(path)
    path.write_text(path.read_text() + "\\nEDITED = 1\\n")
clock = importlib.reload(clock)
import sim.engine.deletion as deletion
print(before, is_native(clock), clock.EDITED, is_native(deletion), deletion.EDITED)
""", path=copy).split()
    assert out == ["True", "False", "1", "False", "1"]


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
    python_modules = len(native.HOT_MODULES) - len(native.fresh_modules())
    assert capsys.readouterr().err == (f"cascadesim: the hot path was not compiled (No module named 'Cython'); "
                                       f"{python_modules} of {len(native.HOT_MODULES)} hot modules run as Python\n")
    assert compile_main(["bogus"]) == 2


@pytest.mark.parametrize(("compiler", "says"), [("/nonexistent/cc", "no usable C compiler"),
                                                ("false", "cannot build against Python's headers")])
def test_a_compiler_that_cannot_build_is_found_before_any_module_is_compiled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compiler: str, says: str) -> None:
    monkeypatch.setenv("CC", compiler)
    with pytest.raises(CompilerUnusable, match=says):
        probe_compiler(tmp_path)


def test_the_manifest_is_replaced_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sim.compile.MANIFEST", tmp_path / "manifest.json")
    entry = {"file": "sim/engine/network-abababababababab.so", "source_sha256": "ab" * 32, "size": 1}
    write_manifest({CHECKED: entry})
    assert json.loads((tmp_path / "manifest.json").read_text())["modules"] == {CHECKED: entry}
    assert [path.name for path in tmp_path.iterdir()] == ["manifest.json"]


def test_a_modules_pxd_is_part_of_the_source_its_build_is_checked_against(tmp_path: Path) -> None:
    module = tmp_path / "volumes.py"
    module.write_text("class Volume:\n    pass\n")
    alone = native.digest(module)
    declarations = module.with_suffix(".pxd")
    declarations.write_text("cdef class Volume:\n    cdef public object name\n")
    declared = native.digest(module)
    declarations.write_text("cdef class Volume:\n    cdef public object name, size\n")
    assert len({alone, declared, native.digest(module)}) == 3
    declarations.unlink()
    assert native.digest(module) == alone


def declared_and_set(pxd: Path) -> list[tuple[str, set[str], set[str]]]:
    """For each class a .pxd declares: (class, attributes declared, attributes its methods set
    on `self` that are not properties)."""
    source = pxd.with_suffix(".py").read_text()
    found = []
    for name, fields in re.findall(r"^cdef class (\w+):\n((?:    .*\n?)*)", pxd.read_text(), re.M):
        declared = {field.strip() for line in re.findall(r"cdef public object (.*)", fields) for field in line.split(",")}
        body = re.search(rf"^class {name}\b.*?(?=^\S)", source + "\nEND", re.M | re.S).group()
        properties = set(re.findall(r"@property\s+def (\w+)", body))
        assigned = set(re.findall(r"self\.(\w+)(?:\s*:\s*[^=\n]+)?\s*=(?!=)", body)) - properties
        found.append((name, declared, assigned))
    return found


def test_every_pxd_belongs_to_a_hot_module_and_declares_exactly_what_its_classes_set() -> None:
    pxds = sorted((ROOT / "sim").rglob("*.pxd"))
    assert pxds
    for pxd in pxds:
        module = ".".join(pxd.relative_to(ROOT).with_suffix("").parts)
        assert module in native.HOT_MODULES, pxd
        for name, declared, assigned in declared_and_set(pxd):
            assert declared == assigned, (pxd.name, name, declared ^ assigned)
