"""Saving and loading models and training state, atomically (temp file + rename).

A model file holds the weights and the config needed to use them (rnn type, resize mode,
alphabet); it loads with ``weights_only=True``, so opening a model file never runs code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hwr.alphabet import ALPHABET
from hwr.errors import HwrError
from hwr.files import atomic_file
from hwr.model import CRNN


def atomic_save(obj, path: str | Path) -> None:
    """``torch.save`` through :func:`hwr.files.atomic_file`."""
    with atomic_file(path, "wb") as f:
        torch.save(obj, f)


def save_model(path: str | Path, model: torch.nn.Module, config: dict) -> None:
    model = getattr(model, "module", model)  # unwrap DDP
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_save({"state_dict": state, "config": {**config, "alphabet": ALPHABET}}, path)


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[CRNN, dict]:
    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: model not found; train it first (dvc repro)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise HwrError(f"{path}: not a readable hwr model ({type(exc).__name__}); retrain it") from None
    config = blob.get("config", {})
    if config.get("alphabet") != ALPHABET:
        raise HwrError(f"{path}: trained with another alphabet; retrain it with this version of hwr")
    model = CRNN(config["rnn"])
    model.load_state_dict(blob["state_dict"])
    # channels_last, as in training: the CPU's conv blocks then run hwr.blocks' fused kernel
    return model.to(device).to(memory_format=torch.channels_last).eval(), config
