"""`python -m sim.compile build|status`: compile the hot path with Cython (`sim.native`).

`build` compiles each module of `sim.native.HOT_MODULES` whose compiled form is missing or
stale, with Python's semantics (`sim.native.DIRECTIVES`), into `sim/_native/`, and then
replaces the manifest at once. It compiles a copy of each source taken when it starts and
records the copy's SHA-256, so a file saved during the build is simply stale afterwards; each
compiled file's name carries that hash, so no file is ever replaced by other code, and a
build killed at any point leaves a manifest that names only files holding what it says. One
build runs at a time (a lock file). It needs Cython (the `native` extra) and a working C
compiler; without them it says so in one line and exits 0, and what is not compiled runs as
Python. `status` lists how each hot module loads.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sim.native import (
    DIRECTIVES,
    HOT_MODULES,
    MANIFEST,
    NATIVE_DIR,
    PURE_ENV,
    ROOT,
    compiled_name,
    digest,
    fresh_modules,
    interpreter_tag,
    listed_modules,
    source_of,
)


class CompilerUnusable(RuntimeError):
    """The C compiler cannot build an extension module here (missing, or no Python headers)."""


def build(modules: Sequence[str] = HOT_MODULES, jobs: int | None = None) -> dict[str, Path]:
    """Compile the stale or missing `modules` into `NATIVE_DIR` and write its manifest.
    Returns the fresh compiled modules. Raises `CompilerUnusable`, or what Cython raises
    (ImportError without it)."""
    fresh = fresh_modules()
    if all(module in fresh for module in modules):
        return {module: fresh[module] for module in modules}
    NATIVE_DIR.mkdir(parents=True, exist_ok=True)
    with _build_lock(), tempfile.TemporaryDirectory(dir=NATIVE_DIR, prefix="building-") as folder:
        staging = Path(folder)
        probe_compiler(staging)
        listed = listed_modules()
        stale = [module for module in modules if not (module in listed and listed[module].matches(module))]
        copies = {module: staging.joinpath("src", *module.split(".")).with_suffix(".py") for module in stale}
        for module, copy in copies.items():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source_of(module), copy)
            declarations = source_of(module).with_suffix(".pxd")
            if declarations.is_file():  # Cython reads the module's .pxd beside its .py
                shutil.copyfile(declarations, copy.with_suffix(".pxd"))
        shas = {module: digest(copy) for module, copy in copies.items()}
        _compile(copies, staging, jobs or os.cpu_count() or 1)
        entries = {module: {"file": listed[module].path.relative_to(NATIVE_DIR).as_posix(),
                            "source_sha256": listed[module].source_sha256, "size": listed[module].size}
                   for module in modules if module not in stale}
        for module in stale:
            name = compiled_name(module, shas[module])
            built = staging.joinpath("lib", *module.split(".")).with_suffix(interpreter_tag())
            target = NATIVE_DIR / name
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(built, target)  # a new name: nothing running, nor any manifest, names it yet
            entries[module] = {"file": name, "source_sha256": shas[module], "size": target.stat().st_size}
        write_manifest(entries)
        _remove_unlisted(entries)
    return {module: path for module, path in fresh_modules().items() if module in modules}


def _compile(sources: dict[str, Path], staging: Path, jobs: int) -> None:
    """Cythonize and compile `sources` (module -> a copy of its `.py`) into `staging/lib`."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    # -w: the C compiler's warnings are about Cython's generated code, not ours; -g0: no debug
    # information (a smaller build, sooner)
    extensions = cythonize([Extension(module, [str(source)], extra_compile_args=["-w", "-g0"])
                            for module, source in sources.items()],
                           build_dir=str(staging / "c"), compiler_directives=DIRECTIVES,
                           quiet=True, nthreads=jobs, force=True)
    command = build_ext(Distribution({"ext_modules": extensions}))
    command.build_lib = str(staging / "lib")
    command.build_temp = str(staging / "obj")
    command.parallel = jobs
    command.ensure_finalized()
    command.run()


