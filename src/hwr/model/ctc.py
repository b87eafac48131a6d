"""The CTC loss the network is trained and measured with (blank last, labels padded with -1)."""

from __future__ import annotations

import torch
from torch import nn

from hwr.core.alphabet import BLANK


def ctc_loss_fn() -> nn.CTCLoss:
    # zero_infinity: an impossible alignment (label too long for 64 steps) must not poison a batch
    return nn.CTCLoss(blank=BLANK, reduction="mean", zero_infinity=True)


def ctc_loss(loss_fn: nn.CTCLoss, log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log_probs (N, T, C) float32; labels (N, S) padded with -1. The loss is on log_probs' device.

    On CUDA the loss is computed on the CPU: CUDA's CTC backward adds with atomics, so two runs with
    the same seed would drift apart; (N, 64, 30) log-probabilities are cheap to move."""
    device = log_probs.device
    if device.type == "cuda":
        log_probs, labels = log_probs.cpu(), labels.cpu()
    lengths = (labels >= 0).sum(dim=1).long()
    steps = torch.full((log_probs.shape[0],), log_probs.shape[1], dtype=torch.long)
    loss = loss_fn(log_probs.transpose(0, 1), labels.clamp(min=0).long(), steps, lengths)
    return loss.to(device)
