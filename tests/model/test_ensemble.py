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


def test_models_of_different_widths_read_together_the_shorter_padded_with_blanks(tmp_path):
    """A 256-px and a 384-px model: each reads its own crop of the same 384-px images; the first's
    64 frames are followed by 32 certain blanks, which change no CTC reading."""
    from hwr.core.alphabet import BLANK
    from hwr.decoding.greedy import greedy_read

    narrow = tiny_model(tmp_path / "n.pt", "gru", seed=1)
    wide = tiny_model(tmp_path / "w.pt", "gru", seed=2, width=384)
    both, config = load_models([narrow, wide])
    assert config["width"] == 384
    images = torch.randint(0, 256, (3, 64, 384), dtype=torch.uint8)
    with torch.no_grad():
        a, b = load_model(narrow)[0](images), load_model(wide)[0](images)
        stacked = both(images)
    assert stacked.shape == (2, 3, 96, 30)
    torch.testing.assert_close(stacked[0, :, :64], a)
    torch.testing.assert_close(stacked[1], b)
    assert (stacked[0, :, 64:].argmax(-1) == BLANK).all() and torch.allclose(stacked[0, :, 64:].exp().sum(-1),
                                                                             torch.ones(3, 32))
    assert [r.text for r in greedy_read(stacked[0])] == [r.text for r in greedy_read(a)]
