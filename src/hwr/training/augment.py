"""Batch data augmentation on the device, no per-sample Python: one random affine warp per image,
and masking.

Handwriting varies in slant, size and position far more than in anything else, so the warp
draws a shear (slant), a scale and a shift per image. Padding is white, like the images.

Masking whitens random vertical stripes of each image, so that the network learns to read a name
from the letters around a hidden one, as self-training with masking does for handwriting (AT-ST,
Kišš, Beneš & Hradiš, ICDAR 2021): on pseudo-labelled scans it keeps the model from learning only
what it can already read.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment_batch(images: torch.Tensor, generator: torch.Generator,
                  shear: float = 0.3, scale: tuple[float, float] = (0.8, 1.05),
                  shift: tuple[float, float] = (0.06, 0.12)) -> torch.Tensor:
    """uint8 (N, H, W) -> uint8 (N, H, W), each image warped at random."""
    n = images.shape[0]
    r = torch.rand((n, 4), generator=generator)
    s = scale[0] + (scale[1] - scale[0]) * r[:, 0]
    k = shear * (2 * r[:, 1] - 1)
    tx = shift[0] * (2 * r[:, 2] - 1)
    ty = shift[1] * (2 * r[:, 3] - 1)
    theta = torch.zeros((n, 2, 3))
    theta[:, 0, 0] = 1 / s
    theta[:, 0, 1] = k / s
    theta[:, 1, 1] = 1 / s
    theta[:, 0, 2] = tx
    theta[:, 1, 2] = ty
    ink = 1.0 - images.float().unsqueeze(1) / 255.0  # warp ink, so the padding (zeros) is white
    grid = F.affine_grid(theta.to(images.device), list(ink.shape), align_corners=False)
    warped = F.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (255.0 * (1.0 - warped.squeeze(1))).round().clamp(0, 255).to(torch.uint8)


MASK_STRIPES = 2  # stripes per image; each covers half of the masked share


def mask_batch(images: torch.Tensor, generator: torch.Generator, share: float) -> torch.Tensor:
    """uint8 (N, H, W) -> uint8 (N, H, W) with ``share`` of each image's columns (in
    :data:`MASK_STRIPES` stripes at random places, which may overlap) set to white."""
    n, _, width = images.shape
    stripe = max(1, round(share * width / MASK_STRIPES))
    starts = (torch.rand((n, MASK_STRIPES, 1), generator=generator) * (width - stripe + 1)).floor()
    columns = torch.arange(width).view(1, 1, width)
    hidden = ((columns >= starts) & (columns < starts + stripe)).any(dim=1)  # (N, W)
    return images.masked_fill(hidden.to(images.device).unsqueeze(1), 255)
