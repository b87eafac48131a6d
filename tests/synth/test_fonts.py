"""hwr.synth.fonts: TrueType handwriting, and what happens without it."""

from pathlib import Path

import numpy as np
import pytest

from hwr.synth import fonts, render_sample


def test_without_handwriting_fonts(monkeypatch):
    monkeypatch.setattr(fonts, "handwriting_fonts", lambda: ())
    for i in range(5):
        img, label = render_sample(np.random.default_rng(i), {"ttf": 1.0})
        assert (np.asarray(img.convert("L")) < 100).sum() > 10


def _lean(coverage: np.ndarray) -> float:
    """The shear (dx per dy, positive = tops to the right) whose undoing makes the columns sharpest."""
    ys, xs = np.nonzero(coverage > 128)
    shears = np.linspace(-0.6, 0.6, 49)
    scores = [np.square(np.bincount(np.round(xs + s * (ys - ys.mean())).astype(int) - int(xs.min()) + 64)).sum()
              for s in shears]
    return float(shears[int(np.argmax(scores))])


@pytest.mark.parametrize("name", sorted(fonts.LEAN))
def test_italic_fonts_are_stood_upright(monkeypatch, name):
    """Fonts drawn leaning right have their lean taken off: their writers slant as people do."""
    path = next((p for p, _ in fonts.handwriting_fonts() if Path(p).name == name), None)
    if path is None:
        pytest.skip(f"font {name} not installed")
    monkeypatch.setattr(fonts, "handwriting_fonts", lambda: ((path, 1.0),))
    offset = fonts.LEAN[name]

    def median_lean(lean: dict) -> float:
        monkeypatch.setattr(fonts, "LEAN", lean)
        return float(np.median([_lean(np.asarray(fonts.render(np.random.default_rng(i), "HILLIMITE", 30.0, 600.0)[0]))
                                for i in range(12)]))

    drawn, stood = median_lean({}), median_lean({name: offset})
    assert drawn >= 0.1  # the font leans right as drawn
    assert abs(stood) < drawn - 0.5 * offset  # and much less once its lean is taken off
