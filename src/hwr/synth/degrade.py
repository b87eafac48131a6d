"""Scan degradations: resampling blur, sensor noise, a levels curve, speckles, JPEG.

The real crops are bilevel-looking scans: pure white paper (median 255), mid-grey ink with a few
black pixels, soft edges from resampling and JPEG (quality ~95, 4:2:0). The levels curve maps
every light grey to pure white, which is what makes the background exactly 255 and thins faint
edges like a scanner's threshold does; noise is added *before* it so that it only survives in the
ink. ``ink_tone`` then sets how grey the ink is.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

JPEG_QUALITY = 95
INK_GREY = (44.0, 12.0)  # mean and sd of the median ink pixel's grey (ink_tone)


def degrade(rng: np.random.Generator, page: Image.Image) -> Image.Image:
    """'L' page -> degraded RGB image of the same size."""
    W, H = page.size
    u = rng.random()
    if u < 0.25:  # down/up resampling: the crop was scaled at some point
        f = rng.uniform(0.6, 0.9)
        small = page.resize((max(8, int(W * f)), max(4, int(H * f))), Image.BILINEAR)
        page = small.resize((W, H), Image.BILINEAR)
    elif u < 0.4:
        page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7)))
    a = np.asarray(page, dtype=np.float32)
    sd = rng.uniform(0.0, 10.0)
    if sd > 1.0:
        a = a + rng.normal(0.0, sd, a.shape).astype(np.float32)
    # levels: black point b, white point w (greys above w -> 255), gamma g
    b = rng.uniform(0.0, 30.0)
    w = rng.uniform(210.0, 250.0)
    # auto-levels like a scanner: the darkest ink (thin or blurred) still comes out near black
    b = max(b, min(float(a.min()) + rng.uniform(0.0, 10.0), w - 60.0))
    g = rng.uniform(0.8, 1.25)
    a = np.clip((a - b) / (w - b), 0.0, 1.0)
    if abs(g - 1.0) > 0.03:
        a = a ** g
    out = (ink_tone(rng, a * 255.0) + 0.5).astype(np.uint8)
    if rng.random() < 0.08:  # dust: a few specks, mostly faint (real crops rarely have dark ones)
        n = int(rng.integers(1, 4))
        ys, xs = rng.integers(0, H, n), rng.integers(0, W, n)
        out[ys, xs] = rng.integers(0, 170, n).astype(np.uint8)
    return Image.fromarray(out, "L").convert("RGB")


def ink_tone(rng: np.random.Generator, grey: np.ndarray) -> np.ndarray:
    """Bend the ink's darkness so that its median pixel lands on a grey drawn like the real scans'.

    ``grey``: float, 0 = black, 255 = white. Darkness d = 1 - grey/255 goes to d ** p, so paper
    stays white and the blackest ink black; p is chosen per image so that the median ink pixel
    (darker than 128) takes the target grey. Real crops' median ink grey: 40-60 (quartiles).
    """
    ink = grey < 128.0
    if ink.sum() < 10:
        return grey
    median = float(np.median(grey[ink]))
    darkness = (255.0 - median) / 255.0
    if not 0.0 < darkness < 1.0:
        return grey
    target = float(np.clip(rng.normal(*INK_GREY), 15.0, 90.0))
    p = np.log((255.0 - target) / 255.0) / np.log(darkness)
    return 255.0 - 255.0 * ((255.0 - grey) / 255.0) ** p


def to_jpeg(img: Image.Image) -> bytes:
    """Baseline JPEG, quality 95, 4:2:0, like the Kaggle files."""
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=2)
    return buf.getvalue()


def jpeg_roundtrip(img: Image.Image) -> Image.Image:
    out = Image.open(io.BytesIO(to_jpeg(img)))
    out.load()
    return out
