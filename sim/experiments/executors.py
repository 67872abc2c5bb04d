"""Where a sweep's runs, or a scenario's independent cascades (`cascadesim run --jobs`), execute:
local worker processes, or a Dask distributed cluster.

Both are a `concurrent.futures.Executor`: `ProcessPoolExecutor` on this machine, and Dask's
`Client.get_executor()` (its futures are `concurrent.futures.Future`s) on a cluster, so sweeps
and cascades have one code path each and a laptop and a cluster give the same results. A Dask cluster is an existing
scheduler (`--scheduler tcp://HOST:PORT`) or a `LocalCluster` started here (`--executor dask`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass

from sim.signals import handled

SCHEDULER_TIMEOUT_S = 20.0
"""How long to wait for a Dask scheduler to answer, and for a first worker to join it, before giving up."""


class ExecutorError(Exception):
    """An executor that cannot be used (no scheduler at the address, workers of another version)."""


@dataclass(frozen=True)
class Workers:
    """An open executor, how many runs it executes at once, and a description for the user."""

    executor: Executor
    slots: int
    description: str


def _package_version() -> str | None:
    from sim.experiments.provenance import code_version

    return code_version()["package_version"]


def _watch(sweep_pid: int) -> None:
    """Wait until the sweep's process ends, then end this worker at once."""
    try:
        fd = os.pidfd_open(sweep_pid)
    except (AttributeError, OSError):  # no pidfd (not Linux 5.3+): poll instead
        while True:
            try:
                os.kill(sweep_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            time.sleep(1.0)
    select.select([fd], [], [])
    os._exit(1)


def _end_with_the_sweep(sweep_pid: int) -> None:
    """In a local worker: end as soon as the sweep's process does, even on SIGKILL. A worker is a
    child of multiprocessing's fork server, which a killed sweep leaves running (and which the
    workers keep alive), so neither the parent's death signal nor a closed pipe would reach it."""
    threading.Thread(target=_watch, args=(sweep_pid,), daemon=True, name="end-with-the-sweep").start()


@contextlib.contextmanager
def _local(workers: int | None) -> Iterator[Workers]:
    slots = workers or os.cpu_count() or 1
    # Workers fork from a server that imported the simulator once: no fork of this process (which
    # may run a progress bar's thread), and no per-worker import cost.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["sim.experiments.sweep"])
    pool = ProcessPoolExecutor(max_workers=slots, mp_context=context, initializer=_end_with_the_sweep,
                               initargs=(os.getpid(),))
    try:
        yield Workers(pool, slots, f"{slots} local worker process{'es' if slots > 1 else ''}")
    finally:
        # A run still going after an interrupt would hold the command for its whole length: end
        # the workers (taken before `shutdown`, which forgets them) instead of waiting for them.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        pool.shutdown(wait=True)


@contextlib.contextmanager
def _dask(workers: int | None, scheduler: str | None) -> Iterator[Workers]:
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is None:
            slots = workers or os.cpu_count() or 1
            # Processes started with SIGINT ignored keep it ignored (Python leaves an inherited ignored
            # SIGINT alone): a terminal's Ctrl-C, sent to the whole process group, then interrupts the
            # sweep alone, which closes the cluster, instead of every worker printing a KeyboardInterrupt.
            with handled(signal.SIGINT, signal.SIG_IGN):
                cluster = stack.enter_context(LocalCluster(n_workers=slots, threads_per_worker=1, processes=True,
                                                           dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
            where = f"a Dask LocalCluster of {slots} worker process{'es' if slots > 1 else ''}"
        else:
            try:
                client = stack.enter_context(Client(scheduler, timeout=SCHEDULER_TIMEOUT_S))
            except (OSError, TimeoutError, ValueError) as err:
                raise ExecutorError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({err})") from None
            if not client.nthreads():  # workers may still be joining
                try:
                    client.wait_for_workers(1, timeout=SCHEDULER_TIMEOUT_S)
                except TimeoutError:
                    raise ExecutorError(f"--scheduler {scheduler}: no worker joined the cluster within "
                                        f"{SCHEDULER_TIMEOUT_S:.0f} s") from None
            slots = sum(client.nthreads().values())
            mine = _package_version()
            try:
                theirs = set(client.run(_package_version).values())
            except Exception as err:  # Dask re-raises what the workers raised: no cascadesim there
                raise ExecutorError(f"--scheduler {scheduler}: its workers cannot run cascadesim ({err}); "
                                    f"install cascadesim {mine} on every worker") from None
            if theirs != {mine}:
                raise ExecutorError(f"--scheduler {scheduler}: its workers run cascadesim {sorted(map(str, theirs))}, "
                                    f"this is {mine}; install the same version on every worker")
            where = f"the Dask cluster at {scheduler} ({slots} worker threads)"
        executor = client.get_executor(pure=False)
        try:
            yield Workers(executor, slots, where)
        finally:
            executor.shutdown(wait=False)


@contextlib.contextmanager
def open_executor(*, workers: int | None = None, dask: bool = False, scheduler: str | None = None) -> Iterator[Workers]:
    """Local worker processes (`workers`, default one per CPU), or Dask when `dask` or `scheduler`."""
    if dask or scheduler is not None:
        with _dask(workers, scheduler) as opened:
            yield opened
    else:
        with _local(workers) as opened:
            yield opened
