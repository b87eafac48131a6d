"""hwr.synth.strokes: pen strokes of the Hershey fonts."""

import numpy as np

from hwr.synth import strokes


def test_every_letter_renders():
    rng = np.random.default_rng(0)
    w = strokes.random_writer(rng)
    for ch in "ABCDEFGHIJKLMNOPQRSTUVWXYZ-'ÉÈÊËÀÂÄÎÏÔÖÙÛÜÇ":
        img, _, _ = strokes.draw(strokes.layout(rng, ch, w))
        assert np.asarray(img).max() > 100, ch


def test_boxed_writer_keeps_the_pitch():
    rng = np.random.default_rng(3)
    w = strokes.random_writer(rng, 12.0)
    w.pitch, w.font, w.lower = 16.0, "futural", ""
    x0, _, x1, _ = strokes.layout(rng, "ABCDEFGH", w).bbox
    assert 7 * 16.0 - 8 <= x1 - x0 <= 8 * 16.0 + 4
