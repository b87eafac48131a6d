"""TrueType fonts: handwriting fonts for variety and Arimo for the printed form labels.

The fonts ship inside small PyPI packages (fontpkg-*, font-intuitive) as ``<package>/files/*.ttf``;
they are located with importlib so nothing is downloaded at run time. Any missing package is
skipped (the generator then falls back to Hershey strokes alone, or to PIL's default font for
the printed labels) instead of crashing.

Handwriting fonts are rendered one character at a time (so letter spacing, baseline and size
can vary like a person's) at ``SS`` x resolution, slanted/rotated with one affine resample and
box-reduced, which also gives the slight blur of a scan.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .strokes import INK_GAIN

log = logging.getLogger(__name__)

SS = 2
# (package, file, relative weight); thin fonts first, the real pens are thin
HANDWRITING = (
    ("fontpkg_kalam", "Kalam-Light.ttf", 1.0),
    ("fontpkg_kalam", "Kalam-Regular.ttf", 0.5),
    ("fontpkg_indie_flower", "IndieFlower-Regular.ttf", 1.0),
    ("fontpkg_shadows_into_light", "ShadowsIntoLight.ttf", 1.0),
    ("fontpkg_caveat", "Caveat[wght].ttf", 0.8),
    ("font_intuitive", "Intuitive.ttf", 0.35),
)
# fonts whose strokes are thinner than a ball-point at 11-16 px caps: thicken when drawing
THIN = {"Kalam-Light.ttf", "ShadowsIntoLight.ttf", "Caveat[wght].ttf", "IndieFlower-Regular.ttf"}
PRINTED = ("fontpkg_arimo", "Arimo[wght].ttf")
# the lean a font is drawn with (shear, dx per dy), taken off so that its writers slant as people
# do; measured with experiments/scan_statistics.py (real scans: median upright)
LEAN = {"Caveat[wght].ttf": 0.3, "Kalam-Light.ttf": 0.15, "Kalam-Regular.ttf": 0.15}


def _package_file(package: str, name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for cand in (Path(root) / "files" / name, Path(root) / name):
            if cand.is_file():
                return cand
        hits = sorted(Path(root).rglob(name))
        if hits:
            return hits[0]
    return None


@functools.lru_cache(maxsize=1)
def handwriting_fonts() -> tuple[tuple[str, float], ...]:
    """(path, weight) of every handwriting font that is installed, in a fixed order."""
    found = []
    for package, name, weight in HANDWRITING:
        path = _package_file(package, name)
        if path is None:
            log.info("handwriting font %s/%s not installed; skipped", package, name)
        else:
            found.append((str(path), weight))
    return tuple(found)


@functools.lru_cache(maxsize=256)
def _truetype(path: str, size: int, weight: int = 0) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(path, size)
    if weight:
        try:
            font.set_variation_by_axes([weight])
        except Exception:  # static font or FreeType without variations
            pass
    return font


@functools.lru_cache(maxsize=64)
def _cap_ratio(path: str) -> float:
    """Cap height / font size, from the bbox of 'H' at 100 px."""
    b = _truetype(path, 100).getbbox("H", anchor="ls")
    return max(0.3, -b[1] / 100.0)


@functools.lru_cache(maxsize=64)
def printed(size: int, bold: bool = True) -> ImageFont.ImageFont:
    """Arimo (metric-compatible with Arial, like the form) at ``size`` px, or PIL's default font."""
    path = _package_file(*PRINTED)
    if path is not None:
        return _truetype(str(path), size, 700 if bold else 400)
    try:
        return ImageFont.load_default(size)
    except TypeError:  # very old Pillow
        return ImageFont.load_default()


def available() -> bool:
    return bool(handwriting_fonts())


