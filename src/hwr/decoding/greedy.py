"""CTC decoding.

Greedy (best path): arg-max per time step, merge repeated symbols, then drop blanks. Merging
before dropping is what keeps double letters: "LL" must come out as L, blank, L.

A decoder turns a batch of (N, T, C) log-probabilities into one :class:`Reading` per image: the
text, a confidence in [0, 1] and, where the decoder has them, other candidates. Greedy's confidence
is the probability of its best path (the product over time steps of the arg-max probabilities).

Decoding runs on NumPy and imports no torch: an ONNX model (``hwr.app.predictor``) is read without it.
Torch tensors are accepted all the same (copied to the CPU as float32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hwr.core.alphabet import ALPHABET, BLANK


def as_array(log_probs) -> np.ndarray:
    """(N, T, C) scores as a float32 NumPy array: a torch tensor (any device or dtype) is copied to
    the CPU, found by duck typing so that this module never imports torch."""
    if hasattr(log_probs, "detach"):
        log_probs = log_probs.detach().float().cpu().numpy()
    return np.asarray(log_probs, dtype=np.float32)


def greedy_indices(log_probs) -> list[list[int]]:
    """(N, T, C) scores -> per sample, the decoded symbol indices (vectorised over the batch)."""
    best = as_array(log_probs).argmax(axis=-1)  # (N, T)
    keep = best != BLANK
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]  # a repeat of the previous step is merged
    return [row[mask].tolist() for row, mask in zip(best, keep)]


def greedy_decode(log_probs) -> list[str]:
    """(N, T, C) scores -> the recognised strings."""
    return ["".join(ALPHABET[i] for i in seq) for seq in greedy_indices(log_probs)]


@dataclass(frozen=True)
class Reading:
    """One recognised name: its text, the decoder's confidence in it, and other candidates (text,
    confidence), best first, when the decoder gives them."""

    text: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()


def greedy_read(log_probs) -> list[Reading]:
    """(N, T, C) log-probabilities -> greedy readings, confidence = the best path's probability."""
    log_probs = as_array(log_probs)
    path = np.exp(log_probs.max(axis=-1).sum(axis=-1))
    return [Reading("".join(ALPHABET[i] for i in seq), float(p)) for seq, p in zip(greedy_indices(log_probs), path)]
