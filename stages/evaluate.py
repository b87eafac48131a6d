"""Stage evaluate@{rnn}-{subset}: one trained model on the `evaluate.split` split (test by default),
read by greedy decoding and by the `evaluate.decoder`, confidences calibrated on the validation split.

Usage: python stages/evaluate.py RNN SUBSET
"""

import sys
from pathlib import Path

from common import log, run

from hwr.errors import HwrError
from hwr.evaluation import evaluate_configured, write_evaluation
from hwr.params import RNN_CHOICES, SUBSET_CHOICES


def main(params, rnn, subset):
    if rnn not in RNN_CHOICES or subset not in SUBSET_CHOICES:
        raise HwrError(f"evaluate: unknown run {rnn}-{subset}; use RNN in {RNN_CHOICES} and SUBSET in {SUBSET_CHOICES}")
    e, name = params.evaluate, f"{rnn}-{subset}"
    result = evaluate_configured(Path("models") / name / "model.pt", e)
    write_evaluation(result, e, name, metrics_path=Path("metrics/eval") / f"{name}.json", out_dir=Path("eval") / name)
    m, g = result.metrics, result.metrics["decoders"]["greedy"]
    log.info("evaluate: %s on %s, %s decoding: word accuracy %.4f (greedy %.4f), CER %.4f (greedy %.4f), "
             "most confident half %.4f", name, e.split, e.decoder, m["word_accuracy"], g["word_accuracy"],
             m["cer"], g["cer"], m["word_accuracy_at_coverage"]["50"] or 0.0)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python stages/evaluate.py RNN SUBSET   (e.g. gru full)")
    run(main, sys.argv[1], sys.argv[2])
