import numpy as np
import pytest
import torch

from hwr.core.alphabet import ALPHABET, BLANK, NUM_CLASSES
from hwr.decoding.greedy import greedy_decode, greedy_indices, greedy_read

_ = BLANK


def path(*steps):
    """Log-probabilities (T, C) whose arg-max follows ``steps`` (characters, or BLANK).

    Each step puts 0.6 on its class and spreads the rest, so the arg-max is unambiguous but the
    rows are real probability distributions, not one-hot vectors."""
    t = len(steps)
    probs = np.full((t, NUM_CLASSES), 0.4 / (NUM_CLASSES - 1))
    for i, step in enumerate(steps):
        probs[i, BLANK if step is BLANK else ALPHABET.index(step)] = 0.6
    return np.log(probs)


def decode_one(*steps):
    return greedy_decode(path(*steps)[None])[0]


def test_repeats_are_merged():
    assert decode_one("A", "A", "A", "N", "N", "A") == "ANA"


def test_blank_between_double_letters_keeps_them():
    assert decode_one("A", "L", _, "L", "A", "N") == "ALLAN"
    assert decode_one("L", "L", _, "L", "L") == "LL"
    assert decode_one(_, "A", "A", "L", "L", _, _, "L", "A", "N", "N", _) == "ALLAN"


def test_double_letter_without_blank_collapses():
    assert decode_one("A", "L", "L", "A", "N") == "ALAN"


def test_all_blank_is_empty():
    assert decode_one(_, _, _, _) == ""
    assert decode_one(_) == ""


def test_leading_and_trailing_blanks_and_symbols():
    assert decode_one(_, _, "J", "-", "P", _, "'", " ", "Z", _) == "J-P' Z"


def test_batch_is_decoded_per_sample():
    rows = [path("L", _, "L", _), path(_, _, _, _), path("A", "A", "B", "B"), path("Z", "Z", "Z", "Z")]
    batch = np.stack(rows)
    assert greedy_decode(batch) == ["LL", "", "AB", "Z"]
    assert greedy_decode(torch.from_numpy(batch).float()) == ["LL", "", "AB", "Z"]
    assert greedy_indices(batch) == [[12, 12], [], [1, 2], [26]]


def test_model_sized_output():
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.normal(size=(3, 64, NUM_CLASSES))).log_softmax(-1)
    texts = greedy_decode(scores)
    assert len(texts) == 3
    for row, text in zip(scores.argmax(-1).tolist(), texts):
        expected = "".join(ALPHABET[c] for i, c in enumerate(row) if c != BLANK and (i == 0 or row[i - 1] != c))
        assert text == expected


@pytest.mark.parametrize("steps", [(_, "A"), ("A", _), ("A", "A", _, "A")])
def test_indices_match_text(steps):
    [indices] = greedy_indices(path(*steps)[None])
    assert "".join(ALPHABET[i] for i in indices) == decode_one(*steps)


def test_greedy_confidence_is_the_best_path_probability():
    # three steps over (A, B, blank): A wins step 1 at 0.9, B step 2 at 0.7, blank step 3 at 0.6
    steps = np.log(np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.3, 0.1, 0.6]]))
    scores = np.full((1, 3, 30), -1e9)
    scores[0][:, [1, 2, BLANK]] = steps
    (reading,) = greedy_read(torch.from_numpy(scores).float())
    assert reading.text == "AB"
    assert reading.confidence == pytest.approx(0.9 * 0.7 * 0.6, rel=1e-5)


def test_greedy_confidence_orders_sure_above_unsure():
    sure, unsure = np.full((64, 30), -20.0), np.full((64, 30), -20.0)
    sure[:, BLANK] = 0.0
    unsure[:, BLANK], unsure[:, 1] = np.log(0.55), np.log(0.45)
    sure_reading, unsure_reading = greedy_read(torch.from_numpy(np.stack([sure, unsure])).float())
    assert sure_reading.text == unsure_reading.text == ""
    assert sure_reading.confidence > 0.99 > 0.01 > unsure_reading.confidence
