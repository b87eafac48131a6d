"""Stage selftrain@<name>: rounds of self-training from a trained model (selftrain.runs.<name>):
each round reads the unlabelled scans, keeps the confident readings as labels, trains on them with
the labelled data and evaluates the new model. Off while selftrain.runs is empty.

Usage: python stages/selftrain.py NAME
"""

import sys

from common import log, run

from hwr.adapt.runs import RunPaths, selftrain
from hwr.core.errors import HwrError


def main(params, name):
    runs = params.selftrain.runs
    if name not in runs:
        raise HwrError(f"selftrain: no run {name!r} in selftrain.runs of params.yaml (runs: {', '.join(runs) or 'none'})")
    for r in selftrain(name, runs[name], params, RunPaths.of("selftrain", name)):
        log.info("selftrain: %s round %d: %d pseudo-labels of %d images read; %s word accuracy %.4f, CER %.4f",
                 name, r["round"], r["pseudo_labels"], r["unlabeled"]["read"], r["evaluation"]["split"],
                 r["evaluation"]["word_accuracy"], r["evaluation"]["cer"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/selftrain.py NAME   (a key of selftrain.runs in params.yaml)")
    run(main, sys.argv[1])
