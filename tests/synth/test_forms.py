"""hwr.synth.forms: names placed as on the real form crops."""

import numpy as np
from PIL import Image

from hwr.synth import render_sample
from hwr.synth.forms import pen_pressure


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


def test_pen_pressure_lightens_ink_unevenly_and_never_adds_any():
    coverage = np.zeros((30, 120), np.uint8)
    coverage[10:20, 5:115] = 255
    out = np.asarray(pen_pressure(np.random.default_rng(0), Image.fromarray(coverage)), dtype=int)
    assert (out <= coverage).all() and (out[coverage == 0] == 0).all()
    stroke = out[10:20, 5:115]
    assert stroke.min() >= 0.3 * 255 - 1 and stroke.mean() < 0.95 * 255  # lighter, never gone
    assert stroke.std() > 5  # uneven, as a ballpoint lays it down
    again = np.asarray(pen_pressure(np.random.default_rng(0), Image.fromarray(coverage)))
    assert np.array_equal(out, again)


def test_handwriting_is_mid_grey_like_real_scans():
    """Real crops: the median ink pixel (darker than 128) of an image is grey 40-60 (quartiles),
    a solid black stroke is rare; measured with experiments/scan_statistics.py."""
    medians = []
    for i in range(60):
        img, _ = render_sample(np.random.default_rng(2000 + i))
        g = np.asarray(img.convert("L"))
        if (g < 128).sum() >= 10:
            medians.append(np.median(g[g < 128]))
    assert 30 <= np.median(medians) <= 65
    assert np.mean(np.array(medians) < 10) < 0.15
