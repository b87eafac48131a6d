"""hwr's compiled CPU kernels (``csrc/``), built once with the machine's C++ compiler.

``recurrent_ops()`` returns ``torch.ops.hwr_recurrent`` (the GRU and LSTM time loops of
``hwr.model.recurrent``) and ``block_ops()`` ``torch.ops.hwr_blocks`` (batch norm + max-pool + ReLU for
``hwr.model.crnn``), or None where they cannot be had: no C++ compiler, a failed build, or
``HWR_NATIVE=0`` in the environment. Callers then use their pure-torch path, which computes the
same functions (within rounding) more slowly, so nothing but speed depends on the build.

``python -m hwr.model.native`` builds them ahead of time (``make install`` runs it); otherwise the first
process that needs them builds them, and says so in a warning before it starts. The library is
cached under ``$HWR_CACHE_DIR`` (default ``$XDG_CACHE_HOME/hwr``, i.e. ``~/.cache/hwr``) in a folder
named by a hash of the sources, the compiler flags, the torch version and the CPU capability:
checkouts with the same sources share one build, a changed source gets a build of its own, and no
checkout ever rebuilds another's. A lock serialises concurrent builds (DDP ranks, parallel tests) and
the finished library is renamed into place, so no process loads a half-written one.

The kernels are compiled for the vector instructions torch itself picked for this CPU
(``torch.backends.cpu.get_cpu_capability()``), so they use the same vectorised exp/tanh as ATen's.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import torch

from hwr.core.files import cache_dir

log = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).resolve().parent / "csrc"
SOURCES = ("recurrent.cpp", "blocks.cpp")
HEADERS = ("vectorised.h",)
LIBRARY = "hwr_native.so"

# torch's CPU capability -> compiler flags and the defines that select ATen's vector implementation
_CAPABILITY_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma",
               "-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512"],
    "AVX2": ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"],
}
# OpenMP: ATen's parallel_for is inlined from its headers, so it splits work across threads only if
# compiled with it (libgomp.so.1 is then the one torch has loaded)
_LDFLAGS = ("-fopenmp",)


def _capability() -> str:
    name = torch.backends.cpu.get_cpu_capability()
    return "AVX512" if name.startswith("AVX512") else ("AVX2" if name == "AVX2" else "DEFAULT")


def _cflags(capability: str) -> list[str]:
    return ["-O3", "-fopenmp", *_CAPABILITY_FLAGS.get(capability, [])]


def disabled() -> bool:
    return os.environ.get("HWR_NATIVE", "1").strip().lower() in ("0", "false", "no", "off")


def build_key(source_dir: Path = SOURCE_DIR, capability: str | None = None) -> str:
    """Names one build: the sources' bytes, the flags, the torch version and the CPU capability
    (not the sources' location: two checkouts of the same code share a build)."""
    capability = capability or _capability()
    digest = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        digest.update(name.encode() + b"\0" + (Path(source_dir) / name).read_bytes() + b"\0")
    digest.update(json.dumps([torch.__version__, capability, _cflags(capability), list(_LDFLAGS)]).encode())
    return f"kernels-{capability.lower()}-{digest.hexdigest()[:16]}"


def library_path(source_dir: Path = SOURCE_DIR, capability: str | None = None) -> Path:
    return cache_dir() / build_key(source_dir, capability) / LIBRARY


@contextlib.contextmanager
def _exclusive(lock_file: Path):
    """Holds an exclusive lock on ``lock_file`` (released when the process dies, unlike a marker file)."""
    import fcntl

    with open(lock_file, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _put_ninja_on_path() -> None:
    """cpp_extension runs the ``ninja`` command; the pip package (a dependency) ships it beside Python,
    which is not on PATH when a virtual environment's python is run without activating it."""
    try:
        import ninja
    except ImportError:  # a system ninja may still be on PATH
        return
    if ninja.BIN_DIR not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


def _build(target: Path, capability: str) -> None:
    """Compiles the kernels into a work folder beside ``target`` (loading them into this process),
    then renames the library to ``target``."""
    from torch.utils.cpp_extension import load as compile_and_load

    _put_ninja_on_path()
    work = target.parent / "build"
    shutil.rmtree(work, ignore_errors=True)  # what a killed build left
    work.mkdir(parents=True)
    compile_and_load(name=Path(LIBRARY).stem, sources=[str(SOURCE_DIR / name) for name in SOURCES],
                     extra_cflags=_cflags(capability), extra_ldflags=list(_LDFLAGS), build_directory=str(work),
                     is_python_module=False, verbose=False)
    os.replace(work / LIBRARY, target)
    shutil.rmtree(work, ignore_errors=True)


def recurrent_ops():
    """``torch.ops.hwr_recurrent``, or None where the kernels are unavailable."""
    return torch.ops.hwr_recurrent if load() else None


def block_ops():
    """``torch.ops.hwr_blocks``, or None where the kernels are unavailable."""
    return torch.ops.hwr_blocks if load() else None


@functools.cache
def load() -> bool:
    """Loads the kernels, building them first if this machine has no build of these sources;
    False where that fails (the reason is logged once)."""
    if disabled():
        log.info("HWR_NATIVE=0: using the pure-torch layers")
        return False
    try:
        capability = _capability()
        target = library_path(capability=capability)
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            with _exclusive(target.parent / "lock"):
                if not target.is_file():  # not built by another process while this one waited
                    log.warning("compiling hwr's CPU kernels for %s into %s: once for this version of hwr "
                                "and torch (about a minute on 2 cores; `python -m hwr.model.native` does it ahead)",
                                capability, target.parent)
                    _build(target, capability)
                    log.info("hwr's CPU kernels are built")
                    return True
        torch.ops.load_library(str(target))
        return True
    except Exception as error:  # no compiler, no headers, a failed build: the torch path still works
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        log.warning("hwr's compiled kernels are unavailable (%s); using the pure-torch layers, "
                    "which are slower (set HWR_NATIVE=0 to skip the build)", reason)
        return False


if __name__ == "__main__":  # python -m hwr.model.native: build (or check) the kernels now
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if load():
        log.info("hwr's CPU kernels: %s", library_path())
