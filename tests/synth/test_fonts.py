"""hwr.synth.fonts: TrueType handwriting, and what happens without it."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from _support import REPO_ROOT

from hwr.synth import fonts, render_sample


def test_without_handwriting_fonts(monkeypatch):
    monkeypatch.setattr(fonts, "handwriting_fonts", lambda: ())
    for i in range(5):
        img, label = render_sample(np.random.default_rng(i), {"ttf": 1.0})
        assert (np.asarray(img.convert("L")) < 100).sum() > 10


@pytest.fixture(scope="module")
def lean():
    """experiments/scan_statistics.py's slant estimate, as a lean (positive = tops to the right)."""
    spec = importlib.util.spec_from_file_location("scan_statistics", REPO_ROOT / "experiments" / "scan_statistics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return lambda coverage: -module.slant(coverage > 128)


@pytest.mark.parametrize("name", sorted(fonts.LEAN))
def test_italic_fonts_are_stood_upright(monkeypatch, lean, name):
    """Fonts drawn leaning right have their lean taken off: their writers slant as people do."""
    path = next((p for p, _ in fonts.handwriting_fonts() if Path(p).name == name), None)
    if path is None:
        pytest.skip(f"font {name} not installed")
    monkeypatch.setattr(fonts, "handwriting_fonts", lambda: ((path, 1.0),))
    offset = fonts.LEAN[name]

    def median_lean(offsets: dict) -> float:
        monkeypatch.setattr(fonts, "LEAN", offsets)
        return float(np.median([lean(np.asarray(fonts.render(np.random.default_rng(i), "HILLIMITE", 30.0, 600.0)[0]))
                                for i in range(12)]))

    drawn, stood = median_lean({}), median_lean({name: offset})
    assert drawn >= 0.1  # the font leans right as drawn
    assert abs(stood) < drawn - 0.5 * offset  # and much less once its lean is taken off
