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
import simplejpeg
from PIL import Image, UnidentifiedImageError

HEIGHT = 64
WIDTH = 256
WHITE = 255
RESIZE_MODES = ("crop", "fit")
_JPEG_START = b"\xff\xd8"


class UndecodableImage(ValueError):
    """The bytes are not an image Pillow can decode (corrupt or truncated file)."""


def _scale(w: int, h: int, resize: str) -> float:
    return 1.0 if resize == "crop" else min(1.0, WIDTH / w, HEIGHT / h)


def _target(w: int, h: int, resize: str) -> tuple[int, int]:
    """The (width, height) a w x h image is scaled to before padding (itself for crop)."""
    s = _scale(w, h, resize)
    return max(1, round(w * s)), max(1, round(h * s))


def _draft_request(w: int, h: int, resize: str) -> tuple[int, int]:
    """The size asked of Pillow's draft mode, which then decodes at 1/2, 1/4 or 1/8 scale (DCT
    scaling) when the result stays at least this large."""
    s = _scale(w, h, resize)
    return max(1, math.ceil(w * s)), max(1, math.ceil(h * s))


def _decode_jpeg_fast(data: bytes, resize: str) -> tuple[np.ndarray, tuple[int, int]] | None:
    """A JPEG's grayscale pixels at full size and its target size, decoded by libjpeg-turbo through
    simplejpeg; or None where this path does not apply and Pillow decodes instead.

    Why: Pillow parses a JPEG's markers in Python, which for these small scans costs as much as the
    decoding itself; simplejpeg does both in C, about 4x faster an image. It is used only where its
    pixels are Pillow's (the same libjpeg grayscale decode; a test compares them): not for files
    libjpeg reports any problem with (``strict``), which Pillow then accepts or refuses as before,
    and not where draft mode would decode at a reduced scale (fit mode, images at least twice the
    target size: no real scan is)."""
    if not data.startswith(_JPEG_START):
        return None
    try:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
        request_w, request_h = _draft_request(w, h, resize)
        if w // request_w >= 2 and h // request_h >= 2:
            return None
        return simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True)[:, :, 0], _target(w, h, resize)
    except ValueError:
        return None


def _decode_with_pillow(data: bytes, resize: str) -> tuple[np.ndarray, tuple[int, int]]:
    """Any image Pillow reads, as 8-bit grayscale, and its target size.

    For JPEGs, draft mode makes the decoder emit grayscale directly and, when the image shrinks by
    half or more, downscale by DCT scaling: both much cheaper than decoding RGB at full size."""
    try:
        image = Image.open(io.BytesIO(data))
        w, h = image.size
        if image.format == "JPEG":
            image.draft("L", _draft_request(w, h, resize))
        image.load()
        return np.asarray(image.convert("L")), _target(w, h, resize)
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
    gray, (w, h) = _decode_jpeg_fast(data, resize) or _decode_with_pillow(data, resize)
    if gray.shape != (h, w):  # fit mode: finish the scaling (draft mode may have begun it)
        gray = np.asarray(Image.fromarray(gray).resize((w, h), Image.Resampling.BILINEAR))
    return _pad(gray)
