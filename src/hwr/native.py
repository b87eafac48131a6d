"""hwr's compiled CPU kernels (``csrc/``), built on first use with the machine's C++ compiler.

``recurrent_ops()`` returns ``torch.ops.hwr_recurrent`` (the GRU and LSTM time loops of
``hwr.recurrent``) and ``block_ops()`` ``torch.ops.hwr_blocks`` (batch norm + max-pool + ReLU for
``hwr.model``), or None where they cannot be had: no C++ compiler, a failed build, or
``HWR_NATIVE=0`` in the environment. Callers then use their pure-torch path, which computes the
same functions (within rounding) more slowly, so nothing but speed depends on the build.

The build runs once per machine, torch version and CPU capability (about 50 s on 2 cores; torch's
``cpp_extension`` caches it under ``$TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``, and locks it against concurrent builds, e.g. by DDP ranks). It is
compiled for the vector instructions torch itself picked for this CPU
(``torch.backends.cpu.get_cpu_capability()``), so the kernels use the same vectorised exp/tanh as
ATen's.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCE_DIR = Path(__file__).resolve().parent / "csrc"

# torch's CPU capability -> compiler flags and the defines that select ATen's vector implementation
_CAPABILITY_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma",
               "-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512"],
    "AVX2": ["-mavx2", "-mfma", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"],
}


def _capability() -> str:
    name = torch.backends.cpu.get_cpu_capability()
    return "AVX512" if name.startswith("AVX512") else ("AVX2" if name == "AVX2" else "DEFAULT")


def disabled() -> bool:
    return os.environ.get("HWR_NATIVE", "1").strip().lower() in ("0", "false", "no", "off")


def _put_ninja_on_path() -> None:
    """cpp_extension runs the ``ninja`` command; the pip package (a dependency) ships it beside Python,
    which is not on PATH when a virtual environment's python is run without activating it."""
    try:
        import ninja
    except ImportError:  # a system ninja may still be on PATH
        return
    if ninja.BIN_DIR not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


def _already_built(name: str) -> bool:
    """Whether cpp_extension's cache holds a build of ``name`` (only to say when a build will take time)."""
    try:
        from torch.utils.cpp_extension import _get_build_directory  # private: may move in a later torch

        return (Path(_get_build_directory(name, verbose=False)) / f"{name}.so").is_file()
    except Exception:
        return False


def recurrent_ops():
    """``torch.ops.hwr_recurrent``, or None where the kernels are unavailable."""
    return torch.ops.hwr_recurrent if load() else None


def block_ops():
    """``torch.ops.hwr_blocks``, or None where the kernels are unavailable."""
    return torch.ops.hwr_blocks if load() else None


@functools.cache
def load() -> bool:
    """Builds (once) and loads the kernels; False where that fails (the reason is logged once)."""
    if disabled():
        log.info("HWR_NATIVE=0: using the pure-torch layers")
        return False
    capability = _capability()
    name = re.sub(r"\W", "_", f"hwr_native_{torch.__version__}_{capability}")
    try:
        _put_ninja_on_path()
        from torch.utils.cpp_extension import load as build

        if not _already_built(name):
            log.info("compiling hwr's kernels for %s (once per machine and torch version, ~1 minute on 2 cores)", capability)
        build(name=name, sources=[str(SOURCE_DIR / "recurrent.cpp"), str(SOURCE_DIR / "blocks.cpp")],
             # OpenMP: ATen's parallel_for is inlined from its headers, so it splits work across
             # threads only if compiled with it (libgomp.so.1 is then the one torch has loaded)
             extra_cflags=["-O3", "-fopenmp", *_CAPABILITY_FLAGS.get(capability, [])],
             extra_ldflags=["-fopenmp"],
             is_python_module=False, verbose=False)
        return True
    except Exception as error:  # no compiler, no headers, a failed build: the torch path still works
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        log.warning("hwr's compiled kernels are unavailable (%s); using the pure-torch layers, "
                    "which are slower (set HWR_NATIVE=0 to skip the build)", reason)
        return False
