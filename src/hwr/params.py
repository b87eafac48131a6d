"""Typed params (one dataclass per ``params.yaml`` group) and their validation.

Every check raises :class:`HwrError` with a one-line message naming the key, the bad value and what
is allowed, so impossible params fail before any work starts.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hwr.alphabet import MAX_LABEL_LENGTH
from hwr.errors import HwrError

RNN_CHOICES = ("gru", "lstm")
SUBSET_CHOICES = ("first", "full")
SPLITS = ("train", "validation", "test")
RESIZE_CHOICES = ("crop", "fit")
EMPTY_POLICIES = ("drop", "keep")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULES = ("constant", "onecycle")
# the synthetic dataset's defaults: the synth stage's and `hwr synth`'s
DEFAULT_SYNTH_SIZES = {"train": 16000, "validation": 1000, "test": 1000}
DEFAULT_STYLE_MIX = {"hershey": 0.7, "ttf": 0.3}

# Input bounds (hwr.images, hwr.archive read their defaults here). Real scans have ~30,000 pixels
# and 5-15 kB; a 16-megapixel image decodes in 16 MB as grayscale, 64 MB as RGBA.
DEFAULT_MAX_PIXELS = 16_000_000
MAX_PIXELS_CEILING = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS: it refuses twice that on its own
DEFAULT_MAX_IMAGE_BYTES = 32 << 20

DECODERS = ("greedy", "beam", "lexicon")  # hwr.decoding builds them
TRAIN_RUNS = tuple(f"{rnn}-{subset}" for rnn in RNN_CHOICES for subset in SUBSET_CHOICES)
# names of finetune / selftrain runs: they name a stage (finetune@NAME), a param path
# (finetune.runs.NAME, where a dot would split it) and folders (models/NAME)
RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
MAX_LM_ORDER = 6  # the largest n-gram order KenLM (as flashlight-text ships it) reads


@dataclass(frozen=True)
class DataParams:
    raw_dir: str = "data/synth"
    zip_name: str = "{split}_v2.zip"
    csv_name: str = "written_name_{split}_v2.csv"


@dataclass(frozen=True)
class SynthParams:
    out_dir: str = "data/synth"
    seed: int = 0
    sizes: dict = field(default_factory=lambda: dict(DEFAULT_SYNTH_SIZES))
    style_mix: dict = field(default_factory=lambda: dict(DEFAULT_STYLE_MIX))
    jobs: int = 0


@dataclass(frozen=True)
class CleanParams:
    uppercase: bool = True
    drop_labels: tuple = ("UNREADABLE",)
    empty_policy: str = "drop"
    max_length: int = MAX_LABEL_LENGTH


@dataclass(frozen=True)
class PreprocessParams:
    resize: str = "crop"
    jobs: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images (width x height, from the header) are skipped
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES  # zip entries inflating to more are skipped
    keep_damaged: bool = False  # keep JPEGs libjpeg reports as corrupt (decoded as Pillow does)


@dataclass(frozen=True)
class SubsetParams:
    train: int
    validation: int


@dataclass(frozen=True)
class TrainParams:
    batch_size: int = 128
    lr: float = 0.001
    epochs: int = 10
    schedule: str = "constant"
    warmup_fraction: float = 0.1
    precision: str = "auto"
    seed: int = 0
    eval_batch_size: int = 256
    train_eval_size: int = 2048
    augment: bool = False
    clip: float = 0.0
    aux_weight: float = 0.0
    eval_every: int = 0
    steps: int = 0
    init_from: str = ""  # a trained model file to start from ("" = from scratch)
    subsets: dict = field(
        default_factory=lambda: {
            "first": SubsetParams(64000, 6400),
            "full": SubsetParams(300800, 30080),
        }
    )


@dataclass(frozen=True)
class LexiconParams:
    extra: str = "configs/extra-names.csv"  # more names (CSV with IDENTITY[,count]); the default is empty
    order: int = 6


@dataclass(frozen=True)
class EvaluateParams:
    split: str = "test"
    batch_size: int = 256
    top_confusions: int = 10
    decoder: str = "greedy"
    beam_width: int = 16
    lm_weight: float = 0.5
    lexicon_bonus: float = 3.0
    calibrate: bool = True


@dataclass(frozen=True)
class FinetuneRun:
    """One run of the finetune stage: a trained model adapted to the pipeline's labelled data."""

    init_from: str = ""  # the model file to start from (required)
    steps: int = 600
    lr: float = 0.0005
    batch_size: int = 16
    augment: bool = False
    labelled: int = 0  # 0 = every labelled training image, else the first N of a seeded selection
    synthetic: int = 0  # synthetic training images mixed in
    repeat: int = 1  # how many times the labelled images appear in the mix
    seed: int = 0


