"""hwr.synth.forms: names placed as on the real form crops."""

import numpy as np

from hwr.synth import render_sample


def test_names_mostly_inside_the_256px_crop():
    """Real crops: ~6 % have ink at x >= 256 in the middle rows (the pipeline crops to 256 x 64)."""
    right = []
    for i in range(80):
        img, _ = render_sample(np.random.default_rng(1000 + i))
        g = np.asarray(img.convert("L"))
        h = g.shape[0]
        cols = np.flatnonzero((g[h // 4: 3 * h // 4] < 110).any(0))
        right.append(cols[-1] if len(cols) else 0)
    right = np.array(right)
    assert (right >= 256).mean() <= 0.2
    assert 100 <= np.median(right) <= 190
