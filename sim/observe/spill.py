"""Where a collector writes its rows out while a run goes: a temporary folder owned by one process.

A spill folder is `<tmp>/cascadesim-spill-<pid>-<table>-<random>` (`<tmp>` is
`tempfile.gettempdir()`, `$TMPDIR` if set). It is removed when nothing refers to it any more
(its table dropped with the run's `Results`), or when the process exits, and only ever by the
process that made it: a forked child that drops an inherited copy leaves the parent's folder
alone. A process killed by SIGKILL removes nothing, so the first spill folder a process creates
first removes those of processes that no longer exist (`remove_stale`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import weakref
from pathlib import Path

PREFIX = "cascadesim-spill-"
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+)-")
_swept = False
"""Whether this process has looked for stale folders yet (once is enough)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(folder: Path | None = None) -> list[Path]:
    """Remove the spill folders in `folder` (the temporary folder) whose process no longer exists;
    return them. A folder whose pid was reused by a live process is kept: never a live run's."""
    removed = []
    parent = Path(tempfile.gettempdir()) if folder is None else folder
    with contextlib.suppress(OSError):
        for path in parent.iterdir():
            match = _NAME.match(path.name)
            if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:
        shutil.rmtree(path, ignore_errors=True)


class SpillFolder:
    """A temporary folder for one table's rows, removed with this object or at exit by the
    process that created it (see the module docstring)."""

    def __init__(self, table: str):
        global _swept
        if not _swept:
            _swept = True
            remove_stale()
        self.path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-{table}-"))
        self._finalizer = weakref.finalize(self, _remove, self.path, os.getpid())

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("a spill folder belongs to the process that made it; pickle the table, not its folder")