def probe_compiler(staging: Path) -> None:
    """Compile a file that includes Python.h, as an extension module does, or raise
    `CompilerUnusable` with the compiler's first complaint: so that a machine without a
    compiler, or without Python's headers, gets one line rather than one error per module."""
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    probe = staging / "probe.c"
    probe.write_text("#include <Python.h>\nint cascadesim_probe(void) { return 0; }\n")
    try:
        done = subprocess.run([*compiler, "-I", sysconfig.get_paths()["include"], "-c", str(probe),
                               "-o", str(staging / "probe.o")], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise CompilerUnusable(f"no usable C compiler: {error}") from error
    if done.returncode != 0:
        complaint = next((line for line in done.stderr.splitlines() if "error" in line), done.stderr.strip()[:200])
        raise CompilerUnusable(f"the C compiler cannot build against Python's headers: {complaint}")


@contextmanager
def _build_lock() -> Iterator[None]:
    """Hold `sim/_native/.lock` while building: a second build waits for the first."""
    with open(NATIVE_DIR / ".lock", "a") as handle:
        try:
            import fcntl
        except ImportError:  # no fcntl (Windows): builds are not serialised
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_manifest(entries: dict[str, dict[str, object]]) -> None:
    """Write the manifest of `entries` (module -> file, source SHA-256, size), replacing the
    old one at once: a reader sees the old manifest or the new one."""
    document = {"interpreter": interpreter_tag(), "directives": DIRECTIVES, "modules": dict(sorted(entries.items()))}
    with tempfile.NamedTemporaryFile("w", dir=MANIFEST.parent, prefix="manifest-", suffix=".partial",
                                     delete=False) as partial:
        partial.write(json.dumps(document, indent=1) + "\n")
    os.replace(partial.name, MANIFEST)


def _remove_unlisted(entries: dict[str, dict[str, object]]) -> None:
    """Delete the compiled files the manifest no longer names (a process that loaded one keeps
    it: the file goes when the last user closes it)."""
    named = {NATIVE_DIR / str(entry["file"]) for entry in entries.values()}
    for path in NATIVE_DIR.rglob(f"*{interpreter_tag()}"):
        if path not in named and not path.relative_to(NATIVE_DIR).parts[0].startswith("building-"):
            path.unlink(missing_ok=True)


def status() -> list[tuple[str, str]]:
    """(module, how it loads) for each hot module: `compiled`, `stale` (edited since it was
    compiled: runs as Python), `not built`, or `ignored` under CASCADESIM_PURE_PYTHON."""
    listed = listed_modules()
    rows = []
    for module in HOT_MODULES:
        if module not in listed:
            how = "not built: runs as Python"
        elif not listed[module].matches(module):
            how = "stale: runs as Python"
        else:
            how = f"ignored ({PURE_ENV})" if os.environ.get(PURE_ENV) else "compiled"
        rows.append((module, how))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """A build that cannot compile says why in one line and exits 0: what is not compiled runs
    as Python, which gives the same results."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["status"]:
        for module, how in status():
            print(f"{module:32} {how}")
        return 0
    if args != ["build"]:
        print("usage: python -m sim.compile build|status", file=sys.stderr)
        return 2
    stale = len(HOT_MODULES) - len(fresh_modules())
    if stale:
        modules = f"{stale} hot module{'s' if stale != 1 else ''}"
        print(f"cascadesim: compiling {modules} with Cython (once; later builds compile only the modules "
              "edited since)", flush=True)
    try:
        built = build()
    except Exception as error:  # noqa: BLE001 - whatever stops the compiler leaves Python, which is correct
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        python = len(HOT_MODULES) - len(fresh_modules())
        print(f"cascadesim: the hot path was not compiled ({reason}); {python} of {len(HOT_MODULES)} hot modules "
              "run as Python", file=sys.stderr)
        return 0
    print(f"cascadesim: {len(built)} of {len(HOT_MODULES)} hot modules compiled into {NATIVE_DIR.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
