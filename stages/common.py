"""What every stage script shares: logging set-up, params loading, one-line errors, clean stops."""

from __future__ import annotations

import ctypes.util
import logging
import os
import platform
import signal
import sys
from typing import Callable

from hwr import params as params_module
from hwr.errors import HwrError

log = logging.getLogger("hwr")


def _terminate(signum, frame):  # SIGTERM stops a stage like Ctrl-C does
    raise KeyboardInterrupt


ALLOCATORS = {"tcmalloc": ("tcmalloc_minimal", "tcmalloc"), "jemalloc": ("jemalloc",)}

# GLIBC_TUNABLES for a process that allocates and frees the same large buffers every step: glibc
# malloc keeps what it has (no mmap for large blocks, so freeing one does not unmap it; no heap
# trimming; one arena, so no thread needs an mmap'd heap). More peak memory, none of the page faults
# of re-mapping a step's buffers. Read at process start: stages re-execute themselves with it.
GLIBC_KEEP_MEMORY = "glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=4294967295"


def _allocator_preloaded(preloaded: str) -> bool:
    return any(name in preloaded for names in ALLOCATORS.values() for name in names)


def allocator_library(choice: str, preloaded: str = "") -> str | None:
    """The allocator library to preload for ``choice`` (HWR_ALLOCATOR: auto, tcmalloc, jemalloc,
    glibc, system), or None when none applies, one is already preloaded, or none is installed.

    Why: with glibc malloc's defaults, each training step hands its large buffers back to the OS and
    faults them in again; tcmalloc trained the GRU 1.41x faster here (benchmarks/bench_train.py)."""
    if choice in ("system", "glibc") or _allocator_preloaded(preloaded):
        return None
    order = list(ALLOCATORS) if choice == "auto" else [choice]
    for key in order:
        for name in ALLOCATORS.get(key, ()):
            found = ctypes.util.find_library(name)
            if found:
                return found
    return None


def allocator_env(choice: str, environ: dict) -> dict | None:
    """The environment to re-execute a stage with, or None to run as it is.

    tcmalloc (else jemalloc) preloaded when installed; otherwise, on glibc, malloc tunables that keep
    freed memory (GLIBC_KEEP_MEMORY), which recovered most of tcmalloc's gain here (benchmarks/).
    ``system`` changes nothing, nor does an allocator or GLIBC_TUNABLES the user already set."""
    if choice == "system" or environ.get("_HWR_PRELOADED") == "1":
        return None
    preloaded = environ.get("LD_PRELOAD", "")
    library = allocator_library(choice, preloaded)
    if library:
        return {**environ, "LD_PRELOAD": " ".join(filter(None, [preloaded, library])), "_HWR_PRELOADED": "1"}
    if _allocator_preloaded(preloaded) or "GLIBC_TUNABLES" in environ or platform.libc_ver()[0] != "glibc":
        return None
    return {**environ, "GLIBC_TUNABLES": GLIBC_KEEP_MEMORY, "_HWR_PRELOADED": "1"}


def preload_allocator() -> None:
    """Re-execute this stage with a faster allocator set-up (see :func:`allocator_env`)."""
    env = allocator_env(os.environ.get("HWR_ALLOCATOR", "auto"), dict(os.environ))
    if env is not None:
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def run(main: Callable[..., None], *args: str, fast_allocator: bool = False) -> None:
    """Load and validate params.yaml, then call ``main(params, *args)``.

    A user error (HwrError) is printed as one line and exits 2; Ctrl-C or SIGTERM exits 130.
    ``fast_allocator``: preload tcmalloc or jemalloc when installed, else keep glibc's freed memory
    (see :func:`allocator_env`)."""
    if fast_allocator:
        preload_allocator()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main(params_module.load("params.yaml"), *args)
    except HwrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished outputs are intact; re-run to continue", file=sys.stderr)
        sys.exit(130)
