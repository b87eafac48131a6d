"""The training run: plain PyTorch, read top to bottom from :func:`train`.

One call trains one (rnn, subset) model: Adam on CTC loss, evaluation every ``train.eval_every``
optimiser steps on validation and on a fixed sample of the training subset, the best evaluated
weights kept (validation word accuracy, ties to lower CER), dvclive curves by step, checkpoints to
resume from, and DDP when started by torchrun. With ``train.init_from`` it starts from the weights
of a trained model instead of new ones, evaluated at step 0 too (so the model written is never
worse on validation than the start): fine-tuning (``hwr.adapt.runs``) is this loop started there.

The network and one step are :mod:`hwr.training.trainer`'s, the batches and the steps
:mod:`hwr.training.steps`', the start model :mod:`hwr.training.start`'s.
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

from hwr.core.errors import HwrError
from hwr.core.files import write_json
from hwr.data.store import Store, check_store_width, select
from hwr.decoding.greedy import greedy_read
from hwr.evaluation.metrics import summarise
from hwr.model.checkpoints import atomic_save, save_model
from hwr.model.crnn import count_parameters
from hwr.model.inference import recognise
from hwr.model.runtime import (
    Dist,
    configure_threads,
    make_deterministic,
    pick_device,
    precision_name,
    resolve_precision,
    setup_distributed,
)
from hwr.params import TrainParams
from hwr.training.start import start_weights
from hwr.training.steps import Batches, run_steps
from hwr.training.trainer import Trainer, lr_at

log = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 120  # at most this much training is lost to an interruption (and at each epoch's end)


@dataclass
class Plan:
    """What one training run uses: its subset sizes after capping to the data available."""

    rnn: str
    subset: str
    train_size: int
    validation_size: int
    name: str = ""  # the run's name in logs ("" = rnn-subset)

    @property
    def label(self) -> str:
        return self.name or f"{self.rnn}-{self.subset}"


def evaluate(model, store: Store, idx: np.ndarray, batch_size: int, device, dtype) -> dict:
    readings, loss = recognise(model, store.images, idx, decoder=greedy_read, labels=store.labels,
                               batch_size=batch_size, device=device, dtype=dtype)
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


class _Run:
    """One run: what it trains on and with (fixed when it starts) and its progress: ``state``, what a
    checkpoint keeps (as JSON), and the best weights evaluated so far."""

    def __init__(self, plan: Plan, params: TrainParams, train_store: Store, val_store: Store, ddp: Dist,
                 device: torch.device, dtype: torch.dtype | None, threads: int):
        self.plan, self.params, self.ddp = plan, params, ddp
        self.device, self.dtype, self.threads = device, dtype, threads
        self.train_store, self.val_store = train_store, val_store
        for store in (train_store, val_store):
            check_store_width(store, params.width, plan.label)
        self.train_idx = select(len(train_store), plan.train_size, params.seed)
        self.val_idx = select(len(val_store), plan.validation_size, params.seed)
        # a fixed sample of the training subset, evaluated like validation, measures overfitting
        self.probe_idx = self.train_idx[select(len(self.train_idx), params.train_eval_size, params.seed + 1)]

        # the trainer before the start model: loading that builds a CRNN too, which draws from the
        # torch RNG, so this order keeps a seed's new weights and later draws what they have been
        self.trainer = Trainer(plan.rnn, params, device, dtype)
        start = ""
        if params.init_from:  # the CRNN starts from a trained model; the auxiliary head, training-only, starts fresh
            weights, start = start_weights(params.init_from, plan.rnn, train_store.meta.get("resize", "crop"),
                                           params.cnn)
            self.trainer.model.load_state_dict(weights)
        self.n_params = count_parameters(self.trainer.model)
        self.batches = Batches(train_store, self.train_idx, params, device, ddp.rank, ddp.world)
        self.steps_per_epoch = self.batches.steps_per_epoch
        # train.steps: every run the same number of optimiser steps (first and full then differ in data
        # only); else train.epochs passes over the run's subset, as the study did
        self.total_steps = params.steps or self.steps_per_epoch * params.epochs
        self.every = params.eval_every or self.steps_per_epoch
        self.run_id = fingerprint(plan, params, self.train_idx, start)

        self.state = {"step": 0, "history": [], "best": None, "train_seconds": 0.0, "images": 0,
                      "loss_sum": 0.0, "aux_sum": 0.0, "since": 0}
        self.best_weights = None
        self.live = None  # the dvclive log, on rank 0 when asked for

    def save_checkpoint(self, path: Path) -> None:
        atomic_save({"run_id": self.run_id, "trainer": self.trainer.state_dict(), "best_model": self.best_weights,
                     "torch_rng": torch.get_rng_state(), "state": json.dumps(self.state)}, path)

    def record_evaluation(self, step: int) -> dict:
        """Score the model on validation and the training sample, log it, keep the weights if best."""
        state, params, model = self.state, self.params, self.trainer.model
        seen = state["since"]
        record = {"step": step, "epoch": round(step / self.steps_per_epoch, 3),
                  "train_loss": state["loss_sum"] / seen if seen else None,
                  "aux_loss": state["aux_sum"] / seen if seen and self.trainer.net.aux is not None else None,
                  "lr": lr_at(max(step - 1, 0), self.total_steps, params),
                  "validation": evaluate(model, self.val_store, self.val_idx, params.eval_batch_size, self.device,
                                         self.dtype),
                  "train": evaluate(model, self.train_store, self.probe_idx, params.eval_batch_size, self.device,
                                    self.dtype)}
        state["loss_sum"] = state["aux_sum"] = 0.0
        state["since"] = 0
        state["history"].append(record)
        if self.live is not None:
            _log_point(self.live, record)
        if state["best"] is None or _rank(record["validation"]) > _rank(state["best"]["validation"]):
            state["best"] = record
            self.best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return record


def _resume(run: _Run, checkpoint_path: Path) -> None:
    """Go on from the last checkpoint of the same run (same fingerprint), if there is one."""
    if not checkpoint_path.is_file():
        return
    saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    if saved.get("run_id") != run.run_id:
        log.info("ignoring %s: it belongs to a run with other params", checkpoint_path)
        return
    run.trainer.load_state_dict(saved["trainer"])
    torch.set_rng_state(saved["torch_rng"])
    run.best_weights = saved["best_model"]
    run.state = json.loads(saved["state"])
    log.info("resuming %s after step %d of %d", run.plan.label, run.state["step"],
             run.total_steps)


def _open_live(run: _Run, live_dir: Path | None):
    """The run's dvclive log (rank 0 only, and only with a ``live_dir``), with the resumed curves replayed."""
    if not run.ddp.master or live_dir is None:
        return None
    from dvclive import Live  # imported here: only rank 0 logs

    # a fresh log each time: DVC deletes a stage's outputs before running it, so after an
    # interruption the curves are replayed from the checkpoint, then continued
    live = Live(str(live_dir), save_dvc_exp=False, dvcyaml=False)
    live.log_params({"rnn": run.plan.rnn, "subset": run.plan.subset, "train_images": len(run.train_idx),
                     "validation_images": len(run.val_idx), "parameters": run.n_params, "steps": run.total_steps,
                     "precision": precision_name(run.dtype), "device": str(run.device), "threads": run.threads})
    for record in run.state["history"]:
        _log_point(live, record)
    return live


