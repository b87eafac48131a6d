"""One synthetic sample: pick a style, compose the form crop, degrade it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from hwr.params import DEFAULT_STYLE_MIX

from . import degrade, forms

STYLES = ("hershey", "ttf")


def validate_style_mix(style_mix: dict | None) -> tuple[float, ...]:
    """Probabilities in STYLES order; raises ValueError (one line) on a bad mix."""
    mix = DEFAULT_STYLE_MIX if style_mix is None else style_mix
    if not isinstance(mix, dict):
        raise ValueError(f"style_mix must be a dict like {DEFAULT_STYLE_MIX}, got {type(mix).__name__}")
    unknown = sorted(set(mix) - set(STYLES))
    if unknown:
        raise ValueError(f"style_mix has unknown styles {unknown}; known: {list(STYLES)}")
    vals = []
    for s in STYLES:
        v = mix.get(s, 0.0)
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"style_mix[{s!r}] must be a number, got {v!r}") from None
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"style_mix[{s!r}] must be finite and non-negative, got {v!r}")
        vals.append(v)
    total = sum(vals)
    if total <= 0:
        raise ValueError(f"style_mix weights must sum to more than 0, got {mix!r}")
    return tuple(v / total for v in vals)


@dataclass
class Sample:
    image: Image.Image  # RGB, before JPEG
    label: str
    layout: str
    style: str


def render(rng: np.random.Generator, probs: tuple[float, ...]) -> Sample:
    style = STYLES[int(np.searchsorted(np.cumsum(probs), rng.random() * 0.999999999, side="right"))]
    page, label, lay, used = forms.compose(rng, style)
    return Sample(degrade.degrade(rng, page), label, lay, used)
