"""hwr.decoding.combine: readings of several models combined per name."""

import numpy as np
import pytest

from hwr.core.alphabet import ALPHABET, BLANK
from hwr.decoding.combine import combine
from hwr.decoding.factory import GREEDY
from hwr.decoding.greedy import Reading, greedy_read


def test_agreeing_models_keep_the_text_at_their_mean_confidence():
    (reading,) = combine([[Reading("LEA", 0.9)], [Reading("LEA", 0.7)]])
    assert reading.text == "LEA" and reading.confidence == pytest.approx(0.8)


def test_disagreeing_models_give_the_more_confident_reading_at_half_its_confidence():
    (reading,) = combine([[Reading("LEA", 0.6)], [Reading("LEO", 0.9)]])
    assert reading.text == "LEO" and reading.confidence == pytest.approx(0.45)


def test_alternatives_count_towards_a_candidate_and_are_kept():
    first = Reading("LEA", 0.5, (("LEO", 0.4),))
    second = Reading("LEO", 0.55, (("LEA", 0.1),))
    (reading,) = combine([[first], [second]])
    assert reading.text == "LEO" and reading.confidence == pytest.approx(0.475)  # (0.4 + 0.55) / 2
    assert reading.alternatives == (("LEA", pytest.approx(0.3)),)  # (0.5 + 0.1) / 2


def test_models_must_read_the_same_images():
    with pytest.raises(ValueError, match="same images"):
        combine([[Reading("A", 1.0)], []])


def _peaky(text: str, start: int, steps: int = 20) -> np.ndarray:
    """Log-probabilities of a model that emits ``text``'s letters every fourth step from ``start``,
    at 0.9 (blank 0.1), and blank elsewhere, as a CTC model does."""
    probs = np.full((steps, len(ALPHABET) + 1), 1e-5)
    probs[:, BLANK] = 1.0
    for i, letter in enumerate(text):
        probs[start + 4 * i, ALPHABET.index(letter)] = 0.9
        probs[start + 4 * i, BLANK] = 0.1
    return np.log(probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)


def test_models_that_emit_letters_at_different_frames_still_read_the_name():
    """Two models read LEA with their letters two frames apart: the per-frame average of their
    log-probabilities reads nothing, the decoder that reads each and combines reads LEA."""
    early, late = _peaky("LEA", 2), _peaky("LEA", 4)
    stacked = np.stack([early[None], late[None]])  # (M, N, T, C)
    averaged = np.log(np.exp((early + late) / 2) / np.exp((early + late) / 2).sum(axis=1, keepdims=True))
    assert greedy_read(averaged[None])[0].text == ""
    (reading,) = GREEDY(stacked)
    assert reading.text == "LEA" and reading.confidence > 0.5
