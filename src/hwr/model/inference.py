"""Running a model over uint8 image arrays (memmaps included) in batches: each batch's
log-probabilities go to a decoder (any callable of :mod:`hwr.decoding`), optionally with the CTC loss."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from hwr.model.ctc import ctc_loss, ctc_loss_fn
from hwr.model.runtime import autocast


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
    decoder: Callable[[torch.Tensor], list],
    labels: np.ndarray | None = None,
    batch_size: int = 256,
    device: torch.device = torch.device("cpu"),
    dtype: torch.dtype | None = None,
) -> tuple[list, float | None]:
    """Read ``images[indices]`` with ``decoder`` (e.g. :func:`hwr.decoding.greedy.greedy_read`);
    with ``labels``, also the mean CTC loss. An :class:`hwr.model.ensemble.Ensemble` gives the decoder
    every model's log-probabilities, (M, N, T, C): a :class:`hwr.decoding.factory.Decoder` combines
    them per name; its loss is the models' mean."""
    was_training = model.training
    model.eval()
    if indices is None:
        indices = np.arange(len(images))
    readings: list = []
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
            members = log_probs if log_probs.dim() == 4 else log_probs[None]  # an Ensemble's (M, N, T, C)
            loss_sum += sum(ctc_loss(loss_fn, lp, y).item() for lp in members) / len(members) * len(idx)
            seen += len(idx)
    model.train(was_training)
    return readings, (loss_sum / seen if seen else None)
