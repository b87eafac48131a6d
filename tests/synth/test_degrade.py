import io

import numpy as np
import pytest
from PIL import Image

from hwr.synth.degrade import INK_GREY, degrade, ink_tone, jpeg_roundtrip, to_jpeg


def page() -> Image.Image:
    image = np.full((40, 120), 255, np.uint8)
    image[15:25, 20:100] = 30  # a stroke of ink
    return Image.fromarray(image, "L")


def test_degrade_keeps_the_size_white_paper_and_dark_ink():
    for seed in range(20):
        out = np.asarray(degrade(np.random.default_rng(seed), page()).convert("L"))
        assert out.shape == (40, 120)
        assert np.median(out) == 255  # the levels curve makes paper pure white
        assert out[17:23, 25:95].mean() < 110  # the ink stays dark


def test_degrade_is_seeded():
    a = np.asarray(degrade(np.random.default_rng(3), page()))
    b = np.asarray(degrade(np.random.default_rng(3), page()))
    assert np.array_equal(a, b)


def test_jpeg_is_baseline_quality_95_and_round_trips():
    data = to_jpeg(page().convert("RGB"))
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (120, 40)
    back = np.asarray(jpeg_roundtrip(page().convert("RGB")).convert("L"), dtype=int)
    assert np.abs(back - np.asarray(page(), dtype=int)).max() < 40


def test_ink_tone_puts_the_median_ink_pixel_on_a_real_scans_grey():
    grey = np.full((30, 90), 255.0)
    grey[10:20, 10:80] = np.linspace(0.0, 120.0, 70)  # ink from black to mid-grey
    ink = grey < 128
    for seed in range(10):
        target = float(np.clip(np.random.default_rng(seed).normal(*INK_GREY), 15.0, 90.0))
        out = ink_tone(np.random.default_rng(seed), grey)
        assert np.median(out[ink]) == pytest.approx(target, abs=1.0)
        assert (out[~ink] == 255).all() and out.min() == pytest.approx(0.0)  # paper white, black black
        row = out[15, 10:80]
        assert (np.diff(row) >= 0).all()  # darker stays darker


def test_ink_tone_leaves_a_page_without_ink_alone():
    grey = np.full((20, 40), 250.0)
    grey[5, 5] = 0.0
    assert np.array_equal(ink_tone(np.random.default_rng(0), grey), grey)