@dataclass(frozen=True)
class SelftrainRun(FinetuneRun):
    """One run of the selftrain stage: rounds of pseudo-labelling unlabelled scans, then training."""

    unlabeled: str = ""  # a zip of images or a folder (required)
    rounds: int = 1
    threshold: float = 0.9  # calibrated confidence at or above which a reading becomes a label
    max_unlabeled: int = 0  # 0 = every unlabelled image, else a seeded selection of that many


@dataclass(frozen=True)
class FinetuneParams:
    runs: dict = field(default_factory=dict)  # name -> FinetuneRun; none by default: the stage is off


@dataclass(frozen=True)
class SelftrainParams:
    runs: dict = field(default_factory=dict)  # name -> SelftrainRun; none by default: the stage is off


@dataclass(frozen=True)
class Params:
    rnn: str = "gru"
    data: DataParams = DataParams()
    synth: SynthParams = SynthParams()
    clean: CleanParams = CleanParams()
    preprocess: PreprocessParams = PreprocessParams()
    train: TrainParams = TrainParams()
    lexicon: LexiconParams = LexiconParams()
    evaluate: EvaluateParams = EvaluateParams()
    finetune: FinetuneParams = FinetuneParams()
    selftrain: SelftrainParams = SelftrainParams()


def _fail(key: str, value: Any, allowed: str) -> None:
    raise HwrError(f"params: {key}={value!r} is impossible; {allowed}")


def _check_choice(key: str, value: Any, choices) -> None:
    if value not in choices:
        _fail(key, value, f"choose one of {', '.join(choices)}")


def _check_int(key: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, value, f"expected an integer >= {minimum}")


def _check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(key, value, "expected true or false")


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