def render(rng: np.random.Generator, text: str, cap_px: float, max_w: float,
           lower: str = "", pitch: float = 0.0) -> tuple[Image.Image, float, float, str]:
    """Write ``text`` with a random handwriting font.

    ``pitch`` > 0: one letter per box of that many px (the form's letter boxes), each centred.

    Returns (coverage 'L' image at 1x, x, y of the baseline start in it, font file name).
    """
    fonts = handwriting_fonts()
    w = np.array([f[1] for f in fonts])
    path = fonts[int(rng.choice(len(fonts), p=w / w.sum()))][0]
    ratio = _cap_ratio(path)
    stroke = 1 if Path(path).name in THIN and rng.random() < 0.12 else 0
    wide = rng.random() < 0.5
    track = cap_px * (rng.uniform(0.25, 0.6) if wide else rng.uniform(-0.02, 0.2))
    word = cap_px * rng.uniform(0.5, 1.2)
    chars = [c.lower() if c in lower else c for c in text]

    for _ in range(4):  # shrink until it fits
        size = max(6, int(round(cap_px * SS / ratio)))
        font = _truetype(path, size)
        adv = [font.getlength(c) / SS for c in chars]
        if pitch:
            total = pitch * len(chars)
            if total > max_w:
                pitch *= max_w / total
                total = max_w
            widest = max(adv)
            if widest <= pitch * 1.05:
                break
            cap_px *= max(0.5, pitch / widest)
            continue
        total = sum(adv) + track * max(0, len(chars) - 1) + word * text.count(" ")
        if total <= max_w:
            break
        if track > 0.15 * cap_px:
            track *= max(0.3, (max_w - sum(adv) - word * text.count(" ")) / max(1.0, total - sum(adv)))
        else:
            cap_px *= max(0.5, max_w / total)
    slant = float(np.clip(rng.normal(0.03, 0.1), -0.2, 0.3)) - LEAN.get(Path(path).name, 0.0)
    rot = math.radians(rng.normal(0.0, 1.0))
    size_sd, base_sd = rng.uniform(0.0, 0.07), rng.uniform(0.0, 0.06) * cap_px

    pad = int(cap_px * 0.8) + 4
    W = int(total + 2 * pad + 4)
    H = int(cap_px * 2.2 + 2 * pad)
    base_y = pad + cap_px * 1.4
    img = Image.new("L", (W * SS, H * SS), 0)
    dr = ImageDraw.Draw(img)
    x = float(pad)
    for c, a in zip(chars, adv):
        if c == " ":
            x += pitch if pitch else word + track
            continue
        s = 1.0 + rng.normal(0.0, size_sd)
        f = font if abs(s - 1.0) < 0.02 else _truetype(path, max(6, int(round(size * s))))
        dy = rng.normal(0.0, base_sd)
        cx = x + (pitch - a * s) / 2 + rng.normal(0.0, 0.04 * pitch) if pitch else x
        dr.text((cx * SS, (base_y + dy) * SS), c, font=f, fill=255, anchor="ls", stroke_width=stroke, stroke_fill=255)
        x += pitch if pitch else a * s + max(0.0, track + rng.normal(0.0, 0.08 * cap_px))
    # slant + rotation about the baseline start with one affine resample (inverse mapping)
    ca, sa = math.cos(rot), math.sin(rot)
    bx, by = pad * SS, base_y * SS
    # forward p' = R(rot) . Shear(x -= slant*y) . (p - b) + b; PIL wants the inverse map,
    # Shear^-1 . R^-1, with R^-1 = [[ca, sa], [-sa, ca]] and Shear^-1 = [[1, slant], [0, 1]]
    a11, a12, a21, a22 = ca, sa, -sa, ca
    inv = (a11 + slant * a21, a12 + slant * a22, 0.0, a21, a22, 0.0)
    c0 = bx - inv[0] * bx - inv[1] * by
    c1 = by - inv[3] * bx - inv[4] * by
    img = img.transform(img.size, Image.AFFINE, (inv[0], inv[1], c0, inv[3], inv[4], c1),
                        resample=Image.BILINEAR)
    img = img.reduce(SS).point(INK_GAIN)
    return img, float(pad), float(base_y), Path(path).name
