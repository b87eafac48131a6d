"""Greedy, beam + character model, and beam + character model + lexicon, measured on real images.

Reads the real test images of ``../shared/data/real-sample`` (149 usable) with one trained model,
or several read together (``--model`` given more than once: :mod:`hwr.decoding.combine`); the lexicon and
character model are built as the pipeline's lexicon stage builds them: from training labels (the
sample's, or ``--labels`` of a project, e.g. its synthetic ones) plus a names file standing in for a
full-data user's labels (``--names``, by default the shared kit of 35k real Kaggle names; ``none``)
and names sources (``--source names-dataset:FR``, as ``lexicon.sources``). Confidences are
calibrated on the sample's validation split. With ``--tune``, the character model weight and the
lexicon bonus are first chosen on the validation split (never on test).

    python experiments/decoding.py --model /tmp/model.pt [--tune] [--beam-width 16]
    python experiments/decoding.py --model gru.pt --model lstm.pt --labels data/clean/train.csv \
        --names none --source names-dataset:FR     # out of the box: synthetic labels + real names

Prints the table (word accuracy, CER, word accuracy of the most confident half, names/s) and the
OOV rates; work files go to a temporary folder (or --work DIR).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
import torch

from hwr.core.layout import split_files
from hwr.data.preprocessing import build_store
from hwr.data.store import open_store
from hwr.decoding.factory import make_decoder
from hwr.decoding.lexicon import Lexicon, build_names, read_extra_names, write_lexicon
from hwr.decoding.name_sources import read_source
from hwr.evaluation.evaluate import evaluate_model, read_split
from hwr.model.ensemble import load_models
from hwr.params import EvaluateParams

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def split_store(raw: Path, split: str, out: Path, resize: str, width: int):
    """The split decoded once into ``out`` (a work folder kept between runs)."""
    if (out / "meta.json").is_file():
        return open_store(out)
    return build_store(*split_files(raw, split), out, resize=resize, width=width, desc=split)


def tune(model_path, validation, lexicon_dir, beam_width, weights, bonuses) -> tuple[float, float]:
    """The (lm_weight, lexicon_bonus) with the best validation word accuracy (ties: the smaller)."""
    model, _ = load_models(model_path, torch.device("cpu"))
    decoders = {(w, b): make_decoder("lexicon", EvaluateParams(beam_width=beam_width, lm_weight=w, lexicon_bonus=b),
                                     lexicon_dir=lexicon_dir)
                for w, b in itertools.product(weights, bonuses)}
    readings, _, _ = read_split(model, validation, decoders, batch_size=150, device=torch.device("cpu"))
    scores = {key: sum(r.text == t for r, t in zip(rs, validation.texts)) / len(validation)
              for key, rs in readings.items()}
    for (w, b), acc in sorted(scores.items()):
        print(f"validation: lm_weight {w}, lexicon_bonus {b}: word accuracy {100 * acc:.1f} %", flush=True)
    return max(scores, key=lambda key: (scores[key], -key[0], -key[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, action="append",
                    help="a trained model file; given twice or more, each reads and the readings are combined per name")
    ap.add_argument("--real", default=str(SHARED / "real-sample"), help="real labelled data (Kaggle layout)")
    ap.add_argument("--names", default=str(SHARED / "names" / "kaggle-names.csv"),
                    help="extra names (lexicon.extra); 'none' for no file")
    ap.add_argument("--labels", help="a CSV (IDENTITY) of the training labels whose names the lexicon holds, e.g. a "
                                     "project's data/clean/train.csv (default: the real sample's training split)")
    ap.add_argument("--source", action="append", default=[], help="a names source (lexicon.sources), e.g. names-dataset:FR")
    ap.add_argument("--order", type=int, default=6, help="character n-gram order")
    ap.add_argument("--beam-width", type=int, default=16)
    ap.add_argument("--lm-weight", type=float, default=EvaluateParams.lm_weight)
    ap.add_argument("--lexicon-bonus", type=float, default=EvaluateParams.lexicon_bonus)
    ap.add_argument("--tune", action="store_true", help="choose lm_weight and lexicon_bonus on the validation split")
    ap.add_argument("--split", choices=["validation", "test"], default="test",
                    help="the split measured: choose recipes on validation, report test once per recipe kept")
    ap.add_argument("--work", help="work folder (default: a temporary one)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    torch.set_num_threads(2)
    real, work = Path(args.real), Path(args.work or tempfile.mkdtemp(prefix="hwr-decoding-"))
    if not (real / "test_v2.zip").is_file():
        sys.exit(f"error: real labelled data not found at {real}; pass --real DIR")
    _, config = load_models(args.model, torch.device("cpu"))
    resize, width = config.get("resize", "crop"), config["width"]
    stores = {split: split_store(real, split, work / f"{split}-{resize}-{width}", resize, width)
              for split in ("train", "validation", "test")}
    extra = Counter() if args.names == "none" else read_extra_names(args.names)[0]
    for source in args.source:
        extra.update(read_source(source)[0])
    train_labels = stores["train"].texts
    if args.labels:
        train_labels = pd.read_csv(args.labels, dtype=str, keep_default_na=False)["IDENTITY"].tolist()
    lexicon_dir = work / "lexicon"
    write_lexicon(lexicon_dir, build_names(train_labels, extra), args.order)
    test_labels = stores[args.split].texts
    oov = {"training labels": Lexicon.of(train_labels).oov_rate(test_labels),
           "names file": Lexicon.of(extra).oov_rate(test_labels),
           "both (the lexicon)": Lexicon.of(build_names(train_labels, extra)).oov_rate(test_labels)}
    weight, bonus = args.lm_weight, args.lexicon_bonus
    if args.tune:
        weight, bonus = tune(args.model, stores["validation"], lexicon_dir, args.beam_width,
                             (0.0, 0.25, 0.5, 0.75, 1.0), (0.0, 1.0, 2.0, 3.0, 5.0, 8.0))
    settings = EvaluateParams(beam_width=args.beam_width, lm_weight=weight, lexicon_bonus=bonus)
    rows = {}
    for name in ("greedy", "beam", "lexicon"):
        result = evaluate_model(args.model, stores[args.split], batch_size=150, device=torch.device("cpu"),
                                decoder=make_decoder(name, settings, lexicon_dir=lexicon_dir),
                                validation=stores["validation"])
        rows[name] = result.metrics
    print(f"\nmodel {args.model} ({config.get('rnn')}, {resize}, {width} px); "
          f"{len(test_labels)} real {args.split} images; "
          f"lexicon: {len(train_labels)} training labels ({args.labels or 'real sample'}) + {sum(extra.values())} rows "
          f"of {args.names}{''.join(' + ' + s for s in args.source)}, "
          f"order {args.order}; beam width {args.beam_width}, lm_weight {weight}, lexicon_bonus {bonus}")
    print("| decoder | word acc | CER | word acc, most confident 50 % | 80 % | ECE raw / calibrated | names/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {"greedy": "greedy", "beam": "beam + char LM", "lexicon": "beam + char LM + lexicon"}
    for name, m in rows.items():
        cov = m["word_accuracy_at_coverage"]
        print(f"| {labels[name]} | {100 * m['word_accuracy']:.1f} % | {m['cer']:.3f} | {100 * cov['50']:.1f} % | "
              f"{100 * cov['80']:.1f} % | {m['ece_raw']:.3f} / {m['ece']:.3f} | {m['names_per_second']:.0f} |")
    print("OOV rate of the test labels: " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in oov.items()))
    print(json.dumps({"settings": {"lm_weight": weight, "lexicon_bonus": bonus, "beam_width": args.beam_width},
                      "oov": oov, "metrics": {k: {key: v for key, v in m.items() if key != "top_confusions"}
                                               for k, m in rows.items()}}))


if __name__ == "__main__":
    main()