def _evaluate_start_model(run: _Run) -> None:
    """The start model is a candidate too: a fine-tuning that only makes it worse on validation
    returns the model it started from."""
    if run.ddp.master:
        record = run.record_evaluation(0)
        log.info("step 0 (the start model): validation word accuracy %.4f, CER %.4f",
                 record["validation"]["word_accuracy"], record["validation"]["cer"])
    if run.ddp.world > 1:
        dist.barrier()


def _train_steps(run: _Run, checkpoint_path: Path) -> None:
    """The steps not done yet, evaluated every ``train.eval_every`` steps, at each epoch's end and at
    the last step; a checkpoint at each epoch's end and once the last is CHECKPOINT_SECONDS old."""
    state, ddp = run.state, run.ddp
    last_save = started = time.perf_counter()
    first = state["step"]
    bar = tqdm(total=run.total_steps, initial=state["step"], desc=run.plan.label, unit="step",
               disable=None if ddp.master else True)
    for done in run_steps(run.trainer, run.batches, state["step"], run.total_steps):
        if not math.isfinite(done.loss):  # diverged: every later step and model would be NaN
            bar.close()
            raise HwrError(f"train: {run.plan.label}: the loss is {done.loss} at step {done.step} "
                           f"of {run.total_steps}: training diverged; lower train.lr (now {run.params.lr:g}) or "
                           f"set train.clip (now {run.params.clip:g}); no model was written")
        state["loss_sum"] += done.loss * done.images
        state["aux_sum"] += 0.0 if done.aux_loss is None else done.aux_loss * done.images
        state["since"] += done.images
        state["train_seconds"] += done.seconds
        state["images"] += done.images * ddp.world
        state["step"] = step = done.step
        bar.update()
        if step % 10 == 0:
            bar.set_postfix(loss=f"{done.loss:.3f}")
        epoch_ends = step % run.steps_per_epoch == 0
        if step % run.every and not epoch_ends and step != run.total_steps:
            continue
        if ddp.master:
            record = run.record_evaluation(step)
            if epoch_ends or time.perf_counter() - last_save > CHECKPOINT_SECONDS:
                run.save_checkpoint(checkpoint_path)
                last_save = time.perf_counter()
            # the bar is drawn on a terminal only: each line says how far and how long, for logs too
            log.info("step %d/%d: train loss %.4f, validation word accuracy %.4f, CER %.4f (%s)", step,
                     run.total_steps, record["train_loss"], record["validation"]["word_accuracy"],
                     record["validation"]["cer"],
                     _time_left(time.perf_counter() - started, step - first, run.total_steps - step))
        if ddp.world > 1:
            dist.barrier()
    bar.close()


