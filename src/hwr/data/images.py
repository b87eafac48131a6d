"""Decode an image and bring it to the model's 64 x W (H x W) grayscale uint8 input, W = 256 (the
study's) or wider (``preprocess.width``).

Two modes:
- ``crop`` (the study's): keep the top-left 64 x W window and pad the rest white. Real scans are
  273-388 px wide, so at the study's 256 this cuts the right end off every one of them; at 384 it
  keeps almost all of every name.
- ``fit``: scale down (never up) to fit inside 64 x 256 keeping the aspect ratio, then pad white
  (to W); the whole name stays visible.

Either way the left 256 columns of a wider image are the image at 256: one store of wide crops
feeds the study's models, which read the left 256 columns (``hwr.model.crnn``), and wider ones.

Every image is checked before it is kept: its header's pixel count against one limit, whichever
decoder reads it (``max_pixels``, before any pixel is decoded, so memory stays bounded); a JPEG
against libjpeg's own report of corrupt data (refused as damaged unless ``keep_damaged``).
"""

from __future__ import annotations

import io
import math
import re
import warnings

import numpy as np
import simplejpeg
from PIL import Image, UnidentifiedImageError

from hwr.params import DEFAULT_MAX_PIXELS, MAX_WIDTH, STUDY_WIDTH

HEIGHT = 64
WIDTH = STUDY_WIDTH  # the study's crop, and the narrowest input hwr prepares (MAX_WIDTH the widest)
WHITE = 255
RESIZE_MODES = ("crop", "fit")
_JPEG_START = b"\xff\xd8"
# libjpeg's warnings that say the data is corrupt (jerror.h: JWRN_HIT_MARKER, JWRN_HUFF_BAD_CODE,
# JWRN_EXTRANEOUS_DATA, JWRN_MUST_RESYNC, JWRN_JPEG_EOF, ...); its decoder fills what it cannot
# read with grey and carries on
_CORRUPTION = ("Corrupt JPEG data", "Premature end of JPEG file")


class UndecodableImage(ValueError):
    """The bytes are not an image hwr can decode (corrupt, truncated or not an image)."""

    reason = "undecodable"


class DamagedImage(UndecodableImage):
    """A JPEG that libjpeg reports as corrupt: it decodes, but part of it is invented."""

    reason = "damaged"


class TooManyPixels(UndecodableImage):
    """An image whose header declares more pixels than the limit; never decoded."""

    reason = "too_many_pixels"


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


def _check_pixels(w: int, h: int, max_pixels: int) -> None:
    if w * h > max_pixels:
        raise TooManyPixels(f"{w} x {h} = {w * h:,} pixels, over the {max_pixels:,}-pixel limit")


def _refuse_if_corrupt(exc: ValueError, keep_damaged: bool) -> None:
    message = str(exc)
    if not keep_damaged and any(words in message for words in _CORRUPTION):
        raise DamagedImage(f"libjpeg: {message}") from None


def _decode_jpeg_fast(data: bytes, resize: str, max_pixels: int = DEFAULT_MAX_PIXELS,
                      keep_damaged: bool = False) -> tuple[np.ndarray, tuple[int, int]] | None:
    """A JPEG's grayscale pixels at full size and its target size, decoded by libjpeg-turbo through
    simplejpeg; or None where this path does not apply and Pillow decodes instead.

    Why: Pillow parses a JPEG's markers in Python, which for these small scans costs as much as the
    decoding itself; simplejpeg does both in C, about 4x faster an image. It is used only where its
    pixels are Pillow's (the same libjpeg grayscale decode; a test compares them): not for files
    libjpeg reports any problem with (``strict``), and not where draft mode would decode at a
    reduced scale (fit mode, images at least twice the target size: no real scan is).

    It is also the integrity check of every JPEG: one that libjpeg reports as corrupt raises
    DamagedImage (Pillow would decode it without a word), unless ``keep_damaged``, when Pillow
    decodes it as before; draft-mode images are checked by a decode at the reduced scale."""
    if not data.startswith(_JPEG_START):
        return None
    try:
        h, w, _, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as exc:
        _refuse_if_corrupt(exc, keep_damaged)
        return None  # Pillow reads the header (and checks the pixel limit) itself
    _check_pixels(w, h, max_pixels)
    request_w, request_h = _draft_request(w, h, resize)
    scaled_by_draft = w // request_w >= 2 and h // request_h >= 2
    try:
        gray = simplejpeg.decode_jpeg(data, colorspace="GRAY", strict=True,
                                      min_width=request_w if scaled_by_draft else 0,
                                      min_height=request_h if scaled_by_draft else 0)
    except ValueError as exc:
        _refuse_if_corrupt(exc, keep_damaged)
        return None
    if scaled_by_draft:
        return None  # intact; Pillow's draft mode decodes it, as a test holds the pixels to
    return gray[:, :, 0], _target(w, h, resize)


