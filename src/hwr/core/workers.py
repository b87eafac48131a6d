"""Process pools for the CPU-bound stages (synth, preprocess): start method, worker signals, shutdown."""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def context(method: str | None = None):
    """``method`` if given, else fork where the OS has it (workers start at once, inherit the
    parent's warm caches and need no importable __main__), else the platform's default."""
    if not method:
        method = "fork" if "fork" in mp.get_all_start_methods() else None
    return mp.get_context(method)


def _die_with_parent(parent: int) -> None:
    """On Linux, the kernel sends this worker SIGTERM when its parent dies, even by kill -9: it
    stops at once instead of finishing its task and printing a BrokenPipeError traceback when it
    finds the parent's pipe gone. A parent that died before this call (the worker was still
    starting) sends nothing, so the worker checks it is still its parent's. Elsewhere, nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl here: workers outlive a killed parent as before
        return
    if os.getppid() != parent:  # orphaned already: adopted by init or a subreaper
        os._exit(1)


def _start_worker(parent: int, initializer: Callable | None, initargs: tuple) -> None:
    # A stage turns SIGTERM into KeyboardInterrupt; a forked worker inherits that, and one blocked on
    # the pool's queue lock never gets to raise it, so Pool.terminate() would wait for it forever.
    # Workers die on SIGTERM at once, and leave Ctrl-C to the parent, which then terminates them.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    if initializer is not None:
        initializer(*initargs)


@contextmanager
def pool(jobs: int, initializer: Callable | None = None, initargs: tuple = (), method: str | None = None) -> Iterator:
    """A process pool: closed and joined after the block succeeds; on an error or Ctrl-C, its
    queued work is dropped and its workers are terminated."""
    workers = context(method).Pool(jobs, initializer=_start_worker, initargs=(os.getpid(), initializer, initargs))
    try:
        yield workers
    except BaseException:
        workers.terminate()
        workers.join()
        raise
    workers.close()
    workers.join()
