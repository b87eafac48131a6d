"""hwr.synth.fonts: TrueType handwriting, and what happens without it."""

import numpy as np

from hwr.synth import fonts, render_sample


def test_without_handwriting_fonts(monkeypatch):
    monkeypatch.setattr(fonts, "handwriting_fonts", lambda: ())
    for i in range(5):
        img, label = render_sample(np.random.default_rng(i), {"ttf": 1.0})
        assert (np.asarray(img.convert("L")) < 100).sum() > 10
