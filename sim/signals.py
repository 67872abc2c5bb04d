"""Signal handlers set for a block of code, in the main thread (the only one where they can be)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

Handler = Callable[[int, Any], Any] | int | signal.Handlers | None


@contextlib.contextmanager
def handled(signum: int, handler: Handler) -> Iterator[None]:
    """`signum` handled by `handler` (a function, `SIG_IGN` or `SIG_DFL`) for the block, the
    previous handler back afterwards. Outside the main thread the block runs unchanged."""
    try:
        previous = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signum, previous)
