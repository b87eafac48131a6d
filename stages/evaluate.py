"""Stage evaluate@NAME: the trained model of one entry of train.runs on the `evaluate.split` split (test by default),
read by greedy decoding and by the `evaluate.decoder`, confidences calibrated on the validation split.

Usage: python stages/evaluate.py NAME
"""

import sys

from common import log, run

from hwr.core import layout
from hwr.evaluation.evaluate import evaluate_configured, write_evaluation


def main(params, name):
    e = params.evaluate
    layout.check_train_run("evaluate", name, params.train.runs)
    result = evaluate_configured(layout.model_file(name), e)
    write_evaluation(result, e, name, metrics_path=layout.eval_metrics(name), out_dir=layout.eval_dir(name),
                     reader=(layout.model_file(name), layout.reader_file(name)))
    m, g = result.metrics, result.metrics["decoders"]["greedy"]
    log.info("evaluate: %s on %s, %s decoding: word accuracy %.4f (greedy %.4f), CER %.4f (greedy %.4f), "
             "most confident half %.4f", name, e.split, e.decoder, m["word_accuracy"], g["word_accuracy"],
             m["cer"], g["cer"], m["word_accuracy_at_coverage"]["50"] or 0.0)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/evaluate.py NAME   (a key of train.runs in params.yaml, e.g. gru-full)")
    run(main, sys.argv[1])
