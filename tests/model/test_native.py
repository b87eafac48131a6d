"""hwr.model.native: the compiled kernels build once, announced, in a cache keyed by their sources; their
absence only costs speed."""

import logging
import shutil

import pytest
import torch

from hwr.model import native
from hwr.model.crnn import CRNN


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty kernel cache and a forgotten load(); the real kernels are found again afterwards."""
    monkeypatch.setenv("HWR_CACHE_DIR", str(tmp_path / "cache"))
    native.load.cache_clear()
    yield tmp_path / "cache"
    native.load.cache_clear()


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler on this machine")
def test_kernels_build_where_a_compiler_is_present():
    """The speed of training on a CPU depends on this build; a machine with a compiler must get it."""
    assert native.recurrent_ops() is not None and native.block_ops() is not None
    assert native.library_path().is_file()


def test_disabled_by_environment(monkeypatch, fresh):
    monkeypatch.setenv("HWR_NATIVE", "0")
    assert native.recurrent_ops() is None and native.block_ops() is None
    assert not fresh.exists(), "nothing is built"


def test_the_cache_is_keyed_by_the_sources_not_their_place(tmp_path):
    """Two checkouts of the same code share a build; a changed source or CPU gets its own, so no
    checkout rebuilds another's."""
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(native.SOURCE_DIR, a)
    shutil.copytree(native.SOURCE_DIR, b)
    assert native.build_key(a, "AVX512") == native.build_key(b, "AVX512") == native.build_key(capability="AVX512")
    with open(b / "vectorised.h", "a") as header:
        header.write("\n// changed\n")
    assert native.build_key(b, "AVX512") != native.build_key(a, "AVX512")
    assert native.build_key(a, "AVX2") != native.build_key(a, "AVX512")


def test_a_build_is_announced_before_it_starts_and_happens_once(monkeypatch, fresh, caplog):
    import torch.utils.cpp_extension as cpp_extension

    builds, loaded = [], []

    def fake_build(*, name, build_directory, **_):
        builds.append(any("compiling hwr's CPU kernels" in r.message for r in caplog.records))
        (native.Path(build_directory) / f"{name}.so").write_bytes(b"built")

    monkeypatch.setattr(cpp_extension, "load", fake_build)
    monkeypatch.setattr(torch.ops, "load_library", loaded.append)
    with caplog.at_level(logging.WARNING, logger="hwr.model.native"):
        assert native.load()
    assert builds == [True], "the warning comes before the build"
    target = native.library_path()
    assert target.parent.parent == fresh and target.read_bytes() == b"built"
    assert sorted(p.name for p in target.parent.iterdir()) == ["hwr_native.so", "lock"], "no build folder left"

    native.load.cache_clear()  # a later process: loads the cached library, builds nothing
    caplog.clear()
    assert native.load()
    assert builds == [True] and loaded == [str(target)] and "compiling" not in caplog.text


def test_a_failed_build_falls_back_with_a_warning(monkeypatch, fresh, caplog):
    import torch.utils.cpp_extension as cpp_extension

    def broken(**_):
        raise RuntimeError("Error building extension 'hwr_native'\nc++: fatal error: no input files")

    monkeypatch.setattr(cpp_extension, "load", broken)
    with caplog.at_level(logging.WARNING, logger="hwr.model.native"):
        assert native.recurrent_ops() is None
    assert "c++: fatal error: no input files" in caplog.text and "pure-torch" in caplog.text
    assert not native.library_path().exists()
    net = CRNN("lstm").to(memory_format=torch.channels_last)  # and the network still trains
    net(torch.zeros(2, 64, 256, dtype=torch.uint8)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
