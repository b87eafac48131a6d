"""What is trained and how one step moves it: the network (the CRNN and its training-only auxiliary
head), its optimiser and loss scaling, one optimiser step, and the learning-rate schedule.

:class:`Trainer` is what the pipeline (:mod:`hwr.training.loop`), the benchmarks and the experiments
all train with, so a change to a step is a change to all of them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hwr.core.alphabet import NUM_CLASSES
from hwr.data.images import WIDTH
from hwr.model.crnn import CRNN
from hwr.model.ctc import ctc_loss, ctc_loss_fn
from hwr.model.runtime import autocast
from hwr.params import TrainParams


def lr_at(step: int, total: int, params: TrainParams) -> float:
    """constant (the study's), or one-cycle: linear warm-up then cosine decay to 1 % of the peak."""
    if params.schedule == "constant":
        return params.lr
    warmup = max(1, int(total * params.warmup_fraction))
    if step < warmup:
        return params.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return params.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


class Net(nn.Module):
    """What training optimises: the CRNN and, when ``train.aux_weight`` > 0, an auxiliary CTC head
    on its 64 projected features (deep supervision: a short path from the loss to the convolutions,
    past the recurrent layers, which shortens CTC's all-blank phase). The head is training-only:
    the saved model is the study's CRNN, its parameter count unchanged."""

    def __init__(self, rnn: str, aux: bool, cnn: str = "study", width: int = WIDTH):
        super().__init__()
        self.crnn = CRNN(rnn, cnn, width=width)
        self.aux = None
        if aux:
            self.aux = nn.Linear(self.crnn.project[0].out_features, NUM_CLASSES)
            nn.init.xavier_uniform_(self.aux.weight)
            nn.init.zeros_(self.aux.bias)

    def forward(self, images: torch.Tensor):
        if self.aux is None:
            return self.crnn(images), None
        log_probs, projected = self.crnn(images, features=True)
        return log_probs, torch.log_softmax(self.aux(projected).float(), dim=-1)


def make_optimiser(module: nn.Module, lr: float, device: torch.device, **options) -> torch.optim.Adam:
    """Adam, fused (one kernel for all parameters: 4 ms a step instead of 16 on the CPU) where torch has it."""
    return torch.optim.Adam(module.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"), **options)


class Trainer:
    """The network being trained, its optimiser and loss scaling, and one optimiser step."""

    def __init__(self, rnn: str, params: TrainParams, device: torch.device, dtype: torch.dtype | None):
        self.params, self.device, self.dtype = params, device, dtype
        self.net = Net(rnn, params.aux_weight > 0, params.cnn, params.width)
        self.net = self.net.to(device).to(memory_format=torch.channels_last)
        self.model = self.net.crnn  # what is evaluated and saved
        self.optimiser = make_optimiser(self.net, params.lr, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
        self.loss_fn = ctc_loss_fn()
        self.forward = self.net  # DistributedDataParallel(net) under torchrun (see distribute)

    def distribute(self, ddp) -> None:
        if ddp.world > 1:
            ids = [ddp.local_rank] if self.device.type == "cuda" else None
            self.forward = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=ids)

    def step(self, x: torch.Tensor, y: torch.Tensor, lr: float, aux_weight: float = 0.0):
        """One optimiser step on a batch; returns the CTC loss and the auxiliary head's (or None),
        both detached. ``train.clip`` > 0 rescales the gradient to at most that global norm."""
        for group in self.optimiser.param_groups:
            group["lr"] = lr
        self.net.train()
        with autocast(self.device, self.dtype):
            log_probs, aux_log_probs = self.forward(x)
        loss = ctc_loss(self.loss_fn, log_probs, y)
        objective, aux_loss = loss, None
        if aux_log_probs is not None:
            aux_loss = ctc_loss(self.loss_fn, aux_log_probs, y)
            objective = loss + aux_weight * aux_loss
        self.optimiser.zero_grad(set_to_none=True)
        self.scaler.scale(objective).backward()
        if self.params.clip > 0:
            self.scaler.unscale_(self.optimiser)  # clip the true gradient, not the fp16-scaled one
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.params.clip)
        self.scaler.step(self.optimiser)
        self.scaler.update()
        return loss.detach(), None if aux_loss is None else aux_loss.detach()

    def state_dict(self) -> dict:
        return {"net": {k: v.cpu() for k, v in self.net.state_dict().items()},
                "optimiser": self.optimiser.state_dict(), "scaler": self.scaler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.scaler.load_state_dict(state["scaler"])
