"""hwr.model.ensemble: several models run as one, their log-probabilities stacked."""

import pytest
import torch
from _support import tiny_model

from hwr.core.errors import HwrError
from hwr.model.checkpoints import load_model
from hwr.model.ensemble import Ensemble, load_models


def test_one_model_is_itself_and_two_give_both_their_log_probabilities(tmp_path):
    gru, lstm = tiny_model(tmp_path / "g.pt", "gru", seed=1), tiny_model(tmp_path / "l.pt", "lstm", seed=2)
    alone, config = load_models([gru])
    assert config["rnn"] == "gru" and not isinstance(alone, Ensemble)
    both, config = load_models([gru, lstm])
    assert config["rnn"] == "gru+lstm" and config["members"] == [str(gru), str(lstm)]
    images = torch.randint(0, 256, (3, 64, 256), dtype=torch.uint8)
    with torch.no_grad():
        a, b = load_model(gru)[0](images), load_model(lstm)[0](images)
        stacked = both(images)
    assert stacked.shape == (2, 3, 64, 30)  # not averaged frame by frame: the decoder combines readings
    torch.testing.assert_close(stacked[0], a)
    torch.testing.assert_close(stacked[1], b)


def test_models_of_different_resize_modes_are_a_one_line_error(tmp_path):
    crop, fit = tiny_model(tmp_path / "c.pt", "gru"), tiny_model(tmp_path / "f.pt", "gru", resize="fit")
    with pytest.raises(HwrError, match="resized differently") as info:
        load_models([crop, fit])
    assert "\n" not in str(info.value)
    with pytest.raises(HwrError, match="no model given"):
        load_models([])
