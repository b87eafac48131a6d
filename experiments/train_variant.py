"""Train one model on the pipeline's data with some ``train`` params changed, outside DVC: to try a
variant (e.g. ``--set cnn=wide --set augment=true``) before it becomes a param of a stage. Then
score it on real scans with ``experiments/decoding.py --model OUT``.

    python experiments/train_variant.py --rnn gru --subset full --set cnn=wide --out /tmp/wide/model.pt

Reads ``params.yaml``'s ``train`` group and the stores the preprocess stage wrote (data/tensors);
prints the training summary as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

import yaml

from hwr.core import layout
from hwr.data.store import open_store
from hwr.params import load
from hwr.training.loop import Plan, train


def parse_value(text: str):
    """A ``--set`` value as YAML reads it (numbers, booleans, strings)."""
    return yaml.safe_load(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rnn", default="gru", choices=layout.RNNS)
    ap.add_argument("--subset", default="full", choices=layout.SUBSETS)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a train param, e.g. cnn=wide")
    ap.add_argument("--out", required=True, type=Path, help="model file to write")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    params = load("params.yaml")
    changes = {key: parse_value(value) for key, value in (item.split("=", 1) for item in args.set)}
    settings = dataclasses.replace(params.train, **changes)
    sizes = settings.subsets[args.subset]
    train_store, val_store = open_store(layout.TENSORS / "train"), open_store(layout.TENSORS / "validation")
    name = f"{args.rnn}-{args.subset} ({args.out.parent.name or args.out.stem})"  # which variant, in its log
    summary = train(Plan(args.rnn, args.subset, sizes.train, sizes.validation, name), settings, train_store, val_store,
                    model_path=args.out, checkpoint_path=args.out.with_suffix(".checkpoint.pt"), live_dir=None,
                    summary_path=args.out.with_suffix(".json"))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=1))


if __name__ == "__main__":
    main()
