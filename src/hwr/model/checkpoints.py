"""Saving and loading models and training state, atomically (temp file + rename).

A model file holds the weights and the config needed to use them (rnn type, resize mode, input
width, alphabet); it loads with ``weights_only=True``, so opening a model file never runs code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hwr.core.alphabet import ALPHABET
from hwr.core.errors import HwrError
from hwr.core.files import atomic_file
from hwr.core.layout import RNNS
from hwr.data.images import WIDTH, check_width
from hwr.model.crnn import ARCHITECTURES, CRNN


def atomic_save(obj, path: str | Path) -> None:
    """``torch.save`` through :func:`hwr.core.files.atomic_file`."""
    with atomic_file(path, "wb") as f:
        torch.save(obj, f)


def save_model(path: str | Path, model: torch.nn.Module, config: dict) -> None:
    model = getattr(model, "module", model)  # unwrap DDP
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_save({"state_dict": state, "config": {**config, "alphabet": ALPHABET}}, path)


def save_with_reading(model_path: str | Path, out_path: str | Path, reading: dict) -> None:
    """A copy of the model file ``model_path`` whose config carries ``reading`` (plain data:
    :mod:`hwr.decoding.bundle`), written atomically to ``out_path``."""
    blob = torch.load(model_path, map_location="cpu", weights_only=True)
    blob["config"] = {**blob["config"], "reading": reading}
    atomic_save(blob, out_path)


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[CRNN, dict]:
    """The model in ``path`` and its config. Anything but a model file hwr wrote raises HwrError
    with a one-line message: a missing file, a file torch cannot read, another torch file (a
    training checkpoint, a bare state_dict, a tensor), weights of another shape."""
    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: model not found; train it first (dvc repro) or give --model FILE")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise HwrError(f"{path}: not a readable hwr model ({type(exc).__name__}); retrain it") from None
    if isinstance(blob, dict) and "trainer" in blob and "best_model" in blob:
        raise HwrError(f"{path}: a training checkpoint, not a model; use models/<rnn>-<subset>/model.pt, "
                       "which training writes when it finishes")
    config = blob.get("config") if isinstance(blob, dict) else None
    if not isinstance(config, dict) or not isinstance(blob.get("state_dict"), dict):
        raise HwrError(f"{path}: a torch file but not an hwr model (no model config and weights); "
                       "give a model.pt written by training")
    if config.get("alphabet") != ALPHABET:
        raise HwrError(f"{path}: trained with another alphabet; retrain it with this version of hwr")
    if config.get("rnn") not in RNNS:
        raise HwrError(f"{path}: unknown rnn {config.get('rnn')!r} in the model config; expected one of {', '.join(RNNS)}")
    cnn = config.get("cnn", "study")  # models written before the option are the study's
    if cnn not in ARCHITECTURES:
        raise HwrError(f"{path}: unknown cnn {cnn!r} in the model config; expected one of "
                       f"{', '.join(ARCHITECTURES)} (a newer hwr wrote it?)")
    width = config.get("width", WIDTH)  # models written before the option read the study's crop
    try:
        check_width(width)
    except ValueError as exc:
        raise HwrError(f"{path}: {exc} (in the model config); retrain it") from None
    model = CRNN(config["rnn"], cnn, width=width)
    mismatch = _weights_mismatch(model.state_dict(), blob["state_dict"])
    if mismatch:
        raise HwrError(f"{path}: its weights do not fit hwr's {config['rnn'].upper()} CRNN ({mismatch}); "
                       "retrain it with this version of hwr")
    model.load_state_dict(blob["state_dict"])
    config = {**config, "width": width}
    # channels_last, as in training: the CPU's conv blocks then run hwr.model.blocks' fused kernel
    return model.to(device).to(memory_format=torch.channels_last).eval(), config


def _weights_mismatch(expected: dict, found: dict) -> str:
    """What keeps ``found`` from loading where ``expected`` is wanted, in a few words; '' if nothing."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    misshapen = [k for k in expected if k in found and getattr(found[k], "shape", None) != expected[k].shape]
    parts = [f"{len(keys)} {what}, e.g. {keys[0]}" for what, keys in
             (("missing", missing), ("unexpected", unexpected), ("of another shape", misshapen)) if keys]
    return "; ".join(parts)
