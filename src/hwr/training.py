"""The training loop: plain PyTorch, read top to bottom.

One call trains one (rnn, subset) model: Adam on CTC loss, per-epoch evaluation on validation and
on a fixed sample of the training subset, best epoch kept by validation word accuracy, dvclive
curves, an epoch checkpoint to resume from, and DDP when started by torchrun.
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
from tqdm import tqdm

from hwr import augment as augmentation
from hwr.checkpoints import atomic_save, save_model
from hwr.inference import ctc_loss, ctc_loss_fn, recognise, to_device
from hwr.metrics import summarise
from hwr.model import CRNN, count_parameters
from hwr.params import TrainParams
from hwr.runtime import (autocast, configure_threads, make_deterministic, pick_device, precision_name,
                         resolve_precision, setup_distributed)
from hwr.store import Store, gather

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What one training run uses: its subset sizes after capping to the data available."""

    rnn: str
    subset: str
    train_size: int
    validation_size: int


def select(n_available: int, n_wanted: int, seed: int) -> np.ndarray:
    """A seeded random subset of row indices. The same seed gives nested subsets: the first 64,000
    of one permutation are inside the first 300,800, as 'first' is a part of 'full'."""
    permutation = np.random.default_rng(seed).permutation(n_available)
    return np.sort(permutation[: min(n_wanted, n_available)])


