"""Helpers of the benchmarks (benchmarks/_common.py) whose figures the benchmarks' goals rest on."""

from __future__ import annotations

import importlib.util

import pytest
from _support import REPO_ROOT


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("bench_common", REPO_ROOT / "benchmarks" / "_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_gflop_per_image_counts_the_study_network(common):
    # by hand, forward multiply-adds x 2 of one 64 x 256 image: three convolutions, the 1024 -> 64
    # projection, two bidirectional layers (64 and 1024 inputs, hidden 512) over 64 steps, 1024 -> 30
    convs = [2 * 64 * 256 * 1 * 32 * 9, 2 * 32 * 128 * 32 * 64 * 9, 2 * 16 * 64 * 64 * 128 * 9]
    dense = 2 * 64 * 1024 * 64 + 2 * 64 * 1024 * 30

    def recurrent(gates):
        return sum(2 * 64 * 2 * gates * 512 * (inputs + 512) for inputs in (64, 1024))

    for rnn, gates in (("gru", 3), ("lstm", 4)):
        forward = sum(convs) + dense + recurrent(gates)
        # backward: two products per forward one, but the image itself needs no gradient
        assert common.train_gflop_per_image(rnn) == pytest.approx((3 * forward - convs[0]) / 1e9, rel=1e-12)
    assert common.train_gflop_per_image("gru") == pytest.approx(3.45, abs=0.005)  # the speed issue's figure
    assert common.train_gflop_per_image("lstm") == pytest.approx(4.28, abs=0.005)
