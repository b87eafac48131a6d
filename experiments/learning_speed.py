"""How fast does a training set-up get past CTC's all-blank phase? Learning curves by step.

A short run of the study's CRNN emits only blanks for its first few hundred optimiser steps; on a
CPU that plateau is most of a small budget. This trains one model per set-up for the same number
of images and records validation word accuracy and CER every ``--every`` steps, so set-ups are
compared on the same axis (images seen), whatever the device.

    python experiments/learning_speed.py --train data/tensors/train --validation data/tensors/validation \\
        --images 10400 --grid default [--out curves.jsonl]

Set-ups are dicts over ``BASE``'s keys: rnn, batch_size, lr, schedule (onecycle | constant),
warmup_fraction, clip (max gradient norm, 0 = off), augment, aux_weight (the auxiliary
CTC head of hwr.training.trainer), curriculum (sort the first N images of the first epoch by label length),
train_size (distinct training images; the rest of the budget is further epochs), precision, seed,
forget_bias (the LSTM's initial forget-gate bias; the model's default is 1). Training is
hwr.training's own steps (hwr.training.steps.run_steps: its batches, schedule and Trainer step), so
what is measured here is what the pipeline runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from hwr.data.store import open_store, select
from hwr.model.crnn import set_forget_bias
from hwr.model.runtime import resolve_precision
from hwr.params import TrainParams
from hwr.training.loop import evaluate
from hwr.training.steps import Batches, run_steps
from hwr.training.trainer import Trainer

BASE = {"rnn": "gru", "batch_size": 16, "lr": 0.002, "schedule": "onecycle", "warmup_fraction": 0.05,
        "clip": 0.0, "augment": False, "aux_weight": 0.0, "curriculum": 0, "train_size": 0,
        "precision": "fp32", "seed": 0, "forget_bias": 1.0}

GRIDS = {
    "default": [
        {},
        {"lr": 0.001}, {"lr": 0.003}, {"lr": 0.005},
        {"batch_size": 8}, {"batch_size": 32}, {"batch_size": 32, "lr": 0.004},
        {"clip": 5.0}, {"clip": 5.0, "lr": 0.004},
        {"curriculum": 2000}, {"augment": True},
        {"schedule": "constant", "lr": 0.001},
        {"warmup_fraction": 0.15},
        {"train_size": 3200},
        {"rnn": "lstm"}, {"rnn": "lstm", "lr": 0.003},
        {"seed": 1}, {"seed": 2},
    ],
    "aux": [{"rnn": rnn, "seed": seed, **extra} for extra in
            ({}, {"aux_weight": 1.0}, {"aux_weight": 1.0, "curriculum": 4000})
            for rnn in ("gru", "lstm") for seed in (0, 1)],
    "quick": [{}, {"lr": 0.004}],
}
TRAIN_KEYS = ("batch_size", "lr", "schedule", "warmup_fraction", "clip", "augment", "aux_weight",
              "precision", "seed")


def curriculum_order(order: np.ndarray, lengths: np.ndarray, first: int) -> np.ndarray:
    """The first ``first`` images of an epoch's order re-sorted by label length (short first):
    short labels need fewer alignments, so CTC might find its first ones sooner."""
    head = order[:first]
    head = head[np.argsort(lengths[head], kind="stable")]
    return np.concatenate([head, order[first:]])


class CurriculumBatches(Batches):
    """The pipeline's batches, with the head of the first epoch sorted by label length (``curriculum``)."""

    def __init__(self, *args, first: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.first = first
        self.lengths = (self.store.labels >= 0).sum(axis=1)

    def order(self, epoch: int) -> np.ndarray:
        order = super().order(epoch)
        return curriculum_order(order, self.lengths, self.first) if epoch == 0 and self.first else order


def run(setup: dict, train_store, val_store, images: int, every: int, device, log) -> dict:
    cfg = {**BASE, **setup}
    unknown = sorted(set(setup) - set(BASE))
    if unknown:
        raise SystemExit(f"unknown set-up key {unknown[0]!r}; known: {', '.join(BASE)}")
    params = replace(TrainParams(), **{k: cfg[k] for k in TRAIN_KEYS})
    torch.manual_seed(cfg["seed"])
    dtype = resolve_precision(cfg["precision"], device)
    n_train = len(train_store) if not cfg["train_size"] else min(cfg["train_size"], len(train_store))
    train_idx = select(len(train_store), n_train, cfg["seed"])
    val_idx = np.arange(len(val_store))
    trainer = Trainer(cfg["rnn"], params, device, dtype)
    if cfg["rnn"] == "lstm":
        set_forget_bias(trainer.model, cfg["forget_bias"])
    batches = CurriculumBatches(train_store, train_idx, params, device, first=cfg["curriculum"])
    bs = cfg["batch_size"]
    total = math.ceil(images / bs)
    curve, started, loss_ema = [], time.perf_counter(), None
    train_seconds = 0.0
    for done in run_steps(trainer, batches, 0, total):  # the pipeline's steps: same batches, schedule, step
        train_seconds += done.seconds
        loss_ema = done.loss if loss_ema is None else 0.9 * loss_ema + 0.1 * done.loss
        if done.step % every == 0 or done.step == total:
            m = evaluate(trainer.model, val_store, val_idx, 256, device, dtype)
            point = {"step": done.step, "images": done.step * bs, "train_loss": round(loss_ema, 4),
                     "val_loss": round(m["loss"], 4), "word_accuracy": round(m["word_accuracy"], 4),
                     "cer": round(m["cer"], 4)}
            curve.append(point)
            log(f"  {json.dumps(point)}")
    first_words = next((p["images"] for p in curve if p["word_accuracy"] > 0), None)
    return {"setup": setup, "config": cfg, "train_images": len(train_idx), "curve": curve,
            "final": curve[-1], "best_word_accuracy": max(p["word_accuracy"] for p in curve),
            "images_to_first_word": first_words,
            "steps_to_cer_below_half": next((p["step"] for p in curve if p["cer"] < 0.5), None),
            "train_images_per_second": round(total * bs / train_seconds, 1),
            "seconds": round(time.perf_counter() - started, 1), "device": str(device)}


def summarise(paths: list[str], budgets: list[int]) -> str:
    """A Markdown table of recorded runs (the --out files): one row per set-up (seeds pooled, each
    figure given per seed), steps until validation CER < 0.5 and word accuracy at step budgets."""
    groups: dict[str, list[dict]] = {}
    for path in paths:
        for line in open(path, encoding="utf-8"):
            result = json.loads(line)
            # keys of older set-ups that BASE no longer has are shown only when they were switched on
            key = json.dumps({k: v for k, v in result["config"].items()
                              if k != "seed" and (v != BASE[k] if k in BASE else bool(v))})
            groups.setdefault(key, []).append(result)
    header = ["set-up (besides the base)", "seeds", "steps to CER < 0.5",
              *[f"word acc. @ {b:,} steps" for b in budgets], "final CER"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, results in groups.items():
        results.sort(key=lambda r: r["config"]["seed"])
        at = [{p["step"]: p for p in r["curve"]} for r in results]

        def each(fn):
            return " / ".join(fn(r, c) for r, c in zip(results, at))

        cells = [key.strip("{}").replace('"', "") or "base", each(lambda r, c: str(r["config"]["seed"])),
                 each(lambda r, c: "–" if r["steps_to_cer_below_half"] is None else f"{r['steps_to_cer_below_half']:,}")]
        cells += [each(lambda r, c, b=b: f"{100 * c[b]['word_accuracy']:.1f} %" if b in c else "–") for b in budgets]
        cells.append(each(lambda r, c: f"{r['final']['cer']:.3f}"))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--summarise", nargs="+", metavar="FILE.jsonl",
                    help="print a Markdown table of recorded runs (--out files) and exit")
    ap.add_argument("--budgets", default="400,800,1200,2000", help="steps at which --summarise reads word accuracy")
    ap.add_argument("--train", help="preprocessed training store (data/tensors/train)")
    ap.add_argument("--validation", help="preprocessed validation store")
    ap.add_argument("--images", type=int, default=10400, help="training images per set-up")
    ap.add_argument("--every", type=int, default=50, help="evaluate every N steps")
    ap.add_argument("--grid", default="default", help=f"built-in grid ({', '.join(GRIDS)}) or a JSON list of set-ups")
    ap.add_argument("--out", help="append one JSON line per set-up here")
    args = ap.parse_args()
    if args.summarise:
        print(summarise(args.summarise, [int(b) for b in args.budgets.split(",")]))
        return
    if not args.train or not args.validation:
        ap.error("--train and --validation are required to run set-ups")
    setups = GRIDS[args.grid] if args.grid in GRIDS else json.loads(args.grid)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_store, val_store = open_store(args.train), open_store(args.validation)
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    for setup in setups:
        log(f"set-up {json.dumps(setup)}")
        result = run(setup, train_store, val_store, args.images, args.every, device, log)
        line = json.dumps(result)
        print(json.dumps({k: result[k] for k in ("setup", "best_word_accuracy", "final", "images_to_first_word",
                                                  "steps_to_cer_below_half", "train_images_per_second",
                                                  "seconds")}), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(line + "\n")


if __name__ == "__main__":
    main()
