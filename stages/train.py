"""Stage train@NAME: train the CRNN of one entry of train.runs. Usage: python stages/train.py NAME

Also runs under torchrun for data-parallel training: torchrun --nproc_per_node N stages/train.py gru-full
"""

import dataclasses
import sys

from common import log, run

from hwr.core import layout
from hwr.core.errors import HwrError
from hwr.data.store import open_store
from hwr.training.loop import Plan, train


def main(params, name):
    spec = layout.check_train_run("train", name, params.train.runs)
    rnn, subset = spec.rnn, spec.subset
    settings = dataclasses.replace(params.train, cnn=spec.cnn or params.train.cnn,
                                   steps=spec.steps or params.train.steps, width=spec.width or params.train.width)
    sizes = params.train.subsets[subset]
    train_store, val_store = open_store(layout.TENSORS / "train"), open_store(layout.TENSORS / "validation")
    for split, wanted, store in (("train", sizes.train, train_store), ("validation", sizes.validation, val_store)):
        if wanted > len(store):
            log.warning("train: %s: train.subsets.%s.%s=%d but only %d images exist; using %d",
                        name, subset, split, wanted, len(store), len(store))
        if len(store) == 0:
            raise HwrError(f"train: the {split} split has no usable images; check metrics/clean.json and metrics/preprocess.json")
    summary = train(Plan(rnn, subset, sizes.train, sizes.validation, name), settings, train_store, val_store,
                    model_path=layout.model_file(name), checkpoint_path=layout.checkpoint_file(name),
                    live_dir=layout.train_metrics(name), summary_path=layout.train_metrics(name) / "summary.json")
    if summary:
        log.info("train: %s: best step %d of %d, validation word accuracy %.4f, %.1f images/s", name,
                 summary["best_step"], summary["steps"], summary["validation"]["word_accuracy"], summary["images_per_second"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/train.py NAME   (a key of train.runs in params.yaml, e.g. gru-first)")
    run(main, sys.argv[1])
