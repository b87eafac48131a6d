"""Stage evaluate@{rnn}-{subset}: one trained model on the `evaluate.split` split (test by default).

Usage: python stages/evaluate.py RNN SUBSET
"""

import sys
from pathlib import Path

from common import log, run

from hwr.errors import HwrError
from hwr.evaluation import evaluate_model
from hwr.files import write_csv, write_json
from hwr.params import RNN_CHOICES, SUBSET_CHOICES
from hwr.store import open_store


def main(params, rnn, subset):
    if rnn not in RNN_CHOICES or subset not in SUBSET_CHOICES:
        raise HwrError(f"evaluate: unknown run {rnn}-{subset}; use RNN in {RNN_CHOICES} and SUBSET in {SUBSET_CHOICES}")
    e, name = params.evaluate, f"{rnn}-{subset}"
    metrics, predictions, pairs = evaluate_model(Path("models") / name / "model.pt",
                                                 open_store(Path("data/tensors") / e.split),
                                                 batch_size=e.batch_size, top=e.top_confusions)
    write_json(Path("metrics/eval") / f"{name}.json", {"run": name, "split": e.split, **metrics})
    write_csv(Path("eval") / name / "predictions.csv", predictions)
    write_csv(Path("eval") / name / "confusion.csv", pairs)
    log.info("evaluate: %s on %s: word accuracy %.4f, letter accuracy %.4f, CER %.4f", name, e.split,
             metrics["word_accuracy"], metrics["letter_accuracy"], metrics["cer"])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python stages/evaluate.py RNN SUBSET   (e.g. gru full)")
    run(main, sys.argv[1], sys.argv[2])
