"""A contact sheet of samples with their labels, for a person to look at."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from hwr.core.files import atomic_file

from . import degrade, fonts, sample


def render_preview(path, n: int = 48, seed: int = 0, columns: int = 4, style_mix=None) -> None:
    if n < 1 or columns < 1:
        raise ValueError(f"n and columns must be positive, got n={n}, columns={columns}")
    probs = sample.validate_style_mix(style_mix)
    items = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([0x9E7, int(seed), i]))
        s = sample.render(rng, probs)
        items.append((degrade.jpeg_roundtrip(s.image), f"{s.label}  [{s.layout}/{s.style}]"))
    font = fonts.printed(12, False)
    cell_w = max(im.width for im, _ in items) + 12
    rows = [items[r:r + columns] for r in range(0, n, columns)]
    heights = [max(im.height for im, _ in row) + 22 for row in rows]
    sheet = Image.new("RGB", (cell_w * columns + 8, sum(heights) + 8), (200, 200, 200))
    dr = ImageDraw.Draw(sheet)
    y = 4
    for row, h in zip(rows, heights):
        for c, (im, text) in enumerate(row):
            x = 4 + c * cell_w
            sheet.paste(im, (x, y))
            dr.text((x, y + im.height + 3), text, font=font, fill=(160, 0, 0))
        y += h
    with atomic_file(path, "wb") as f:
        sheet.save(f, format="PNG")
