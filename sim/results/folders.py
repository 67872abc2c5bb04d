"""Replacing a folder so that a kill at any instant loses nothing: staging, exchange, locking,
and recognising what a killed writer left behind.

A writer builds the new folder under a temporary name next to the final one (`staging`), and
only then puts it in place (`install`):

- nothing at the final path yet: one `rename`, atomic;
- a folder already there: on Linux one `renameat2(RENAME_EXCHANGE)` swaps the two atomically, so
  the final path holds the old complete folder until the instant it holds the new one; the old
  one, now under the temporary name, is then removed;
- where the exchange is not supported: the old folder is renamed aside (`.cascadesim-old-...`),
  the new one renamed in, and the old one removed. Between the two renames the final path is
  empty, but the old complete folder exists under the aside name, and `clean_leftovers` puts it
  back if the writer was killed there.

Writers of one parent folder take an exclusive `flock` on it (`parent_lock`), so they run one
after the other, and any temporary folder found while holding the lock belongs to a writer that
died: `clean_leftovers` removes it (or restores it, above). Ctrl-C and SIGTERM are held back
while a writer writes (`signals_deferred`) and delivered between two files, never inside a
library writing one, nor during `install` or while a failed writer removes its staging folder;
SIGKILL can stop a writer anywhere, and the next writer cleans up.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import re
import secrets
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".cascadesim-"
"""Every temporary folder or file a writer creates starts with this."""
_TEMP = re.compile(r"^\.cascadesim-(?P<kind>new|old|tmp)-(?P<name>.+)-(?P<token>[0-9a-f]{12})$")
_LEGACY_TEMP = re.compile(r"^\.(none|local|softlock|hard|lease)-seed\d+-[a-z0-9_]{8}$")
"""Staging folders of cascadesim before 0.2 (`tempfile.mkdtemp(prefix=".<run>-")`), which a kill left behind."""
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def temp_path(parent: Path, kind: str, name: str) -> Path:
    """A fresh temporary name in `parent` for `name`: `kind` is `new` (a folder being written),
    `old` (a folder moved aside) or `tmp` (a file being written)."""
    return parent / f"{TEMP_PREFIX}{kind}-{name}-{secrets.token_hex(6)}"


class Deferred:
    """SIGINT and SIGTERM received inside a `signals_deferred` block, delivered at `checkpoint()`
    (a point where the writer may stop cleanly) or when the block ends."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.previous: dict[int, Any] = {}

    def remember(self, signum: int, _frame: object) -> None:
        self.received.append(signum)

    def checkpoint(self) -> None:
        """Deliver the first signal received so far, as its own handler would have (Ctrl-C raises
        KeyboardInterrupt here, not inside whatever library code was running)."""
        if self.received:
            signum = self.received[0]
            self.received.clear()
            handler = self.previous.get(signum, signal.SIG_DFL)
            if callable(handler):  # Python's own (KeyboardInterrupt), the command line's, or an outer block's
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                signal.signal(signum, signal.SIG_DFL)
                signal.raise_signal(signum)  # the default action: end the process


@contextlib.contextmanager
def signals_deferred() -> Iterator[Deferred]:
    """Hold SIGINT and SIGTERM back for the block: they are delivered at `Deferred.checkpoint()`
    or when the block ends (not if it ends with an exception, which is already unwinding).

    Outside the main thread (where handlers cannot change) the block runs unprotected."""
    deferred = Deferred()
    try:
        deferred.previous = {s: signal.signal(s, deferred.remember) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield deferred
        return
    try:
        yield deferred
    finally:
        for signum, handler in deferred.previous.items():
            signal.signal(signum, handler)
        if sys.exc_info()[1] is None:
            deferred.checkpoint()


@contextlib.contextmanager
def parent_lock(parent: Path, on_wait: Callable[[], None] | None = None) -> Iterator[list[Path]]:
    """Create `parent` if needed and hold an exclusive lock on it for the block; when another
    process holds it, call `on_wait` once and wait for it. The block gets the folders this call
    created (deepest first), for a writer that fails to remove again when they are empty."""
    created = [folder for folder in (parent, *parent.parents) if not folder.exists()]
    waited = False
    while True:
        parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None and not waited:
                on_wait()
            waited = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        if os.path.exists(parent) and os.path.samestat(os.fstat(fd), os.stat(parent)):
            break
        os.close(fd)  # the writer before removed the folder it had created: lock the new one
    try:
        yield created
    finally:
        os.close(fd)  # releases the lock


def remove_if_empty(folders: list[Path]) -> None:
    """Remove each folder (deepest first) that is empty; stop at the first that is not."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux `renameat2(RENAME_EXCHANGE)`); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def remove_folder(folder: Path, first: str | None = None) -> None:
    """Remove `folder` and everything in it, the file `first` before the rest (a completion
    marker, so that a folder half removed never looks complete); a file or a link there (what
    a forced replacement swapped out) is removed as it is."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink(missing_ok=True)
        return
    if first is not None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            (folder / first).unlink()
    shutil.rmtree(folder, ignore_errors=True)


def fsync_tree(folder: Path) -> None:
    """Flush every file of `folder`, and the folder itself, to disk."""
    for path in sorted(folder.iterdir()):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_folder(folder)


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (names created, renamed or removed) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(staging: Path, final: Path, marker: str | None = None) -> None:
    """Put the complete folder `staging` at `final`, replacing what is there (see the module
    docstring); call it holding the parent's lock. `marker` is removed first from the old folder."""
    with signals_deferred():
        if not final.exists():
            staging.rename(final)
        elif _exchange(staging, final):
            remove_folder(staging, marker)  # staging now holds the old folder
        else:
            aside = temp_path(final.parent, "old", final.name)
            final.rename(aside)
            staging.rename(final)
            remove_folder(aside, marker)
        fsync_folder(final.parent)


def install_file(staging: Path, final: Path) -> None:
    """Put the complete file `staging` at `final` in one atomic rename."""
    with signals_deferred():
        staging.replace(final)


def is_leftover(name: str) -> bool:
    """Whether a folder or file name is one of a writer's temporary names."""
    return bool(_TEMP.match(name) or _LEGACY_TEMP.match(name))


def clean_leftovers(parent: Path, marker: str | None = None) -> list[str]:
    """Remove what killed writers left in `parent` (call it holding the parent's lock): staging
    folders and files, and old folders moved aside, except that an old folder whose final name
    is free is put back (its writer died between its two renames). Returns the names handled."""
    handled = []
    for path in sorted(parent.iterdir()):
        if not is_leftover(path.name):
            continue
        match = _TEMP.match(path.name)
        final = parent / match.group("name") if match else None
        with signals_deferred():
            if match and match.group("kind") == "old" and final is not None and not final.exists():
                path.rename(final)
            elif path.is_dir() and not path.is_symlink():
                remove_folder(path, marker)
            else:
                path.unlink(missing_ok=True)
        handled.append(path.name)
    return handled
