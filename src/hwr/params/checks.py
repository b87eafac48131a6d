"""Validation of typed params: every check raises :class:`HwrError` with a one-line message naming
the key, the bad value and what is allowed, so impossible params fail before any work starts."""

from __future__ import annotations

import math
from typing import Any

from hwr.core.alphabet import MAX_LABEL_LENGTH
from hwr.core.errors import HwrError
from hwr.core.layout import CNNS, RNNS, SPLITS, STUDY_RUNS, SUBSETS, run_name
from hwr.params.schema import (
    DECODERS,
    EMPTY_POLICIES,
    MAX_LM_ORDER,
    MAX_PIXELS_CEILING,
    MAX_WIDTH,
    NAME_SOURCE,
    PRECISIONS,
    RESIZE_CHOICES,
    SCHEDULES,
    STUDY_WIDTH,
    SYNTH_NAMES,
    FinetuneRun,
    Params,
)


def _fail(key: str, value: Any, allowed: str) -> None:
    raise HwrError(f"params: {key}={value!r} is impossible; {allowed}")


def _check_choice(key: str, value: Any, choices) -> None:
    if value not in choices:
        _fail(key, value, f"choose one of {', '.join(choices)}")


def _check_int(key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, value, f"expected an integer >= {minimum}")


def _check_width(key: str, value: Any, stored: int = MAX_WIDTH) -> None:
    """An input width in px: from the study's 256 to ``stored`` (preprocess.width: what the store holds)."""
    _check_int(key, value, STUDY_WIDTH)
    if value > stored:
        _fail(key, value, f"at most {stored}: " + ("preprocess.width, the width of the stored crops; "
                                                  f"raise preprocess.width to {value}" if stored < MAX_WIDTH else
                                                  "wider inputs are not prepared"))


def _check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(key, value, "expected true or false")


def _check_mask(key: str, value: Any) -> None:
    if not _number(value) or not 0 <= value < 1:
        _fail(key, value, "expected 0 <= value < 1: the share of each image's columns masked (0 = off)")


