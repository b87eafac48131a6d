"""Batched recognition over uint8 image arrays (memmaps included), with optional CTC loss."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from hwr.alphabet import BLANK
from hwr.decoding import Reading, greedy_read
from hwr.runtime import autocast


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


def to_device(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(batch))
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor


@torch.no_grad()
def recognise(
    model: nn.Module,
    images: np.ndarray,
    indices: np.ndarray | None = None,
    *,
    labels: np.ndarray | None = None,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
    dtype: torch.dtype | None = None,
    decoder: Callable[[torch.Tensor], list[Reading]] = greedy_read,
) -> tuple[list[Reading], float | None]:
    """Read ``images[indices]`` with ``decoder`` (greedy by default); with ``labels``, also the
    mean CTC loss."""
    was_training = model.training
    model.eval()
    if indices is None:
        indices = np.arange(len(images))
    readings: list[Reading] = []
    loss_sum, seen = 0.0, 0
    loss_fn = ctc_loss_fn()
    for start in range(0, len(indices), batch_size):
        idx = indices[start : start + batch_size]
        x = to_device(images[idx], device)
        with autocast(device, dtype):
            log_probs = model(x)
        readings.extend(decoder(log_probs))
        if labels is not None:
            y = to_device(labels[idx].astype(np.int64), device)
            loss_sum += ctc_loss(loss_fn, log_probs, y).item() * len(idx)
            seen += len(idx)
    model.train(was_training)
    return readings, (loss_sum / seen if seen else None)
