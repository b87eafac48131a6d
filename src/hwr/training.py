"""The training loop: plain PyTorch, read top to bottom.

One call trains one (rnn, subset) model: Adam on CTC loss, evaluation every ``train.eval_every``
optimiser steps on validation and on a fixed sample of the training subset, the best evaluated
weights kept (validation word accuracy, ties to lower CER), dvclive curves by step, checkpoints to
resume from, and DDP when started by torchrun. With ``train.init_from`` it starts from the weights
of a trained model instead of new ones, evaluated at step 0 too (so the model written is never
worse on validation than the start): fine-tuning (``hwr.adapt``) is this loop started there.

:class:`Trainer` (the network, its optimiser and one training step) is what the pipeline,
the benchmarks and the experiments all train with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from hwr import augment as augmentation
from hwr.alphabet import NUM_CLASSES
from hwr.checkpoints import atomic_save, load_model, save_model
from hwr.errors import HwrError
from hwr.files import write_json
from hwr.inference import ctc_loss, ctc_loss_fn, recognise, to_device
from hwr.metrics import summarise
from hwr.model import CRNN, count_parameters
from hwr.params import TrainParams
from hwr.runtime import (autocast, configure_threads, make_deterministic, pick_device, precision_name,
                         resolve_precision, setup_distributed)
from hwr.store import Store, gather, select

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 120  # at most this much training is lost to an interruption (and at each epoch's end)


@dataclass
class Plan:
    """What one training run uses: its subset sizes after capping to the data available."""

    rnn: str
    subset: str
    train_size: int
    validation_size: int


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

    def __init__(self, rnn: str, aux: bool):
        super().__init__()
        self.crnn = CRNN(rnn)
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
        self.net = Net(rnn, params.aux_weight > 0).to(device).to(memory_format=torch.channels_last)
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


def batch_tensors(store: Store, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = gather(store, rows)
    return to_device(images, device), to_device(labels.astype(np.int64), device)


def epoch_order(train_idx: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """The epoch's order depends on (seed, epoch) only, so a resumed run sees the same batches."""
    return np.random.default_rng([seed, epoch]).permutation(train_idx)


def augmentation_generator(*key: int) -> torch.Generator:
    """A torch RNG seeded from a tuple: augmentation of a given step is the same after resume."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


def evaluate(model, store: Store, idx: np.ndarray, batch_size: int, device, dtype) -> dict:
    readings, loss = recognise(model, store.images, idx, labels=store.labels, batch_size=batch_size,
                               device=device, dtype=dtype)
    return {"loss": loss, **summarise(store.texts_of(idx), [r.text for r in readings])}


def _rank(metrics: dict) -> tuple[float, float]:
    """Best evaluation: highest validation word accuracy; ties (common early on, at 0) go to lower CER."""
    return metrics["word_accuracy"], -metrics["cer"]


def _log_point(live, record: dict) -> None:
    live.step = record["step"]
    if record["train_loss"] is not None:  # None at step 0 (a run's start model, before any step)
        live.log_metric("train/loss", record["train_loss"])  # mean since the last evaluation, training mode
    if record.get("aux_loss") is not None:
        live.log_metric("train/aux_loss", record["aux_loss"])
    for key in ("word_accuracy", "letter_accuracy", "cer"):
        live.log_metric(f"train/{key}", record["train"][key])  # the fixed training sample, eval mode
    for key in ("loss", "word_accuracy", "letter_accuracy", "cer"):
        live.log_metric(f"validation/{key}", record["validation"][key])
    live.log_metric("lr", record["lr"])
    live.log_metric("epoch", record["epoch"])


def fingerprint(plan: Plan, params: TrainParams, train_idx: np.ndarray, start: str = "") -> str:
    """Identifies a run: a checkpoint resumes only a run with the same plan, params and data, and
    the same starting weights (``start``: the digest of the ``init_from`` file; its path alone is
    in the params, and the file behind a path can change)."""
    blob = json.dumps([asdict(plan), asdict(params), int(train_idx.sum()), len(train_idx), start], sort_keys=True,
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


_ARTICLE = {"gru": "a", "lstm": "an"}


def load_start_model(path: str | Path) -> tuple[CRNN, dict]:
    """The trained model a run starts from (``init_from``) and its config; a missing file is a
    one-line error naming it, one of another alphabet or shape is refused by load_model."""
    path = Path(path)
    if not path.is_file():
        raise HwrError(f"{path}: no model file to start from (init_from); give a model.pt that training wrote, "
                       "e.g. models/gru-full/model.pt copied to pretrained/")
    return load_model(path)


def start_weights(path: str | Path, rnn: str, resize: str) -> tuple[dict, str]:
    """The CRNN weights of the trained model in ``path``, for a run that trains a ``rnn`` on
    ``resize`` images, and the file's digest. A model of another family is a one-line error."""
    model, config = load_start_model(path)
    if config["rnn"] != rnn:
        raise HwrError(f"{path} is {_ARTICLE[config['rnn']]} {config['rnn']} model; this run trains "
                       f"{_ARTICLE[rnn]} {rnn}: start from {_ARTICLE[rnn]} {rnn} model")
    if config.get("resize", "crop") != resize:
        log.warning("%s was trained on '%s' images, this run's are '%s': its first steps adapt it to them",
                    path, config.get("resize", "crop"), resize)
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    return model.state_dict(), digest


