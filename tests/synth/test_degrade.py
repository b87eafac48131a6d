import io

import numpy as np
from PIL import Image

from hwr.synth.degrade import degrade, jpeg_roundtrip, to_jpeg


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
