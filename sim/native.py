"""The event loop's hot modules compiled with Cython, loaded only while they match their source.

The simulator is Python. `python -m sim.compile build` (run by `make demo` and `make test`)
compiles the modules of `HOT_MODULES` (SimPy's core among them) from their own source,
unchanged, into `sim/_native/`, and writes a manifest with the SHA-256 of each source file it
compiled. On import, `sim` installs a finder (`install`) that loads a compiled module instead
of its `.py` only while the `.py` is still the file it was compiled from, for this interpreter
and these directives: a module edited since is imported from its source, so a stale build
never runs old code. The compiled code is the same Python run without the interpreter's
dispatch, and gives the same results to the last bit (tests/test_native.py, bench/README.md).

Without a build everything runs as Python; `CASCADESIM_PURE_PYTHON=1` ignores a build.
`python -m sim.compile status` lists how each hot module loads.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
NATIVE_DIR = PACKAGE / "_native"
MANIFEST = NATIVE_DIR / "manifest.json"
PURE_ENV = "CASCADESIM_PURE_PYTHON"
DIRECTIVES: dict[str, object] = {"language_level": 3, "annotation_typing": False}
"""Cython's directives for the build: the code compiled as the interpreter runs it (an
annotation is a hint, not a C type). A build made with other directives is not loaded."""

HOT_MODULES: tuple[str, ...] = (
    "sim.engine.clock",
    "sim.engine.crashes",
    "sim.engine.deletion",
    "sim.engine.durations",
    "sim.engine.events",
    "sim.engine.faults",
    "sim.engine.holds",
    "sim.engine.lock_table",
    "sim.engine.messages",
    "sim.engine.mirror",
    "sim.engine.model",
    "sim.engine.network",
    "sim.engine.snapshots",
    "sim.engine.storage",
    "sim.protocols.base",
    "sim.protocols.btrbk",
    "sim.protocols.ceph",
    "sim.protocols.hard",
    "sim.protocols.lease",
    "sim.protocols.local",
    "sim.protocols.none",
    "sim.protocols.softlock",
    "sim.protocols.softlock_pending",
    "sim.protocols.syncoid",
    "sim.protocols.targets",
    "sim.protocols.znapzend",
    "sim.protocols.zrepl",
    "sim.observe.collectors",
    "sim.observe.fault_log",
    "sim.observe.gaps",
    "sim.observe.lock_space",
    "sim.observe.lock_traffic",
    "sim.observe.mirrors",
    "sim.observe.oracle",
    "sim.observe.pile_up",
    "sim.observe.sampler",
    "sim.observe.space_pressure",
    "sim.retention.base",
    "sim.retention.btrbk",
    "sim.retention.keep_n",
    "sim.retention.sanoid",
    "sim.retention.thinner",
    "sim.retention.znapzend",
    "sim.retention.zrepl_grid",
    "sim.retention.zrepl_last_n",
    "simpy.core",
    "simpy.events",
)
"""The modules a run's event loop runs in: the engine, the strategies, the observers, the
retention rules, and SimPy's event loop and events (bench/profile_fleet.py)."""


def source_of(module: str) -> Path:
    """The `.py` file of `module`: one of this package's, or of SimPy's (found without
    importing SimPy)."""
    top, *rest = module.split(".")
    if top == "sim":
        return ROOT.joinpath(top, *rest).with_suffix(".py")
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        return Path(os.devnull)
    return Path(spec.origin).parent.joinpath(*rest).with_suffix(".py")


def digest(path: Path) -> str:
    """SHA-256 of the module source at `path`: the `.py`, and with it the `.pxd` beside it if
    there is one (it declares the module's classes as typed extension types: another `.pxd`
    is other compiled code, so a module whose `.pxd` changed is stale too)."""
    content = hashlib.sha256(path.read_bytes())
    declarations = path.with_suffix(".pxd")
    if declarations.is_file():
        content.update(b"\0pxd\0")
        content.update(declarations.read_bytes())
    return content.hexdigest()


def interpreter_tag() -> str:
    """What a compiled module is bound to: this interpreter's extension suffix."""
    return importlib.machinery.EXTENSION_SUFFIXES[0]


def compiled_name(module: str, source_sha256: str) -> str:
    """The file name of `module` compiled from the source of SHA-256 `source_sha256`, relative
    to `NATIVE_DIR`. The hash is in the name, so a file is never replaced by other code: a
    manifest that names a file names the code it holds."""
    *package, name = module.split(".")
    return "/".join([*package, f"{name}-{source_sha256[:16]}{interpreter_tag()}"])


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled module as the manifest lists it: its file, the SHA-256 of the source it was
    compiled from, and the file's size."""

    path: Path
    source_sha256: str
    size: int

    def matches(self, module: str) -> bool:
        """Whether this file may run as `module` now: it is whole, and the module's source is
        byte for byte the one it was compiled from."""
        try:
            if self.path.stat().st_size != self.size:
                return False
            return digest(source_of(module)) == self.source_sha256
        except OSError:
            return False


def listed_modules(manifest_path: Path = MANIFEST) -> dict[str, Compiled]:
    """The hot modules the manifest at `manifest_path` lists, if it was written for this
    interpreter and these directives; empty without a manifest `sim.compile` wrote."""
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("interpreter") != interpreter_tag() or manifest.get("directives") != DIRECTIVES:
            return {}
        return {module: Compiled(manifest_path.parent / entry["file"], entry["source_sha256"], int(entry["size"]))
                for module, entry in manifest["modules"].items() if module in HOT_MODULES}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def fresh_modules(manifest_path: Path = MANIFEST) -> dict[str, Path]:
    """The compiled modules of the manifest at `manifest_path` that may be loaded now."""
    return {module: entry.path for module, entry in listed_modules(manifest_path).items() if entry.matches(module)}


class NativeFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled form of a listed module, checked against its source each time the
    module is imported or reloaded: one edited since runs from its `.py`."""

    def __init__(self, listed: dict[str, Compiled]):
        self.listed = listed

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        entry = self.listed.get(fullname)
        if entry is None or not entry.matches(fullname):
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(entry.path))
        return importlib.util.spec_from_file_location(fullname, entry.path, loader=loader)


def install() -> None:
    """Put a `NativeFinder` for the listed compiled modules first on the import path, unless
    `CASCADESIM_PURE_PYTHON` is set or none is listed. Called once, by `sim/__init__.py`."""
    if os.environ.get(PURE_ENV) or any(isinstance(finder, NativeFinder) for finder in sys.meta_path):
        return
    listed = listed_modules()
    if listed:
        sys.meta_path.insert(0, NativeFinder(listed))


def is_native(module: ModuleType) -> bool:
    """Whether `module` was loaded from a compiled file."""
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)
