"""Several trained models that read the same images as one module: it gives every model's
log-probabilities, stacked (M, N, T, C), and the decoder (:class:`hwr.decoding.factory.Decoder`)
reads each and combines the readings per name (:mod:`hwr.decoding.combine`). The models are not
averaged frame by frame: CTC models emit the same letter at different frames, and the average of
their log-probabilities reads almost nothing. Models of different input widths give different numbers
of frames: the shorter readings are padded with blank frames, which change no CTC reading."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hwr.core.alphabet import BLANK
from hwr.core.errors import HwrError
from hwr.model.checkpoints import load_model


class Ensemble(nn.Module):
    """Models that read the same images (same resize mode, as wide as the widest reads); their
    log-probabilities, stacked."""

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(models)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        outputs = [member(images).float() for member in self.members]  # each (N, T_m, C)
        frames = max(out.shape[1] for out in outputs)
        return torch.stack([_pad_with_blanks(out, frames) for out in outputs])  # (M, N, T, C)


def _pad_with_blanks(log_probs: torch.Tensor, frames: int) -> torch.Tensor:
    """(N, T, C) log-probabilities followed by blank frames (probability 1 of the blank) up to ``frames``."""
    n, t, classes = log_probs.shape
    if t == frames:
        return log_probs
    # a very small log-probability rather than -inf, which some decoders' arithmetic turns into NaN
    blank = torch.full((n, frames - t, classes), -1e4, dtype=log_probs.dtype, device=log_probs.device)
    blank[..., BLANK] = 0.0
    return torch.cat([log_probs, blank], dim=1)


def load_models(paths: list[str | Path], device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """One model file: that model and its config; several: their :class:`Ensemble`, with a config
    naming the members (``rnn`` joined by +). Models prepared with different resize modes cannot be
    averaged (each needs its own input): a one-line error."""
    if not paths:
        raise HwrError("no model given; give one or more model files")
    loaded = [load_model(path, device) for path in paths]
    if len(loaded) == 1:
        return loaded[0]
    resizes = {config.get("resize", "crop") for _, config in loaded}
    if len(resizes) > 1:
        raise HwrError(f"{', '.join(map(str, paths))}: the models read images resized differently "
                       f"({' and '.join(sorted(resizes))}); average models trained on the same preprocess.resize")
    config = {"rnn": "+".join(config["rnn"] for _, config in loaded), "resize": resizes.pop(),
              "width": max(model.width for model, _ in loaded), "members": [str(path) for path in paths]}
    reading = loaded[0][1].get("reading")  # the first model's decoder and lexicon; its calibration is its own
    if reading is not None:
        config["reading"] = {key: value for key, value in reading.items() if key != "calibration"}
    return Ensemble([model for model, _ in loaded]).eval(), config
