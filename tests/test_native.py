"""hwr.native: the compiled kernels build where a compiler is, and their absence only costs speed."""

import logging
import shutil

import pytest
import torch

from hwr import native
from hwr.model import CRNN


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler on this machine")
def test_kernels_build_where_a_compiler_is_present():
    """The speed of training on a CPU depends on this build; a machine with a compiler must get it."""
    assert native.recurrent_ops() is not None and native.block_ops() is not None


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("HWR_NATIVE", "0")
    native.load.cache_clear()
    try:
        assert native.recurrent_ops() is None
    finally:
        monkeypatch.delenv("HWR_NATIVE")
        native.load.cache_clear()


def test_a_failed_build_falls_back_with_a_warning(monkeypatch, caplog):
    import torch.utils.cpp_extension as cpp_extension

    def broken(**_):
        raise RuntimeError("Error building extension 'hwr_recurrent'\nc++: fatal error: no input files")

    monkeypatch.setattr(cpp_extension, "load", broken)
    native.load.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="hwr.native"):
            assert native.recurrent_ops() is None
        assert "c++: fatal error: no input files" in caplog.text and "pure-torch" in caplog.text
        net = CRNN("lstm").to(memory_format=torch.channels_last)  # and the network still trains
        net(torch.zeros(2, 64, 256, dtype=torch.uint8)).sum().backward()
        assert all(p.grad is not None for p in net.parameters())
    finally:
        native.load.cache_clear()
