"""hwr.training.start: the model a run starts from (train.init_from)."""

import logging

import pytest
import torch
from _support import tiny_model

from hwr.core.errors import HwrError
from hwr.training.start import load_start_model, start_weights


def test_start_weights_are_the_model_s_and_the_digest_follows_the_file(tmp_path):
    path = tiny_model(tmp_path / "start.pt", "lstm", seed=3)
    weights, digest = start_weights(path, "lstm", "crop")
    model, config = load_start_model(path)
    assert config["rnn"] == "lstm" and weights.keys() == model.state_dict().keys()
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert start_weights(path, "lstm", "crop")[1] == digest
    tiny_model(path, "lstm", seed=4)  # another file behind the same path
    assert start_weights(path, "lstm", "crop")[1] != digest


def test_a_model_of_another_family_or_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(HwrError, match=r"is a gru model; this run trains an lstm: start from an lstm model"):
        start_weights(tiny_model(tmp_path / "g.pt", "gru"), "lstm", "crop")
    with pytest.raises(HwrError, match="no model file to start from") as info:
        load_start_model(tmp_path / "absent.pt")
    assert str(tmp_path / "absent.pt") in str(info.value) and "\n" not in str(info.value)


def test_a_model_of_another_architecture_is_one_line(tmp_path):
    from hwr.model.checkpoints import save_model
    from hwr.model.crnn import CRNN

    save_model(tmp_path / "wide.pt", CRNN("gru", "wide"), {"rnn": "gru", "cnn": "wide", "resize": "crop"})
    assert start_weights(tmp_path / "wide.pt", "gru", "crop", "wide")[0].keys() == CRNN("gru", "wide").state_dict().keys()
    with pytest.raises(HwrError, match=r"has the 'wide' architecture; this run trains 'study' \(train.cnn\)"):
        start_weights(tmp_path / "wide.pt", "gru", "crop")


def test_another_resize_mode_is_a_warning(tmp_path, caplog):
    path = tiny_model(tmp_path / "fit.pt", "gru", resize="fit")
    with caplog.at_level(logging.WARNING):
        start_weights(path, "gru", "crop")
    assert "trained on 'fit' images" in caplog.text
