"""The trained model a run starts from (``train.init_from``): fine-tuning and self-training are the
training loop started there instead of from new weights."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from hwr.core.errors import HwrError
from hwr.model.checkpoints import load_model
from hwr.model.crnn import CRNN

log = logging.getLogger(__name__)

_ARTICLE = {"gru": "a", "lstm": "an"}


def load_start_model(path: str | Path) -> tuple[CRNN, dict]:
    """The trained model a run starts from (``init_from``) and its config; a missing file is a
    one-line error naming it, one of another alphabet or shape is refused by load_model."""
    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: no model file to start from (init_from); give a model.pt that training wrote, "
                       "e.g. models/gru-full/model.pt copied to pretrained/")
    return load_model(path)


def start_weights(path: str | Path, rnn: str, resize: str, cnn: str = "study") -> tuple[dict, str]:
    """The CRNN weights of the trained model in ``path``, for a run that trains a ``rnn`` of
    architecture ``cnn`` on ``resize`` images, and the file's digest (the run's fingerprint includes
    it: the file behind a path can change). A model of another family or architecture is a one-line error."""
    model, config = load_start_model(path)
    if config["rnn"] != rnn:
        raise HwrError(f"{path} is {_ARTICLE[config['rnn']]} {config['rnn']} model; this run trains "
                       f"{_ARTICLE[rnn]} {rnn}: start from {_ARTICLE[rnn]} {rnn} model")
    if model.cnn_type != cnn:
        raise HwrError(f"{path} has the '{model.cnn_type}' architecture; this run trains '{cnn}' (train.cnn): "
                       f"set train.cnn: {model.cnn_type} or start from a '{cnn}' model")
    if config.get("resize", "crop") != resize:
        log.warning("%s was trained on '%s' images, this run's are '%s': its first steps adapt it to them",
                    path, config.get("resize", "crop"), resize)
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    return model.state_dict(), digest
