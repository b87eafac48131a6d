"""Decode an image and bring it to the model's 64 x 256 (H x W) grayscale uint8 input.

Two modes:
- ``crop`` (the study's): keep the top-left 64 x 256 window and pad the rest white. Real scans are
  273-388 px wide, so this cuts the right end off every one of them.
- ``fit``: scale down (never up) to fit inside 64 x 256 keeping the aspect ratio, then pad white;
  the whole name stays visible.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, UnidentifiedImageError

HEIGHT = 64
WIDTH = 256
WHITE = 255
RESIZE_MODES = ("crop", "fit")


class UndecodableImage(ValueError):
    """The bytes are not an image Pillow can decode (corrupt or truncated file)."""


def _decode_gray(data: bytes, resize: str) -> tuple[Image.Image, tuple[int, int]]:
    """Decode to 8-bit grayscale; return it and the size ``fit`` scales to (the original for crop).

    For JPEGs, draft mode makes the decoder emit grayscale directly and, when the image shrinks by
    half or more, downscale by DCT scaling: both much cheaper than decoding RGB at full size."""
    try:
        image = Image.open(io.BytesIO(data))
        w, h = image.size
        scale = 1.0 if resize == "crop" else min(1.0, WIDTH / w, HEIGHT / h)
        if image.format == "JPEG":
            image.draft("L", (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
        image.load()
        target = (max(1, round(w * scale)), max(1, round(h * scale)))
        return image.convert("L"), target
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UndecodableImage(str(exc) or type(exc).__name__) from None


def _pad(gray: np.ndarray) -> np.ndarray:
    out = np.full((HEIGHT, WIDTH), WHITE, dtype=np.uint8)
    h, w = min(gray.shape[0], HEIGHT), min(gray.shape[1], WIDTH)
    out[:h, :w] = gray[:h, :w]
    return out


def to_model_input(data: bytes, resize: str = "crop") -> np.ndarray:
    """Image bytes -> (64, 256) uint8, white background, ink dark. Raises UndecodableImage."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r}; choose crop or fit")
    image, target = _decode_gray(data, resize)
    if image.size != target:  # fit mode: finish the scaling draft mode began
        image = image.resize(target, Image.Resampling.BILINEAR)
    return _pad(np.asarray(image))
