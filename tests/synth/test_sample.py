"""hwr.synth.sample (render_sample): one sample of each style, inked on white paper, reproducible."""

import numpy as np
import pytest

from hwr.core.alphabet import ALPHABET, MAX_LABEL_LENGTH
from hwr.synth import render_sample


@pytest.mark.parametrize("mix", [None, {"hershey": 1.0}, {"ttf": 1.0}])
def test_render_not_blank(mix):
    for i in range(12):
        img, label = render_sample(np.random.default_rng(i), mix)
        assert img.mode == "RGB"
        g = np.asarray(img.convert("L"))
        assert (g < 100).sum() >= 15, (i, label)  # ink
        assert (g >= 235).mean() > 0.6, (i, label)  # white paper
        assert set(label) <= set(ALPHABET) and 1 <= len(label) <= MAX_LABEL_LENGTH


def test_render_sample_deterministic():
    a, la = render_sample(np.random.default_rng(7))
    b, lb = render_sample(np.random.default_rng(7))
    assert la == lb and a.tobytes() == b.tobytes()
