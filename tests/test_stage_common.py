"""The stages' shared runner: allocator choice for the preload wrapper."""

import sys
from pathlib import Path

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
