"""The steps of a training run: which rows each optimiser step reads, and the steps themselves.

:func:`run_steps` is the one training loop of the project: the pipeline's run
(:func:`hwr.training.loop.train`) and the experiments iterate it and add their own bookkeeping
(evaluation, checkpoints, curves) between its steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from hwr.data.store import Store, gather
from hwr.model.inference import to_device
from hwr.params import TrainParams
from hwr.training import augment as augmentation
from hwr.training.trainer import Trainer, lr_at


def batch_tensors(store: Store, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = gather(store, rows)
    return to_device(images, device), to_device(labels.astype(np.int64), device)


def epoch_order(train_idx: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """The epoch's order depends on (seed, epoch) only, so a resumed run sees the same batches."""
    return np.random.default_rng([seed, epoch]).permutation(train_idx)


def augmentation_generator(*key: int) -> torch.Generator:
    """A torch RNG seeded from a tuple: augmentation of a given step is the same after resume."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


class Batches:
    """Each step's rows and their tensors: the epoch's order (:func:`epoch_order`), this rank's share
    of it, cut into batches of ``train.batch_size``, warped when ``train.augment``, masked when ``train.mask``. A step's batch
    depends on the step's number alone, so a resumed run reads the batches it would have read."""

    def __init__(self, store: Store, train_idx: np.ndarray, params: TrainParams, device: torch.device,
                 rank: int = 0, world: int = 1):
        self.store, self.train_idx, self.params, self.device = store, train_idx, params, device
        self.rank, self.world = rank, world
        self.per_rank = len(train_idx) // world  # equal shares: under DDP every rank takes every step
        self.steps_per_epoch = math.ceil(self.per_rank / params.batch_size)
        self._epoch, self._order = None, None  # one epoch's order kept

    def order(self, epoch: int) -> np.ndarray:
        """This rank's rows of ``epoch``, in the order they are trained (an experiment may reorder)."""
        return epoch_order(self.train_idx, self.params.seed, epoch)[self.rank :: self.world][: self.per_rank]

    def rows(self, step: int) -> np.ndarray:
        epoch, k = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, self.order(epoch)
        size = self.params.batch_size
        return self._order[k * size : (k + 1) * size]

    def tensors(self, step: int, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch_tensors(self.store, rows, self.device)
        epoch, k = divmod(step, self.steps_per_epoch)
        if self.params.augment:
            x = augmentation.augment_batch(x, augmentation_generator(self.params.seed, epoch, k, self.rank))
        if self.params.mask > 0:  # its own stream: turning masking on leaves the warps as they were
            x = augmentation.mask_batch(x, augmentation_generator(self.params.seed, epoch, k, self.rank, 1),
                                        self.params.mask)
        return x, y


@dataclass
class Step:
    """One optimiser step done."""

    step: int  # steps done, this one included
    loss: float  # the batch's CTC loss, in training mode
    aux_loss: float | None  # the auxiliary head's, when the trainer has one
    images: int  # this rank's batch size
    seconds: float  # reading the batch and the step, the device's work included


def run_steps(trainer: Trainer, batches: Batches, first: int, total: int) -> Iterator[Step]:
    """Steps ``first`` to ``total - 1`` of a run of ``total`` steps, each on its batch at the scheduled
    learning rate (:func:`lr_at` of the step, so a resumed run goes on where it stopped)."""
    params = trainer.params
    for step in range(first, total):
        rows = batches.rows(step)
        started = time.perf_counter()
        x, y = batches.tensors(step, rows)
        loss, aux_loss = trainer.step(x, y, lr_at(step, total, params), params.aux_weight)
        loss_value = loss.double().item()  # waits for the device, so the step's time is its work's
        aux_value = None if aux_loss is None else aux_loss.double().item()
        yield Step(step + 1, loss_value, aux_value, len(rows), time.perf_counter() - started)