def train(plan: Plan, params: TrainParams, train_store: Store, val_store: Store, *,
          model_path: Path, checkpoint_path: Path, live_dir: Path | None, summary_path: Path) -> dict:
    """Train one model; returns (and writes, on rank 0) its summary. ``live_dir=None``: no dvclive log."""
    ddp = setup_distributed()
    device = pick_device(ddp)
    make_deterministic(device)
    threads = configure_threads(ddp)
    dtype = resolve_precision(params.precision, device)
    torch.manual_seed(params.seed)

    train_idx = select(len(train_store), plan.train_size, params.seed)
    val_idx = select(len(val_store), plan.validation_size, params.seed)
    # a fixed sample of the training subset, evaluated like validation, measures overfitting
    probe_idx = train_idx[select(len(train_idx), params.train_eval_size, params.seed + 1)]

    trainer = Trainer(plan.rnn, params, device, dtype)
    start = ""
    if params.init_from:  # the CRNN starts from a trained model; the auxiliary head, training-only, starts fresh
        weights, start = start_weights(params.init_from, plan.rnn, train_store.meta.get("resize", "crop"))
        trainer.model.load_state_dict(weights)
    n_params = count_parameters(trainer.model)
    per_rank = len(train_idx) // ddp.world
    steps_per_epoch = math.ceil(per_rank / params.batch_size)
    # train.steps: every run the same number of optimiser steps (first and full then differ in data
    # only); else train.epochs passes over the run's subset, as the study did
    total_steps = params.steps or steps_per_epoch * params.epochs
    every = params.eval_every or steps_per_epoch

    # ---- resume from the last checkpoint of the same run, if any
    run_id = fingerprint(plan, params, train_idx, start)
    state = {"step": 0, "history": [], "best": None, "train_seconds": 0.0, "images": 0,
             "loss_sum": 0.0, "aux_sum": 0.0, "since": 0}
    best_weights = None
    if checkpoint_path.is_file():
        saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if saved.get("run_id") == run_id:
            trainer.load_state_dict(saved["trainer"])
            torch.set_rng_state(saved["torch_rng"])
            best_weights = saved["best_model"]
            state = json.loads(saved["state"])
            log.info("resuming %s-%s after step %d of %d", plan.rnn, plan.subset, state["step"], total_steps)
        else:
            log.info("ignoring %s: it belongs to a run with other params", checkpoint_path)
    trainer.distribute(ddp)

    live = None
    if ddp.master and live_dir is not None:
        from dvclive import Live  # imported here: only rank 0 logs

        # a fresh log each time: DVC deletes a stage's outputs before running it, so after an
        # interruption the curves are replayed from the checkpoint, then continued
        live = Live(str(live_dir), save_dvc_exp=False, dvcyaml=False)
        live.log_params({"rnn": plan.rnn, "subset": plan.subset, "train_images": len(train_idx),
                         "validation_images": len(val_idx), "parameters": n_params, "steps": total_steps,
                         "precision": precision_name(dtype), "device": str(device), "threads": threads})
        for record in state["history"]:
            _log_point(live, record)
    log.info("%s-%s: %d train / %d validation images, %d steps, %d parameters, %s on %s, %d thread(s)%s",
             plan.rnn, plan.subset, len(train_idx), len(val_idx), total_steps, n_params, precision_name(dtype),
             device, threads, f", starting from {params.init_from}" if params.init_from else "")

    def save_checkpoint() -> None:
        atomic_save({"run_id": run_id, "trainer": trainer.state_dict(), "best_model": best_weights,
                     "torch_rng": torch.get_rng_state(), "state": json.dumps(state)}, checkpoint_path)

    def record_evaluation(step: int) -> dict:
        """Score the model on validation and the training sample, log it, keep the weights if best."""
        nonlocal best_weights
        seen = state["since"]
        record = {"step": step, "epoch": round(step / steps_per_epoch, 3),
                  "train_loss": state["loss_sum"] / seen if seen else None,
                  "aux_loss": state["aux_sum"] / seen if seen and trainer.net.aux is not None else None,
                  "lr": lr_at(max(step - 1, 0), total_steps, params),
                  "validation": evaluate(trainer.model, val_store, val_idx, params.eval_batch_size, device, dtype),
                  "train": evaluate(trainer.model, train_store, probe_idx, params.eval_batch_size, device, dtype)}
        state["loss_sum"] = state["aux_sum"] = 0.0
        state["since"] = 0
        state["history"].append(record)
        if live is not None:
            _log_point(live, record)
        if state["best"] is None or _rank(record["validation"]) > _rank(state["best"]["validation"]):
            state["best"] = record
            best_weights = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}
        return record

    if params.init_from and state["step"] == 0:
        # the start model is a candidate too: a fine-tuning that only makes it worse on validation
        # returns the model it started from
        if ddp.master:
            record = record_evaluation(0)
            log.info("step 0 (the start model): validation word accuracy %.4f, CER %.4f",
                     record["validation"]["word_accuracy"], record["validation"]["cer"])
        if ddp.world > 1:
            dist.barrier()

    last_save = time.perf_counter()
    order_of = {}  # epoch -> this rank's order (one epoch kept)
    bar = tqdm(total=total_steps, initial=state["step"], desc=f"{plan.rnn}-{plan.subset}", unit="step",
               disable=None if ddp.master else True)
    while state["step"] < total_steps:
        step = state["step"]
        epoch, k = divmod(step, steps_per_epoch)
        if epoch not in order_of:
            order_of = {epoch: epoch_order(train_idx, params.seed, epoch)[ddp.rank :: ddp.world][:per_rank]}
        mine = order_of[epoch]
        rows = mine[k * params.batch_size : (k + 1) * params.batch_size]
        started = time.perf_counter()
        x, y = batch_tensors(train_store, rows, device)
        if params.augment:
            x = augmentation.augment_batch(x, augmentation_generator(params.seed, epoch, k, ddp.rank))
        loss, aux_loss = trainer.step(x, y, lr_at(step, total_steps, params), params.aux_weight)
        state["loss_sum"] += loss.double().item() * len(rows)
        state["aux_sum"] += 0.0 if aux_loss is None else aux_loss.double().item() * len(rows)
        state["since"] += len(rows)
        state["train_seconds"] += time.perf_counter() - started
        state["images"] += len(rows) * ddp.world
        state["step"] = step = step + 1
        bar.update()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
        epoch_ends = step % steps_per_epoch == 0
        if step % every and not epoch_ends and step != total_steps:
            continue
        if ddp.master:
            record = record_evaluation(step)
            if epoch_ends or time.perf_counter() - last_save > CHECKPOINT_SECONDS:
                save_checkpoint()
                last_save = time.perf_counter()
            log.info("step %d: train loss %.4f, validation word accuracy %.4f, CER %.4f", step,
                     record["train_loss"], record["validation"]["word_accuracy"], record["validation"]["cer"])
        if ddp.world > 1:
            dist.barrier()
    bar.close()

    summary = None
    if ddp.master:
        if live is not None:
            live.make_summary()
            live.end()
        best = state["best"]
        if best["step"] == 0:
            log.warning("%s-%s: no step improved on the start model's validation word accuracy (%.4f); "
                        "the model written is the start model (%s)", plan.rnn, plan.subset,
                        best["validation"]["word_accuracy"], params.init_from)
        trainer.model.load_state_dict(best_weights)
        save_model(model_path, trainer.model, {"rnn": plan.rnn, "subset": plan.subset,
                                               "resize": train_store.meta.get("resize", "crop")})
        summary = {
            "rnn": plan.rnn, "subset": plan.subset, "init_from": params.init_from or None, "parameters": n_params,
            "train_images": len(train_idx), "validation_images": len(val_idx), "epochs": round(total_steps / steps_per_epoch, 3),
            "steps": total_steps, "best_step": best["step"], "best_epoch": best["epoch"],
            "steps_to_cer_below_half": next((r["step"] for r in state["history"] if r["validation"]["cer"] < 0.5), None),
            "validation": best["validation"], "train": best["train"],
            "overfitting": best["train"]["word_accuracy"] - best["validation"]["word_accuracy"],
            "train_seconds": round(state["train_seconds"], 1),
            "images_per_second": round(state["images"] / max(state["train_seconds"], 1e-9), 2),
            "precision": precision_name(dtype), "device": str(device), "threads": threads, "world_size": ddp.world,
        }
        write_json(summary_path, summary)
        checkpoint_path.unlink(missing_ok=True)  # finished: the model and summary are the outputs
    if ddp.world > 1:
        dist.destroy_process_group()
    return summary