def _to_gray(image: Image.Image) -> np.ndarray:
    """8-bit grayscale, ink dark on white paper.

    - 16-bit images are scaled to 8 bits (Pillow's conversion clips them, which turns all but the
      darkest ink white).
    - Floating-point images (a float TIFF) are scaled from their own range, 0-1 or 0-255: Pillow's
      conversion would clip a 0-1 image to black.
    - Transparency (RGBA, LA, a palette with a transparent colour) is laid on white paper, as a
      scanner would see the page: converted plainly, a transparent background reads as black."""
    if image.mode.startswith("I;16") or (image.mode == "I" and image.getextrema()[1] > WHITE):
        wide = np.asarray(image).astype(np.uint32)
        np.clip(wide, 0, 65535, out=wide)
        return ((wide + 128) // 257).astype(np.uint8)  # 65535 / 255 = 257: round to the nearest level
    if image.mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=1.0)
        scale = WHITE if values.max() <= 1.0 else 1.0  # a 0-1 image, or already 0-255
        return np.clip(np.rint(values * scale), 0, WHITE).astype(np.uint8)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (WHITE, WHITE, WHITE, WHITE))
        return np.asarray(Image.alpha_composite(paper, rgba).convert("L"))
    return np.asarray(image.convert("L"))


def _decode_with_pillow(data: bytes, resize: str, max_pixels: int = DEFAULT_MAX_PIXELS
                        ) -> tuple[np.ndarray, tuple[int, int]]:
    """Any image Pillow reads, as 8-bit grayscale, and its target size; its header is read and the
    pixel limit checked before any pixel is decoded.

    For JPEGs, draft mode makes the decoder emit grayscale directly and, when the image shrinks by
    half or more, downscale by DCT scaling: both much cheaper than decoding RGB at full size."""
    try:
        with warnings.catch_warnings():  # over Pillow's own limit is over ours: refused just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        w, h = image.size
        _check_pixels(w, h, max_pixels)
        if image.format == "JPEG":
            image.draft("L", _draft_request(w, h, resize))
        image.load()
        return _to_gray(image), _target(w, h, resize)
    except UndecodableImage:
        raise
    except Image.DecompressionBombError as exc:
        declared = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow refuses at open, before giving the size
        size = f"{int(declared[1]):,} pixels" if declared else "more pixels than Pillow opens"
        raise TooManyPixels(f"{size}, over the {max_pixels:,}-pixel limit") from None
    except UnidentifiedImageError:  # its message names the BytesIO object, not the file
        raise UndecodableImage("not an image file (no decoder recognises its format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UndecodableImage(str(exc) or type(exc).__name__) from None


def _pad(gray: np.ndarray, width: int) -> np.ndarray:
    out = np.full((HEIGHT, width), WHITE, dtype=np.uint8)
    h, w = min(gray.shape[0], HEIGHT), min(gray.shape[1], width)
    out[:h, :w] = gray[:h, :w]
    return out


def check_width(width) -> int:
    """``width`` if hwr prepares inputs that wide, else ValueError."""
    if not isinstance(width, int) or isinstance(width, bool) or not WIDTH <= width <= MAX_WIDTH:
        raise ValueError(f"input width {width!r}: expected a whole number of pixels from {WIDTH} to {MAX_WIDTH}")
    return width


def to_model_input(data: bytes, resize: str = "crop", *, width: int = WIDTH,
                   max_pixels: int = DEFAULT_MAX_PIXELS, keep_damaged: bool = False) -> np.ndarray:
    """Image bytes -> (64, width) uint8, white background, ink dark.

    Raises UndecodableImage, or its kinds DamagedImage (a JPEG libjpeg reports as corrupt, unless
    ``keep_damaged``) and TooManyPixels (more than ``max_pixels``, from the header: never decoded)."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r}; choose crop or fit")
    check_width(width)
    gray, (w, h) = (_decode_jpeg_fast(data, resize, max_pixels, keep_damaged)
                    or _decode_with_pillow(data, resize, max_pixels))
    if gray.shape != (h, w):  # fit mode: finish the scaling (draft mode may have begun it)
        gray = np.asarray(Image.fromarray(gray).resize((w, h), Image.Resampling.BILINEAR))
    return _pad(gray, width)
