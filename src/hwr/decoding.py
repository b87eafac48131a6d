"""CTC decoding.

Greedy (best path): arg-max per time step, merge repeated symbols, then drop blanks. Merging
before dropping is what keeps double letters: "LL" must come out as L, blank, L.
"""

from __future__ import annotations

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
