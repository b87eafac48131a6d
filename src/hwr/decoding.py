"""CTC decoding.

Greedy (best path): arg-max per time step, merge repeated symbols, then drop blanks. Merging
before dropping is what keeps double letters: "LL" must come out as L, blank, L.

A decoder turns a batch of (N, T, C) log-probabilities into one :class:`Reading` per image: the
text, a confidence in [0, 1] and, where the decoder has them, other candidates. Greedy's confidence
is the probability of its best path (the product over time steps of the arg-max probabilities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hwr.alphabet import ALPHABET, BLANK


def greedy_indices(log_probs: torch.Tensor | np.ndarray) -> list[list[int]]:
    """(N, T, C) scores -> per sample, the decoded symbol indices (vectorised over the batch)."""
    best = torch.as_tensor(log_probs).argmax(dim=-1)  # (N, T)
    keep = best != BLANK
    keep[:, 1:] &= best[:, 1:] != best[:, :-1]  # a repeat of the previous step is merged
    best, keep = best.cpu().numpy(), keep.cpu().numpy()
    return [row[mask].tolist() for row, mask in zip(best, keep)]


def greedy_decode(log_probs: torch.Tensor | np.ndarray) -> list[str]:
    """(N, T, C) scores -> the recognised strings."""
    return ["".join(ALPHABET[i] for i in seq) for seq in greedy_indices(log_probs)]


@dataclass(frozen=True)
class Reading:
    """One recognised name: its text, the decoder's confidence in it, and other candidates (text,
    confidence), best first, when the decoder gives them."""

    text: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()


def greedy_read(log_probs: torch.Tensor | np.ndarray) -> list[Reading]:
    """(N, T, C) log-probabilities -> greedy readings, confidence = the best path's probability."""
    log_probs = torch.as_tensor(log_probs)
    path = log_probs.float().max(dim=-1).values.sum(dim=-1).exp().cpu().numpy()
    return [Reading("".join(ALPHABET[i] for i in seq), float(p)) for seq, p in zip(greedy_indices(log_probs), path)]
