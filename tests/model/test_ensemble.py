"""hwr.model.ensemble: models averaged in log space."""

import pytest
import torch
from _support import tiny_model

from hwr.core.errors import HwrError
from hwr.model.checkpoints import load_model
from hwr.model.ensemble import Ensemble, load_models


def test_one_model_is_itself_and_two_average_their_probabilities(tmp_path):
    gru, lstm = tiny_model(tmp_path / "g.pt", "gru", seed=1), tiny_model(tmp_path / "l.pt", "lstm", seed=2)
    alone, config = load_models([gru])
    assert config["rnn"] == "gru" and not isinstance(alone, Ensemble)
    both, config = load_models([gru, lstm])
    assert config["rnn"] == "gru+lstm" and config["members"] == [str(gru), str(lstm)]
    images = torch.randint(0, 256, (3, 64, 256), dtype=torch.uint8)
    with torch.no_grad():
        a, b = load_model(gru)[0](images), load_model(lstm)[0](images)
        mean = both(images)
    assert torch.allclose(mean.exp().sum(-1), torch.ones(3, 64), atol=1e-5)  # a distribution per step
    expected = torch.log_softmax((a + b) / 2, dim=-1)  # the geometric mean, renormalised
    torch.testing.assert_close(mean, expected)


def test_models_of_different_resize_modes_are_a_one_line_error(tmp_path):
    crop, fit = tiny_model(tmp_path / "c.pt", "gru"), tiny_model(tmp_path / "f.pt", "gru", resize="fit")
    with pytest.raises(HwrError, match="resized differently") as info:
        load_models([crop, fit])
    assert "\n" not in str(info.value)
    with pytest.raises(HwrError, match="no model given"):
        load_models([])
