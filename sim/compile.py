"""`python -m sim.compile build|status`: compile the hot path with Cython (`sim.native`).

`build` compiles each module of `sim.native.HOT_MODULES` whose compiled form is missing or
stale, from its own source and with Python's semantics (`sim.native.DIRECTIVES`), into
`sim/_native/`, and then replaces the manifest at once. It needs Cython (the `native` extra) and a C compiler; without
them it says so in one line and exits 0, and everything runs as Python. `status` lists how
each hot module loads.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sim.native import (
    DIRECTIVES,
    HOT_MODULES,
    MANIFEST,
    NATIVE_DIR,
    PURE_ENV,
    ROOT,
    compiled_path,
    digest,
    fresh_modules,
    interpreter_tag,
    source_of,
)

BUILD_DIR = ROOT / "build"


def build(modules: Sequence[str] = HOT_MODULES, jobs: int | None = None) -> dict[str, Path]:
    """Compile the stale or missing `modules` into `NATIVE_DIR` and write its manifest.
    Returns the fresh compiled modules. Raises what Cython or the C compiler raise
    (ImportError without Cython)."""
    from Cython.Build import cythonize
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    jobs = jobs or os.cpu_count() or 1
    fresh = fresh_modules()
    stale = [module for module in modules if module not in fresh]
    if not stale:
        return {module: fresh[module] for module in modules}
    shas = {module: digest(source_of(module)) for module in stale}  # before compiling: an edit meanwhile makes it stale
    # -w: the C compiler's warnings are about Cython's generated code, not ours; -g0: no debug
    # information (a smaller build, sooner)
    extensions = cythonize([Extension(module, [str(source_of(module))], extra_compile_args=["-w", "-g0"])
                            for module in stale],
                           build_dir=str(BUILD_DIR / "cython"), compiler_directives=DIRECTIVES,
                           quiet=True, nthreads=jobs, force=True)
    NATIVE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=NATIVE_DIR, prefix="building-") as staging:
        command = build_ext(Distribution({"ext_modules": extensions}))
        command.build_lib = staging
        command.build_temp = str(BUILD_DIR / "native")
        command.parallel = jobs
        command.force = True  # a stale module is compiled again even where an older build's files look newer
        command.ensure_finalized()
        command.run()
        # Each new file takes its place by a rename: a process running the old one keeps it.
        for module in stale:
            target = compiled_path(module)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(staging).joinpath(target.relative_to(NATIVE_DIR)), target)
    compiled = {module: fresh.get(module) or compiled_path(module) for module in modules}
    write_manifest(compiled, {module: shas.get(module) or digest(source_of(module)) for module in compiled})
    return compiled


def write_manifest(compiled: dict[str, Path], shas: dict[str, str]) -> None:
    """Write the manifest of `compiled` (module -> file) built from sources of SHA-256 `shas`,
    replacing the old one at once: a reader sees the old manifest or the new one."""
    document = {
        "interpreter": interpreter_tag(),
        "directives": DIRECTIVES,
        "modules": {module: {"file": str(path.relative_to(NATIVE_DIR)), "source_sha256": shas[module]}
                    for module, path in sorted(compiled.items())},
    }
    partial = MANIFEST.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=1) + "\n")
    os.replace(partial, MANIFEST)


def status() -> list[tuple[str, str]]:
    """(module, how it loads) for each hot module: `compiled`, `stale` (edited since it was
    compiled: runs as Python), `not built`, or `ignored` under CASCADESIM_PURE_PYTHON."""
    try:
        listed = json.loads(MANIFEST.read_text()).get("modules", {})
    except (OSError, ValueError, AttributeError):
        listed = {}
    fresh = fresh_modules()
    rows = []
    for module in HOT_MODULES:
        if module in fresh:
            how = f"ignored ({PURE_ENV})" if os.environ.get(PURE_ENV) else "compiled"
        else:
            how = "stale: runs as Python" if module in listed else "not built: runs as Python"
        rows.append((module, how))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """A build that cannot compile says why in one line and exits 0: the simulator then runs
    as Python, which gives the same results."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["status"]:
        for module, how in status():
            print(f"{module:32} {how}")
        return 0
    if args != ["build"]:
        print("usage: python -m sim.compile build|status", file=sys.stderr)
        return 2
    try:
        built = build()
    except Exception as error:  # noqa: BLE001 - whatever stops the compiler leaves pure Python, which is correct
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        print(f"cascadesim: the hot path was not compiled ({reason}); everything runs as Python", file=sys.stderr)
        return 0
    print(f"cascadesim: {len(built)} of {len(HOT_MODULES)} hot modules compiled into {NATIVE_DIR.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