def _check_string(key: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        _fail(key, value, "expected a non-empty string")


def _check_split_pattern(key: str, value: Any) -> None:
    """A file name with ``{split}`` (the only field) that str.format fills in."""
    _check_string(key, value)
    try:
        value.format(split="train")
    except (KeyError, IndexError, ValueError, AttributeError):
        _fail(key, value, "expected a file name where {split} is the only {...} field, e.g. {split}_v2.zip")

def _number(value: Any) -> bool:
    """A finite int or float (YAML's .inf and .nan are floats, and would pass a comparison or two)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _check_nonnegative(key: str, value: Any, meaning: str) -> None:
    if not _number(value) or not value >= 0:
        _fail(key, value, f"expected a finite number >= 0 ({meaning})")


def _check_positive(key: str, value: Any) -> None:
    if not _number(value) or not value > 0:
        _fail(key, value, "expected a finite number > 0")


def _validate(p: Params) -> None:
    _check_choice("rnn", p.rnn, RNNS)
    _check_string("data.raw_dir", p.data.raw_dir)
    _check_split_pattern("data.zip_name", p.data.zip_name)
    _check_split_pattern("data.csv_name", p.data.csv_name)
    _check_string("synth.out_dir", p.synth.out_dir)
    _check_int("synth.seed", p.synth.seed, 0)
    if not isinstance(p.synth.sizes, dict):
        _fail("synth.sizes", p.synth.sizes, "expected a mapping of split to size")
    for split, size in p.synth.sizes.items():
        _check_choice("synth.sizes key", split, SPLITS)
        _check_int(f"synth.sizes.{split}", size, 0)
    if not isinstance(p.synth.names, str) or not SYNTH_NAMES.fullmatch(p.synth.names):
        _fail("synth.names", p.synth.names, "expected faker or a names source such as names-dataset:FR")
    _check_int("synth.jobs", p.synth.jobs, 0)
    _check_bool("clean.uppercase", p.clean.uppercase)
    for label in p.clean.drop_labels:
        if not isinstance(label, str) or not label.strip():
            _fail("clean.drop_labels", list(p.clean.drop_labels), "expected a list of labels, e.g. [UNREADABLE]")
    _check_choice("clean.empty_policy", p.clean.empty_policy, EMPTY_POLICIES)
    _check_int("clean.max_length", p.clean.max_length, 1)
    if p.clean.max_length > MAX_LABEL_LENGTH:
        _fail("clean.max_length", p.clean.max_length, f"the model's labels hold at most {MAX_LABEL_LENGTH} characters")
    _check_choice("preprocess.resize", p.preprocess.resize, RESIZE_CHOICES)
    _check_width("preprocess.width", p.preprocess.width)
    _check_int("preprocess.jobs", p.preprocess.jobs, 0)
    _check_int("preprocess.max_pixels", p.preprocess.max_pixels, 1)
    if p.preprocess.max_pixels > MAX_PIXELS_CEILING:
        _fail("preprocess.max_pixels", p.preprocess.max_pixels,
              f"at most {MAX_PIXELS_CEILING} (Pillow's own decompression-bomb limit)")
    _check_int("preprocess.max_image_bytes", p.preprocess.max_image_bytes, 1)
    _check_bool("preprocess.keep_damaged", p.preprocess.keep_damaged)
    t = p.train
    _check_int("train.batch_size", t.batch_size, 1)
    _check_positive("train.lr", t.lr)
    _check_int("train.epochs", t.epochs, 1)
    _check_choice("train.schedule", t.schedule, SCHEDULES)
    if not _number(t.warmup_fraction) or not 0 <= t.warmup_fraction < 1:
        _fail("train.warmup_fraction", t.warmup_fraction, "expected 0 <= value < 1")
    _check_choice("train.precision", t.precision, PRECISIONS)
    _check_bool("train.augment", t.augment)
    _check_mask("train.mask", t.mask)
    _check_choice("train.cnn", t.cnn, CNNS)
    _check_width("train.width", t.width, p.preprocess.width)
    if not _number(t.clip) or not t.clip >= 0:
        _fail("train.clip", t.clip, "expected a number >= 0 (0 = no gradient clipping)")
    if not _number(t.aux_weight) or not t.aux_weight >= 0:
        _fail("train.aux_weight", t.aux_weight, "expected a number >= 0 (0 = no auxiliary head)")
    _check_int("train.eval_every", t.eval_every, 0)
    _check_int("train.steps", t.steps, 0)
    _check_int("train.seed", t.seed, 0)
    _check_int("train.eval_batch_size", t.eval_batch_size, 1)
    _check_int("train.train_eval_size", t.train_eval_size, 0)
    if not isinstance(t.init_from, str):
        _fail("train.init_from", t.init_from, 'expected the path of a trained model file, or "" to train from scratch')
    unknown = sorted(set(t.subsets) - set(SUBSETS), key=str)
    if unknown:
        raise HwrError(f"params: unknown key train.subsets.{unknown[0]}; known keys: {', '.join(SUBSETS)}")
    for name in SUBSETS:
        if name not in t.subsets:
            raise HwrError(f"params: train.subsets.{name} is missing; give its train and validation sizes")
        _check_int(f"train.subsets.{name}.train", t.subsets[name].train, 1)
        _check_int(f"train.subsets.{name}.validation", t.subsets[name].validation, 1)
    _check_train_runs(t.runs, p.preprocess.width)
    _check_choice("evaluate.split", p.evaluate.split, SPLITS)
    _check_int("evaluate.batch_size", p.evaluate.batch_size, 1)
    _check_int("evaluate.top_confusions", p.evaluate.top_confusions, 1)
    e = p.evaluate
    _check_choice("evaluate.decoder", e.decoder, DECODERS)
    _check_int("evaluate.beam_width", e.beam_width, 1)
    _check_nonnegative("evaluate.lm_weight", e.lm_weight, "0 = no character language model")
    _check_nonnegative("evaluate.lexicon_bonus", e.lexicon_bonus, "0 = no lexicon bonus")
    if not isinstance(e.calibrate, bool):
        _fail("evaluate.calibrate", e.calibrate, "expected true or false")
    if not isinstance(p.lexicon.extra, str) or not p.lexicon.extra.strip():
        _fail("lexicon.extra", p.lexicon.extra, "expected the path of a names CSV (configs/extra-names.csv is empty)")
    for source in p.lexicon.sources:
        if not isinstance(source, str) or not NAME_SOURCE.fullmatch(source):
            _fail("lexicon.sources", list(p.lexicon.sources), "expected a list of names sources such as "
                  "[names-dataset:FR] (names-dataset and an ISO country code)")
    _check_int("lexicon.order", p.lexicon.order, 1)
    if p.lexicon.order > MAX_LM_ORDER:
        _fail("lexicon.order", p.lexicon.order, f"KenLM reads n-grams up to order {MAX_LM_ORDER}")
    for name, run in p.finetune.runs.items():
        _check_adaptation_run(f"finetune.runs.{name}", run)
    for name, run in p.selftrain.runs.items():
        key = f"selftrain.runs.{name}"
        _check_adaptation_run(key, run)
        if not isinstance(run.unlabeled, str) or not run.unlabeled.strip():
            _fail(f"{key}.unlabeled", run.unlabeled, "expected a zip of images or a folder of them")
        _check_int(f"{key}.rounds", run.rounds, 1)
        if not _number(run.threshold) \
                or not 0 <= run.threshold <= 1:
            _fail(f"{key}.threshold", run.threshold, "expected a calibrated confidence between 0 and 1")
        _check_int(f"{key}.max_unlabeled", run.max_unlabeled, 0)
    both = sorted(set(p.finetune.runs) & set(p.selftrain.runs))
    if both:
        raise HwrError(f"params: run name {both[0]!r} is both in finetune.runs and selftrain.runs; "
                       "each run writes models/<name>/, so give them different names")
    runs = (*p.train.runs, *p.finetune.runs, *p.selftrain.runs)
    if p.reader not in runs:
        _fail("reader", p.reader, f"expected the name of a train, finetune or selftrain run: {', '.join(runs)}")


def _check_train_runs(runs: dict, stored_width: int) -> None:
    """train.runs: the study's four runs, each the family and subset its name says (the comparison
    needs them), and any others beside them."""
    for name, run in runs.items():
        key = f"train.runs.{name}"
        _check_choice(f"{key}.rnn", run.rnn, RNNS)
        _check_choice(f"{key}.subset", run.subset, SUBSETS)
        if run.cnn != "":
            _check_choice(f"{key}.cnn", run.cnn, CNNS)
        _check_int(f"{key}.steps", run.steps, 0)
        if run.width != 0:
            _check_width(f"{key}.width", run.width, stored_width)
        if name in STUDY_RUNS and run_name(run.rnn, run.subset) != name:
            _fail(key, f"{{rnn: {run.rnn}, subset: {run.subset}}}",
                  f"{name} is the study's {name.replace('-', ' ')} run")
    for name in STUDY_RUNS:
        if name not in runs:
            raise HwrError(f"params: train.runs.{name} is missing; the comparison needs the study's four runs "
                           f"({', '.join(STUDY_RUNS)})")


def _check_adaptation_run(key: str, run: FinetuneRun) -> None:
    """The keys finetune and selftrain runs share."""
    if not isinstance(run.init_from, str) or not run.init_from.strip():
        _fail(f"{key}.init_from", run.init_from, "expected the path of a trained model file, e.g. pretrained/gru-full.pt")
    _check_int(f"{key}.steps", run.steps, 1)
    _check_positive(f"{key}.lr", run.lr)
    _check_int(f"{key}.batch_size", run.batch_size, 1)
    _check_bool(f"{key}.augment", run.augment)
    _check_mask(f"{key}.mask", run.mask)
    _check_int(f"{key}.labelled", run.labelled, 0)
    _check_int(f"{key}.synthetic", run.synthetic, 0)
    _check_int(f"{key}.repeat", run.repeat, 1)
    _check_int(f"{key}.seed", run.seed, 0)