def _check_nonnegative(key: str, value: Any, meaning: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        _fail(key, value, f"expected a number >= 0 ({meaning})")


def _check_positive(key: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        _fail(key, value, "expected a number > 0")


def _build(cls, raw: Any, prefix: str):
    """Instantiate dataclass ``cls`` from a mapping, refusing unknown keys (typos)."""
    if raw is None:
        return cls()
    if not isinstance(raw, dict):
        _fail(prefix, raw, "expected a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - names)
    if unknown:
        raise HwrError(f"params: unknown key {prefix}.{unknown[0]}; known keys: {', '.join(sorted(names))}")
    try:
        return cls(**raw)
    except TypeError as exc:  # e.g. a subset without its validation size
        raise HwrError(f"params: {prefix}: {exc}") from None


def _validate(p: Params) -> None:
    _check_choice("rnn", p.rnn, RNN_CHOICES)
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
    if isinstance(t.warmup_fraction, bool) or not isinstance(t.warmup_fraction, (int, float)) \
            or not 0 <= t.warmup_fraction < 1:
        _fail("train.warmup_fraction", t.warmup_fraction, "expected 0 <= value < 1")
    _check_choice("train.precision", t.precision, PRECISIONS)
    _check_bool("train.augment", t.augment)
    if isinstance(t.clip, bool) or not isinstance(t.clip, (int, float)) or not t.clip >= 0:
        _fail("train.clip", t.clip, "expected a number >= 0 (0 = no gradient clipping)")
    if isinstance(t.aux_weight, bool) or not isinstance(t.aux_weight, (int, float)) or not t.aux_weight >= 0:
        _fail("train.aux_weight", t.aux_weight, "expected a number >= 0 (0 = no auxiliary head)")
    _check_int("train.eval_every", t.eval_every, 0)
    _check_int("train.steps", t.steps, 0)
    _check_int("train.seed", t.seed, 0)
    _check_int("train.eval_batch_size", t.eval_batch_size, 1)
    _check_int("train.train_eval_size", t.train_eval_size, 0)
    if not isinstance(t.init_from, str):
        _fail("train.init_from", t.init_from, 'expected the path of a trained model file, or "" to train from scratch')
    unknown = sorted(set(t.subsets) - set(SUBSET_CHOICES), key=str)
    if unknown:
        raise HwrError(f"params: unknown key train.subsets.{unknown[0]}; known keys: {', '.join(SUBSET_CHOICES)}")
    for name in SUBSET_CHOICES:
        if name not in t.subsets:
            raise HwrError(f"params: train.subsets.{name} is missing; give its train and validation sizes")
        _check_int(f"train.subsets.{name}.train", t.subsets[name].train, 1)
        _check_int(f"train.subsets.{name}.validation", t.subsets[name].validation, 1)
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
        if isinstance(run.threshold, bool) or not isinstance(run.threshold, (int, float)) \
                or not 0 <= run.threshold <= 1:
            _fail(f"{key}.threshold", run.threshold, "expected a calibrated confidence between 0 and 1")
        _check_int(f"{key}.max_unlabeled", run.max_unlabeled, 0)
    both = sorted(set(p.finetune.runs) & set(p.selftrain.runs))
    if both:
        raise HwrError(f"params: run name {both[0]!r} is both in finetune.runs and selftrain.runs; "
                       "each run writes models/<name>/, so give them different names")


def _check_adaptation_run(key: str, run: FinetuneRun) -> None:
    """The keys finetune and selftrain runs share."""
    if not isinstance(run.init_from, str) or not run.init_from.strip():
        _fail(f"{key}.init_from", run.init_from, "expected the path of a trained model file, e.g. pretrained/gru-full.pt")
    _check_int(f"{key}.steps", run.steps, 1)
    _check_positive(f"{key}.lr", run.lr)
    _check_int(f"{key}.batch_size", run.batch_size, 1)
    _check_bool(f"{key}.augment", run.augment)
    _check_int(f"{key}.labelled", run.labelled, 0)
    _check_int(f"{key}.synthetic", run.synthetic, 0)
    _check_int(f"{key}.repeat", run.repeat, 1)
    _check_int(f"{key}.seed", run.seed, 0)


def _build_runs(cls, raw: Any, group: str) -> dict:
    """``<group>.runs``: a mapping of run name to that run's settings (``{}``: no runs)."""
    key = f"{group}.runs"
    if not isinstance(raw, dict):
        _fail(key, raw, "expected a mapping of run names to their settings ({} = no runs)")
    runs = {}
    for name, settings in raw.items():
        if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
            _fail(f"{key} name", name, "a run name is letters, digits, - and _, starting with a letter or digit "
                  "(e.g. gru-mine)")
        if name in TRAIN_RUNS:
            _fail(f"{key} name", name, f"{', '.join(TRAIN_RUNS)} are the train stage's runs (models/<name>/); "
                  "choose another name")
        if not isinstance(settings, dict):
            _fail(f"{key}.{name}", settings, "expected a mapping of its keys, e.g. {init_from: pretrained/gru-full.pt}")
        runs[name] = _build(cls, settings, f"{key}.{name}")
    return runs


def _adaptation_group(cls, run_cls, raw: Any, group: str):
    """The finetune or selftrain group: ``runs`` built into one dataclass per run."""
    raw = dict(raw or {})
    if "runs" in raw:
        raw["runs"] = _build_runs(run_cls, raw["runs"], group)
    return _build(cls, raw, group)


def from_dict(raw: dict) -> Params:
    """Typed, validated params from the parsed contents of ``params.yaml``."""
    if raw is not None and not isinstance(raw, dict):
        _fail("params", raw, "expected a mapping of groups (rnn, data, synth, clean, ...)")
    raw = dict(raw or {})
    for group in ("data", "synth", "clean", "preprocess", "train", "lexicon", "evaluate", "finetune", "selftrain"):
        if raw.get(group) is not None and not isinstance(raw[group], dict):
            _fail(group, raw[group], "expected a mapping of its keys")
    train = dict(raw.get("train") or {})
    if "subsets" in train:
        subsets = train["subsets"]
        if not isinstance(subsets, dict):
            _fail("train.subsets", subsets, "expected a mapping of first/full to sizes")
        train["subsets"] = {
            name: _build(SubsetParams, value, f"train.subsets.{name}") if isinstance(value, dict)
            else _fail(f"train.subsets.{name}", value, "expected {train: N, validation: N}")
            for name, value in subsets.items()
        }
    clean = dict(raw.get("clean") or {})
    if "drop_labels" in clean:
        if isinstance(clean["drop_labels"], str):  # tuple() would split it into letters
            _fail("clean.drop_labels", clean["drop_labels"], "expected a list, e.g. [UNREADABLE]")
        if not isinstance(clean["drop_labels"], (list, tuple, type(None))):
            _fail("clean.drop_labels", clean["drop_labels"], "expected a list, e.g. [UNREADABLE]")
        clean["drop_labels"] = tuple(clean["drop_labels"] or ())
    known = {f.name for f in dataclasses.fields(Params)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise HwrError(f"params: unknown top-level key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")
    try:
        params = Params(
            rnn=raw.get("rnn", "gru"),
            data=_build(DataParams, raw.get("data"), "data"),
            synth=_build(SynthParams, raw.get("synth"), "synth"),
            clean=_build(CleanParams, clean, "clean"),
            preprocess=_build(PreprocessParams, raw.get("preprocess"), "preprocess"),
            train=_build(TrainParams, train, "train"),
            lexicon=_build(LexiconParams, raw.get("lexicon"), "lexicon"),
            evaluate=_build(EvaluateParams, raw.get("evaluate"), "evaluate"),
            finetune=_adaptation_group(FinetuneParams, FinetuneRun, raw.get("finetune"), "finetune"),
            selftrain=_adaptation_group(SelftrainParams, SelftrainRun, raw.get("selftrain"), "selftrain"),
        )
    except TypeError as exc:  # e.g. a missing required field in a subset
        raise HwrError(f"params: {exc}") from None
    _validate(params)
    return params


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``; a missing or unparsable file is a one-line error."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HwrError(f"{path}: not found; run from the project root (where params.yaml lives)") from None
    except yaml.YAMLError as exc:
        raise HwrError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return from_dict(raw)
