"""The stages' shared runner: allocator choice for the preload wrapper."""

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages"))

import common  # noqa: E402


def test_system_choice_and_existing_preload_mean_no_preload(monkeypatch):
    monkeypatch.setattr(common.ctypes.util, "find_library", lambda name: f"lib{name}.so")
    assert common.allocator_library("system") is None
    assert common.allocator_library("auto", preloaded="/usr/lib/libjemalloc.so.2") is None


def test_auto_prefers_tcmalloc_then_jemalloc(monkeypatch):
    installed = {"jemalloc"}
    monkeypatch.setattr(common.ctypes.util, "find_library", lambda name: f"lib{name}.so" if name in installed else None)
    assert common.allocator_library("auto") == "libjemalloc.so"
    installed.add("tcmalloc_minimal")
    assert common.allocator_library("auto") == "libtcmalloc_minimal.so"
    assert common.allocator_library("jemalloc") == "libjemalloc.so"


def test_nothing_installed_means_no_preload(monkeypatch):
    monkeypatch.setattr(common.ctypes.util, "find_library", lambda name: None)
    assert common.allocator_library("auto") is None


def test_without_an_allocator_library_glibc_keeps_freed_memory(monkeypatch):
    monkeypatch.setattr(common.ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(common.platform, "libc_ver", lambda: ("glibc", "2.39"))
    env = common.allocator_env("auto", {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "GLIBC_TUNABLES": common.GLIBC_KEEP_MEMORY, "_HWR_PRELOADED": "1"}
    assert common.allocator_env("glibc", {}) is not None
    assert common.allocator_env("system", {}) is None
    assert common.allocator_env("auto", {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}) is None, "the user's own"
    assert common.allocator_env("auto", {"_HWR_PRELOADED": "1"}) is None, "already re-executed"
    monkeypatch.setattr(common.platform, "libc_ver", lambda: ("", ""))
    assert common.allocator_env("auto", {}) is None, "not glibc: nothing to tune"


def test_an_installed_library_is_preloaded_once(monkeypatch):
    monkeypatch.setattr(common.ctypes.util, "find_library", lambda name: f"lib{name}.so")
    env = common.allocator_env("auto", {"LD_PRELOAD": "libother.so"})
    assert env["LD_PRELOAD"] == "libother.so libtcmalloc_minimal.so" and "GLIBC_TUNABLES" not in env
    assert common.allocator_env("auto", {"LD_PRELOAD": "/x/libjemalloc.so.2"}) is None
    assert common.allocator_env("glibc", {})["GLIBC_TUNABLES"] == common.GLIBC_KEEP_MEMORY


KEEP_CHILD = """
import numpy
def rss_mb():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) // 1024
block = numpy.ones(200 * 2**20 // 8)  # 200 MB: glibc's default maps and unmaps a block this large
del block
print(rss_mb())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc tunables apply to glibc only")
def test_the_tunables_make_glibc_keep_a_freed_block():
    def rss_after_free(extra):
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # glibc malloc itself
        out = subprocess.run([sys.executable, "-c", KEEP_CHILD], env={**env, **extra}, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return int(out.stdout)

    default = rss_after_free({"GLIBC_TUNABLES": ""})
    kept = rss_after_free({"GLIBC_TUNABLES": common.GLIBC_KEEP_MEMORY})
    assert kept - default > 150, f"RSS after freeing 200 MB: {kept} MB tuned vs {default} MB default"
