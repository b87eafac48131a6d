"""What every stage script shares: logging set-up, params loading, one-line errors, clean stops."""

from __future__ import annotations

import ctypes.util
import logging
import os
import signal
import sys
from typing import Callable

from hwr import params as params_module
from hwr.errors import HwrError

log = logging.getLogger("hwr")


def _terminate(signum, frame):  # SIGTERM stops a stage like Ctrl-C does
    raise KeyboardInterrupt


ALLOCATORS = {"tcmalloc": ("tcmalloc_minimal", "tcmalloc"), "jemalloc": ("jemalloc",)}


def allocator_library(choice: str, preloaded: str = "") -> str | None:
    """The allocator library to preload for ``choice`` (HWR_ALLOCATOR: auto, tcmalloc, jemalloc,
    system), or None when none applies, one is already preloaded, or none is installed.

    Why: with glibc malloc, each training step hands its large buffers back to the OS and faults
    them in again; tcmalloc trained the GRU 1.28x and jemalloc 1.10x faster here
    (benchmarks/bench_train.py)."""
    if choice == "system" or any(name in preloaded for names in ALLOCATORS.values() for name in names):
        return None
    order = list(ALLOCATORS) if choice == "auto" else [choice]
    for key in order:
        for name in ALLOCATORS.get(key, ()):
            found = ctypes.util.find_library(name)
            if found:
                return found
    return None


def preload_allocator() -> None:
    """Re-execute this stage with a faster allocator preloaded, when one is installed."""
    choice = os.environ.get("HWR_ALLOCATOR", "auto")
    library = allocator_library(choice, os.environ.get("LD_PRELOAD", ""))
    if library and os.environ.get("_HWR_PRELOADED") != "1":
        env = {**os.environ, "LD_PRELOAD": " ".join(filter(None, [os.environ.get("LD_PRELOAD"), library])),
               "_HWR_PRELOADED": "1"}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def run(main: Callable[..., None], *args: str, fast_allocator: bool = False) -> None:
    """Load and validate params.yaml, then call ``main(params, *args)``.

    A user error (HwrError) is printed as one line and exits 2; Ctrl-C or SIGTERM exits 130.
    ``fast_allocator``: preload tcmalloc or jemalloc when installed (see :func:`allocator_library`)."""
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
