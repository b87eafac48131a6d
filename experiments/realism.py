"""Does the synthetic data look like real handwriting? Measured, not eyeballed.

Trains the study's CRNN three ways on the same budget of images seen, and scores each on the real
test images of ``../shared/data/real-sample`` (word accuracy, CER):

1. synthetic only;
2. the real training images only;
3. real + synthetic (the real images repeated so they make about a third of every epoch).

If the generator is useful, (3) beats (2); (1) says how far synthetic alone transfers.

    python experiments/realism.py [--images-seen 12000] [--synth 6000] [--resize fit] [--rnn gru] [--no-augment]

Work files go to a temporary folder (or --work DIR); nothing is written in the project.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

from hwr.core.layout import RNNS, split_files
from hwr.data.preprocessing import build_store
from hwr.data.store import concat
from hwr.evaluation.evaluate import evaluate_model
from hwr.params import TrainParams
from hwr.training.loop import Plan, train

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real-sample"


def split_store(raw: Path, split: str, out: Path, resize: str):
    return build_store(*split_files(raw, split), out, resize=resize,
                       desc=f"{raw.name} {split}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(REAL), help="real labelled data in the Kaggle layout")
    ap.add_argument("--images-seen", type=int, default=12000, help="training images seen per run (same for all)")
    ap.add_argument("--synth", type=int, default=6000, help="synthetic training images to generate")
    ap.add_argument("--resize", default="fit", choices=["crop", "fit"])
    ap.add_argument("--rnn", default="gru", choices=RNNS)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.002)
    ap.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                    help="random slant / scale / shift on the fly (slows leaving CTC's all-blank phase)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (initial weights, batch order)")
    ap.add_argument("--runs", default="synthetic,real,mixed")
    ap.add_argument("--work", help="work folder (default: a temporary one)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    real = Path(args.real)
    if not (real / "train_v2.zip").is_file():
        sys.exit(f"error: real labelled data not found at {real}; pass --real DIR")
    work = Path(args.work or tempfile.mkdtemp(prefix="hwr-realism-"))
    stores = work / "stores"
    real_train = split_store(real, "train", stores / "real-train", args.resize)
    real_val = split_store(real, "validation", stores / "real-validation", args.resize)
    real_test = split_store(real, "test", stores / "real-test", args.resize)
    synth_dir = work / "synth"
    if not (synth_dir / "train_v2.zip").is_file():
        from hwr.synth import generate_dataset  # only when generating: the renderer's assets

        generate_dataset(synth_dir, {"train": args.synth}, seed=1, progress=True)
    synth_train = split_store(synth_dir, "train", stores / "synth-train", args.resize)
    repeat = max(1, round(len(synth_train) / (2 * len(real_train))))  # real ≈ 1/3 of the mix
    sources = {
        "synthetic": lambda: synth_train,
        "real": lambda: real_train,
        "mixed": lambda: concat([(real_train, repeat), (synth_train, 1)], stores / "mixed-train"),
    }
    results = {}
    for name in args.runs.split(","):
        train_store = sources[name]()
        epochs = max(1, math.ceil(args.images_seen / len(train_store)))
        size = min(len(train_store), args.images_seen // epochs)
        params = TrainParams(batch_size=args.batch_size, lr=args.lr, epochs=epochs, schedule="onecycle",
                             augment=args.augment, seed=args.seed, train_eval_size=min(256, size),
                             eval_batch_size=150, steps=0, warmup_fraction=0.1, clip=0.0, aux_weight=0.0,
                             eval_every=0)  # the set-up its recorded figures were measured with
        started = time.perf_counter()
        run = work / "runs" / name
        summary = train(Plan(args.rnn, name, size, len(real_val)), params, train_store, real_val,
                        model_path=run / "model.pt", checkpoint_path=run / "ckpt.pt", live_dir=None,
                        summary_path=run / "summary.json")
        metrics = evaluate_model(run / "model.pt", real_test).metrics
        results[name] = {"train_images": size, "epochs": epochs, "images_seen": size * epochs,
                         "real_test_word_accuracy": round(metrics["word_accuracy"], 4),
                         "real_test_cer": round(metrics["cer"], 4),
                         "best_epoch": summary["best_epoch"], "minutes": round((time.perf_counter() - started) / 60, 1)}
        print(json.dumps({name: results[name]}), flush=True)
    print(f"\nrnn={args.rnn} resize={args.resize} batch={args.batch_size} lr={args.lr} seed={args.seed} (one-cycle, "
          f"{'augmented' if args.augment else 'no augmentation'}); "
          f"{len(real_test)} real test images; mixed = real x{repeat} + {len(synth_train)} synthetic")
    print("| training data | images seen | real test word accuracy | real test CER |\n|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['images_seen']:,} | {100 * r['real_test_word_accuracy']:.1f} % | {r['real_test_cer']:.3f} |")


if __name__ == "__main__":
    main()