def lr_at(step: int, total: int, params: TrainParams) -> float:
    """constant (the study's), or one-cycle: linear warm-up then cosine decay to 1 % of the peak."""
    if params.schedule == "constant":
        return params.lr
    warmup = max(1, int(total * params.warmup_fraction))
    if step < warmup:
        return params.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return params.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def _generator(*key: int) -> torch.Generator:
    """A torch RNG seeded from a tuple: augmentation of a given step is the same after resume."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))


def _rank(metrics: dict) -> tuple[float, float]:
    """Best epoch: highest validation word accuracy; ties (common early on, at 0) go to lower CER."""
    return metrics["word_accuracy"], -metrics["cer"]


def _log_epoch(live, record: dict) -> None:
    live.log_metric("train/loss", record["train_loss"])  # mean over the epoch's steps, training mode
    for key in ("word_accuracy", "letter_accuracy", "cer"):
        live.log_metric(f"train/{key}", record["train"][key])  # the fixed training sample, eval mode
    for key in ("loss", "word_accuracy", "letter_accuracy", "cer"):
        live.log_metric(f"validation/{key}", record["validation"][key])
    live.log_metric("lr", record["lr"])
    live.next_step()


def fingerprint(plan: Plan, params: TrainParams, train_idx: np.ndarray) -> str:
    """Identifies a run: a checkpoint resumes only a run with the same plan, params and data."""
    blob = json.dumps([asdict(plan), asdict(params), int(train_idx.sum()), len(train_idx)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def make_optimiser(model: torch.nn.Module, lr: float, device: torch.device, **options) -> torch.optim.Adam:
    """Adam, fused (one kernel for all parameters: 4 ms a step instead of 16 on the CPU) where torch has it."""
    return torch.optim.Adam(model.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"), **options)


def train_step(model, optimiser, scaler, loss_fn, x, y, device, dtype, clip: float = 0.0) -> torch.Tensor:
    """One optimiser step on a batch; returns the (undetached) CTC loss.

    ``clip`` > 0 rescales the gradient to at most that global norm: CTC's occasional large
    gradients otherwise knock the LSTM back into emitting only blanks."""
    with autocast(device, dtype):
        log_probs = model(x)
    loss = ctc_loss(loss_fn, log_probs, y)
    optimiser.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if clip > 0:
        scaler.unscale_(optimiser)  # clip the true gradient, not the fp16-scaled one
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    scaler.step(optimiser)
    scaler.update()
    return loss


def _evaluate(model, store: Store, idx: np.ndarray, params: TrainParams, device, dtype) -> dict:
    texts, loss = recognise(model, store.images, idx, labels=store.labels, batch_size=params.eval_batch_size,
                            device=device, dtype=dtype)
    return {"loss": loss, **summarise(store.texts_of(idx), texts)}


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
    probe_idx = select(len(train_idx), params.train_eval_size, params.seed + 1)
    probe_idx = train_idx[probe_idx]

    model = CRNN(plan.rnn).to(device).to(memory_format=torch.channels_last)
    n_params = count_parameters(model)
    optimiser = make_optimiser(model, params.lr, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    loss_fn = ctc_loss_fn()

    per_rank = len(train_idx) // ddp.world
    steps_per_epoch = math.ceil(per_rank / params.batch_size)
    total_steps = steps_per_epoch * params.epochs

    # ---- resume from the last finished epoch of the same run, if any
    run_id = fingerprint(plan, params, train_idx)
    state = {"epoch": 0, "history": [], "best": None, "train_seconds": 0.0, "images": 0}
    best_weights = None
    if checkpoint_path.is_file():
        saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if saved.get("run_id") == run_id:
            model.load_state_dict(saved["model"])
            optimiser.load_state_dict(saved["optimiser"])
            torch.set_rng_state(saved["torch_rng"])
            best_weights = saved["best_model"]
            state = json.loads(saved["state"])
            log.info("resuming %s-%s after epoch %d", plan.rnn, plan.subset, state["epoch"])
        else:
            log.info("ignoring %s: it belongs to a run with other params", checkpoint_path)
    if ddp.world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[ddp.local_rank] if device.type == "cuda" else None)

    live = None
    if ddp.master and live_dir is not None:
        from dvclive import Live  # imported here: only rank 0 logs

        # a fresh log each time: DVC deletes a stage's outputs before running it, so after an
        # interruption the curves are replayed from the checkpoint, then continued
        live = Live(str(live_dir), save_dvc_exp=False, dvcyaml=False)
        live.log_params({"rnn": plan.rnn, "subset": plan.subset, "train_images": len(train_idx),
                         "validation_images": len(val_idx), "parameters": n_params,
                         "precision": precision_name(dtype), "device": str(device), "threads": threads})
        for record in state["history"]:
            _log_epoch(live, record)
    log.info("%s-%s: %d train / %d validation images, %d parameters, %s on %s, %d thread(s)",
             plan.rnn, plan.subset, len(train_idx), len(val_idx), n_params, precision_name(dtype), device, threads)

    for epoch in range(state["epoch"], params.epochs):
        model.train()
        # the epoch's order depends on (seed, epoch) only, so a resumed run sees the same batches
        order = np.random.default_rng([params.seed, epoch]).permutation(train_idx)
        mine = order[ddp.rank :: ddp.world][:per_rank]
        loss_sum = torch.zeros((), dtype=torch.float64)
        started = time.perf_counter()
        bar = tqdm(range(steps_per_epoch), desc=f"{plan.rnn}-{plan.subset} epoch {epoch + 1}/{params.epochs}",
                   unit="step", disable=None if ddp.master else True)
        for step in bar:
            batch = mine[step * params.batch_size : (step + 1) * params.batch_size]
            images, labels = gather(train_store, batch)
            x = to_device(images, device)
            y = to_device(labels.astype(np.int64), device)
            if params.augment:
                x = augmentation.augment_batch(x, _generator(params.seed, epoch, step, ddp.rank))
            for group in optimiser.param_groups:
                group["lr"] = lr_at(epoch * steps_per_epoch + step, total_steps, params)
            loss = train_step(model, optimiser, scaler, loss_fn, x, y, device, dtype, params.clip)
            loss_sum += loss.detach().double().cpu() * len(batch)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        bar.close()
        state["train_seconds"] += time.perf_counter() - started
        state["images"] += len(mine) * ddp.world
        train_loss = (loss_sum / len(mine)).item()

        record = None
        if ddp.master:
            net = getattr(model, "module", model)
            val = _evaluate(net, val_store, val_idx, params, device, dtype)
            probe = _evaluate(net, train_store, probe_idx, params, device, dtype)
            record = {"epoch": epoch + 1, "train_loss": train_loss, "train": probe, "validation": val,
                      "lr": optimiser.param_groups[0]["lr"]}
            state["history"].append(record)
            if live is not None:
                _log_epoch(live, record)
            if state["best"] is None or _rank(val) > _rank(state["best"]["validation"]):
                state["best"] = record
                best_weights = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
            state["epoch"] = epoch + 1
            atomic_save({"run_id": run_id, "model": {k: v.cpu() for k, v in net.state_dict().items()},
                         "best_model": best_weights, "optimiser": optimiser.state_dict(),
                         "torch_rng": torch.get_rng_state(), "state": json.dumps(state)}, checkpoint_path)
            log.info("epoch %d: train loss %.4f, validation word accuracy %.4f, CER %.4f",
                     epoch + 1, train_loss, val["word_accuracy"], val["cer"])
        else:
            state["epoch"] = epoch + 1
        if ddp.world > 1:
            dist.barrier()

    summary = None
    if ddp.master:
        if live is not None:
            live.end()
        best = state["best"]
        net = getattr(model, "module", model)
        net.load_state_dict(best_weights)
        save_model(model_path, net, {"rnn": plan.rnn, "subset": plan.subset,
                                     "resize": train_store.meta.get("resize", "crop")})
        summary = {
            "rnn": plan.rnn, "subset": plan.subset, "parameters": n_params,
            "train_images": len(train_idx), "validation_images": len(val_idx), "epochs": params.epochs,
            "best_epoch": best["epoch"], "validation": best["validation"], "train": best["train"],
            "overfitting": best["train"]["word_accuracy"] - best["validation"]["word_accuracy"],
            "train_seconds": round(state["train_seconds"], 1),
            "images_per_second": round(state["images"] / max(state["train_seconds"], 1e-9), 2),
            "precision": precision_name(dtype), "device": str(device), "threads": threads, "world_size": ddp.world,
        }
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = summary_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        tmp.replace(summary_path)
        checkpoint_path.unlink(missing_ok=True)  # finished: the model and summary are the outputs
    if ddp.world > 1:
        dist.destroy_process_group()
    return summary
