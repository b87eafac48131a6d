"""Several trained models read as one: the mean of their log-probabilities, renormalised, then
decoded once. The GRU and the LSTM err on different names, so their average reads more names right
than either (docs/experiments.md measures it on real scans)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from hwr.core.errors import HwrError
from hwr.model.checkpoints import load_model


class Ensemble(nn.Module):
    """Models that read the same images (same resize mode), averaged in log space."""

    def __init__(self, models: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(models)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        log_probs = torch.stack([member(images) for member in self.members])  # (M, N, T, C), float32
        return torch.log_softmax(log_probs.mean(dim=0), dim=-1)


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
              "members": [str(path) for path in paths]}
    return Ensemble([model for model, _ in loaded]).eval(), config