def _time_left(seconds: float, steps_done: int, steps_left: int) -> str:
    """'3:05 elapsed, about 9:40 left' from the pace so far (evaluations included)."""
    def clock(s: float) -> str:
        s = int(round(s))
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"

    left = seconds / steps_done * steps_left if steps_done else 0.0
    return f"{clock(seconds)} elapsed, about {clock(left)} left" if steps_left else f"{clock(seconds)} elapsed"


def _finish(run: _Run, model_path: Path, summary_path: Path, checkpoint_path: Path) -> dict:
    """Rank 0, after the last step: close the log, write the best weights and the summary, and drop
    the checkpoint (the model and summary are the run's outputs)."""
    if run.live is not None:
        run.live.make_summary()
        run.live.end()
    plan, params, state = run.plan, run.params, run.state
    best = state["best"]
    if best["step"] == 0:
        log.warning("%s: no step improved on the start model's validation word accuracy (%.4f); "
                    "the model written is the start model (%s)", plan.label,
                    best["validation"]["word_accuracy"], params.init_from)
    run.trainer.model.load_state_dict(run.best_weights)
    save_model(model_path, run.trainer.model, {"rnn": plan.rnn, "cnn": params.cnn, "width": params.width,
                                               "subset": plan.subset,
                                               "resize": run.train_store.meta.get("resize", "crop")})
    summary = {
        "rnn": plan.rnn, "cnn": params.cnn, "width": params.width, "subset": plan.subset,
        "init_from": params.init_from or None, "parameters": run.n_params,
        "train_images": len(run.train_idx), "validation_images": len(run.val_idx),
        "epochs": round(run.total_steps / run.steps_per_epoch, 3),
        "steps": run.total_steps, "best_step": best["step"], "best_epoch": best["epoch"],
        "steps_to_cer_below_half": next((r["step"] for r in state["history"] if r["validation"]["cer"] < 0.5), None),
        "validation": best["validation"], "train": best["train"],
        "overfitting": best["train"]["word_accuracy"] - best["validation"]["word_accuracy"],
        "train_seconds": round(state["train_seconds"], 1),
        "images_per_second": round(state["images"] / max(state["train_seconds"], 1e-9), 2),
        "precision": precision_name(run.dtype), "device": str(run.device), "threads": run.threads,
        "world_size": run.ddp.world,
    }
    write_json(summary_path, summary)
    checkpoint_path.unlink(missing_ok=True)
    return summary


def train(plan: Plan, params: TrainParams, train_store: Store, val_store: Store, *,
          model_path: Path, checkpoint_path: Path, live_dir: Path | None, summary_path: Path) -> dict:
    """Train one model; returns (and writes, on rank 0) its summary. ``live_dir=None``: no dvclive log."""
    ddp = setup_distributed()
    device = pick_device(ddp)
    make_deterministic(device)
    threads = configure_threads(ddp)
    dtype = resolve_precision(params.precision, device)
    torch.manual_seed(params.seed)  # before the run is set up: a new network's weights are drawn from it

    run = _Run(plan, params, train_store, val_store, ddp, device, dtype, threads)
    _resume(run, checkpoint_path)
    run.trainer.distribute(ddp)
    run.live = _open_live(run, live_dir)
    log.info("%s: %d train / %d validation images, %d steps, %d parameters, %s on %s, %d thread(s)%s",
             plan.label, len(run.train_idx), len(run.val_idx), run.total_steps, run.n_params,
             precision_name(dtype), device, threads, f", starting from {params.init_from}" if params.init_from else "")
    if params.init_from and run.state["step"] == 0:
        _evaluate_start_model(run)
    _train_steps(run, checkpoint_path)
    summary = _finish(run, model_path, summary_path, checkpoint_path) if ddp.master else None
    if ddp.world > 1:
        dist.destroy_process_group()
    return summary
