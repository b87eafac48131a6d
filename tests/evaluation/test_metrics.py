import pytest

from hwr.evaluation.metrics import aligned_pairs, confusions, mean_letter_share_on_errors, positional_correct, summarise

TRUTHS = ["ALLAN", "MARIE", "LEA", "JEAN", "NOEL"]
PREDS = ["ALAN", "MARIE", "LEO", "", "MOEL"]
# hand count:
#   exact: MARIE                                               -> 1 of 5 words
#   positional letters: ALLAN/ALAN A,L (then L!=A, A!=N) = 2; MARIE 5; LEA/LEO 2; JEAN/"" 0; NOEL/MOEL 3
#                       = 12 of 5+5+3+4+4 = 21
#   edits: 1 (drop an L) + 0 + 1 (A->O) + 4 + 1 (N->M) = 7 of 21
#   wrong words' letter shares: 2/5, 2/3, 0/4, 3/4


def test_positional_correct_counts_like_the_kaggle_notebooks():
    assert positional_correct("ALLAN", "ALAN") == 2
    assert positional_correct("LEA", "LEAH") == 3  # extra predicted letters are not penalised
    assert positional_correct("LEA", "") == 0
    assert positional_correct("", "X") == 0


def test_summary_on_hand_checked_examples():
    s = summarise(TRUTHS, PREDS)
    assert s["samples"] == 5
    assert s["word_accuracy"] == pytest.approx(1 / 5)
    assert s["letter_accuracy"] == pytest.approx(12 / 21)
    assert s["cer"] == pytest.approx(7 / 21)


def test_letter_accuracy_is_over_label_length():
    s = summarise(["LEA"], ["LEAH"])
    assert s["word_accuracy"] == 0
    assert s["letter_accuracy"] == 1.0  # positional count ignores the extra H
    assert s["cer"] == pytest.approx(1 / 3)  # the edit distance does not


def test_cer_uses_edit_distance_not_positions():
    # one inserted letter shifts every position: positional accuracy collapses, CER does not
    s = summarise(["MARIE"], ["MMARIE"])
    assert s["letter_accuracy"] == pytest.approx(1 / 5)
    assert s["cer"] == pytest.approx(1 / 5)


def test_summary_edge_cases():
    assert summarise([], []) == {"samples": 0, "word_accuracy": 0.0, "letter_accuracy": 0.0, "cer": 0.0}
    perfect = summarise(["A", "BB"], ["A", "BB"])
    assert perfect["word_accuracy"] == perfect["letter_accuracy"] == 1.0 and perfect["cer"] == 0.0
    with pytest.raises(ValueError):
        summarise(["A"], [])


def test_confusions_are_substitutions_only():
    counts = confusions(TRUTHS, PREDS)
    assert counts == {("A", "O"): 1, ("N", "M"): 1}  # the dropped L and the missed JEAN are not substitutions
    assert confusions(["NN", "HO"], ["MM", "MU"]) == {("N", "M"): 2, ("H", "M"): 1, ("O", "U"): 1}


def test_mean_letter_share_on_wrong_words():
    share = mean_letter_share_on_errors(TRUTHS, PREDS)
    assert share == pytest.approx((2 / 5 + 2 / 3 + 0 / 4 + 3 / 4) / 4)
    assert mean_letter_share_on_errors(["A", "B"], ["A", "B"]) is None


def test_aligned_pairs():
    assert aligned_pairs("LEA", "LEO") == [("L", "L"), ("E", "E"), ("A", "O")]
    pairs = aligned_pairs("ALLAN", "ALAN")
    assert len(pairs) == 5
    assert sum(b == "" for _, b in pairs) == 1 and all(a for a, _ in pairs)  # one L missed, no insertion
    assert all(a == b for a, b in pairs if b)
    assert aligned_pairs("", "AB") == [("", "A"), ("", "B")]
    assert aligned_pairs("JEAN", "") == [(c, "") for c in "JEAN"]
