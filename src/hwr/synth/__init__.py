"""Synthetic handwritten French names in the Kaggle "Handwriting Recognition" layout.

The project's built-in default dataset (the pipeline runs with no download) and a training
asset. ~70 % of the writing is pen-stroke rendering of the Hershey single-stroke fonts
(``strokes``), ~30 % handwriting TrueType fonts (``fonts``), composed into the three form-crop
layouts of the real scans (``forms``), degraded like a scan (``degrade``) and written as
``{split}_v2.zip`` + ``written_name_{split}_v2.csv`` (``writer``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from . import degrade as _degrade
from . import names as _names
from . import sample as _sample
from . import writer as _writer
from .preview import render_preview
from .sample import DEFAULT_STYLE_MIX, STYLES, validate_style_mix

__all__ = ["generate_dataset", "render_sample", "render_preview", "DEFAULT_STYLE_MIX", "STYLES",
           "validate_style_mix"]


def generate_dataset(out_dir, sizes: dict[str, int], seed: int = 0, jobs: int | None = None,
                     style_mix: dict[str, float] | None = None, progress: bool = False,
                     names_source: str = _names.FAKER) -> dict:
    """Write ``out_dir/{split}_v2.zip`` and ``out_dir/written_name_{split}_v2.csv`` per split.

    Zip entries are ``{split}_v2/{split}/{SPLIT}_{i:05d}.jpg`` (stored, fixed dates); the CSV has
    the header ``FILENAME,IDENTITY`` and '\\n' line endings. Output bytes depend only on
    ``seed``, ``sizes``, ``style_mix`` and ``names_source`` (:mod:`hwr.synth.names`: faker or
    names-dataset:CC), not on ``jobs`` (None = all CPUs). Files appear
    atomically. Returns ``{split: {'images': n, 'layouts': {...}, 'styles': {...}}}``.
    Raises ValueError for bad ``sizes`` (naming the split) or ``style_mix``.
    """
    return _writer.generate(out_dir, sizes, seed=seed, jobs=jobs, style_mix=style_mix, progress=progress,
                            names_source=names_source)


def render_sample(rng: np.random.Generator, style_mix=None, *, jpeg: bool = True) -> tuple[Image.Image, str]:
    """One RGB image and its label. ``jpeg=True`` passes it through the same JPEG as the dataset."""
    s = _sample.render(rng, _sample.validate_style_mix(style_mix))
    return (_degrade.jpeg_roundtrip(s.image) if jpeg else s.image), s.label
