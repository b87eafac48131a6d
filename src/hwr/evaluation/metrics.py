"""Recognition metrics: word accuracy, the study's letter accuracy, CER, and error analysis.

- word accuracy: share of samples recognised exactly.
- letter accuracy (the study's and the Kaggle notebooks'): characters equal at the same position,
  counted over the label's length, summed over all samples.
- CER: total Levenshtein distance / total label length (the standard measure in HTR).
- confusions: substitutions (true -> predicted) from Levenshtein alignments.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from rapidfuzz.distance import Levenshtein


def positional_correct(truth: str, pred: str) -> int:
    return sum(t == p for t, p in zip(truth, pred))


def summarise(truths: Sequence[str], preds: Sequence[str]) -> dict:
    """Word accuracy, letter accuracy and CER (all as fractions) over paired strings."""
    if len(truths) != len(preds):
        raise ValueError("truths and predictions differ in length")
    n = len(truths)
    chars = sum(len(t) for t in truths)
    exact = sum(t == p for t, p in zip(truths, preds))
    positional = sum(positional_correct(t, p) for t, p in zip(truths, preds))
    edits = sum(Levenshtein.distance(t, p) for t, p in zip(truths, preds))
    return {
        "samples": n,
        "word_accuracy": exact / n if n else 0.0,
        "letter_accuracy": positional / chars if chars else 0.0,
        "cer": edits / chars if chars else 0.0,
    }


def confusions(truths: Sequence[str], preds: Sequence[str]) -> Counter:
    """Counts of (true char, predicted char) substitutions from edit-distance alignments."""
    counts: Counter = Counter()
    for t, p in zip(truths, preds):
        for op in Levenshtein.editops(t, p):
            if op.tag == "replace":
                counts[(t[op.src_pos], p[op.dest_pos])] += 1
    return counts


def aligned_pairs(truth: str, pred: str) -> list[tuple[str, str]]:
    """Character pairs (actual, predicted) along the alignment; '' stands for a gap.

    Used for the confusion-matrix plot: matches and substitutions give a pair of characters,
    deletions (a character missed) give (char, ''), insertions give ('', char)."""
    pairs = []
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(truth, pred).as_list():
        if tag in ("equal", "replace"):
            pairs.extend(zip(truth[i1:i2], pred[j1:j2]))
        elif tag == "delete":
            pairs.extend((c, "") for c in truth[i1:i2])
        elif tag == "insert":
            pairs.extend(("", c) for c in pred[j1:j2])
    return pairs


def mean_letter_share_on_errors(truths: Sequence[str], preds: Sequence[str]) -> float | None:
    """The study's "on mispredicted words, X % of the letters are right": the mean, over wrong
    words, of positional correct letters / label length. None when no word is wrong."""
    shares = [positional_correct(t, p) / len(t) for t, p in zip(truths, preds) if t != p and t]
    return sum(shares) / len(shares) if shares else None
