"""Stage finetune@<name>: a trained model (finetune.runs.<name>.init_from) trained further on the
pipeline's labelled data, mixed with synthetic names as the run asks, then evaluated as the
evaluate stage evaluates one. Off while finetune.runs is empty.

Usage: python stages/finetune.py NAME
"""

import sys

from common import log, run

from hwr.adapt.runs import RunPaths, finetune
from hwr.core.errors import HwrError


def main(params, name):
    runs = params.finetune.runs
    if name not in runs:
        raise HwrError(f"finetune: no run {name!r} in finetune.runs of params.yaml (runs: {', '.join(runs) or 'none'})")
    result = finetune(name, runs[name], params, RunPaths.of("finetune", name))
    e = result["evaluation"]
    log.info("finetune: %s: from %s, %d training images, best step %d of %d; %s word accuracy %.4f, CER %.4f",
             name, runs[name].init_from, result["train_images"], result["best_step"], result["steps"],
             params.evaluate.split, e["word_accuracy"], e["cer"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/finetune.py NAME   (a key of finetune.runs in params.yaml)")
    run(main, sys.argv[1])
