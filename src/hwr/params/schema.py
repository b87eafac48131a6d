"""The params' schema: one frozen dataclass per ``params.yaml`` group, and the choices they allow.

The defaults are ``params.yaml``'s values (tests/params/test_schema.py keeps them equal): the
pipeline's defaults are written in params.yaml, and these say the same. ``configs/study.yaml``
holds what the reference study changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hwr.core.alphabet import MAX_LABEL_LENGTH
from hwr.core.layout import KAGGLE_CSV, KAGGLE_ZIP

__all__ = ["RESIZE_CHOICES", "EMPTY_POLICIES", "PRECISIONS", "SCHEDULES", "DEFAULT_STYLE_MIX", "DEFAULT_MAX_PIXELS",
           "MAX_PIXELS_CEILING", "DEFAULT_MAX_IMAGE_BYTES", "STUDY_WIDTH", "MAX_WIDTH", "DECODERS", "MAX_LM_ORDER",
           "NAME_SOURCE", "SYNTH_NAMES", "DataParams", "SynthParams", "CleanParams", "PreprocessParams", "SubsetParams",
           "TrainRun", "TrainParams", "LexiconParams", "EvaluateParams", "FinetuneRun", "SelftrainRun", "FinetuneParams",
           "SelftrainParams", "Params"]

RESIZE_CHOICES = ("crop", "fit")
EMPTY_POLICIES = ("drop", "keep")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SCHEDULES = ("constant", "onecycle")
DEFAULT_STYLE_MIX = {"hershey": 0.7, "ttf": 0.3}

# Input bounds (hwr.data.images, hwr.data.archive read their defaults here). Real scans have ~30,000 pixels
# and 5-15 kB; a 16-megapixel image decodes in 16 MB as grayscale, 64 MB as RGBA.
DEFAULT_MAX_PIXELS = 16_000_000
MAX_PIXELS_CEILING = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS: it refuses twice that on its own
DEFAULT_MAX_IMAGE_BYTES = 32 << 20
# Model input widths (px): the study's 256-px crop is the narrowest; wider crops keep more of a name (real
# scans are 273-388 px wide). A stored row is 64 x width bytes.
STUDY_WIDTH = 256
MAX_WIDTH = 1024

DECODERS = ("greedy", "beam", "lexicon")  # hwr.decoding.factory builds them
MAX_LM_ORDER = 6  # the largest n-gram order KenLM (as flashlight-text ships it) reads
# a lexicon names source (hwr.decoding.name_sources): its kind, a colon, a country code
NAME_SOURCE = re.compile(r"(?P<kind>names-dataset):(?P<country>[A-Z]{2})")
SYNTH_NAMES = re.compile(rf"faker|{NAME_SOURCE.pattern}")  # synth.names: faker's pools or a names source


@dataclass(frozen=True)
class DataParams:
    raw_dir: str = "data/synth"
    zip_name: str = KAGGLE_ZIP
    csv_name: str = KAGGLE_CSV


@dataclass(frozen=True)
class SynthParams:
    out_dir: str = "data/synth"
    seed: int = 0
    sizes: dict = field(default_factory=lambda: {"train": 16000, "validation": 200, "test": 500})
    style_mix: dict = field(default_factory=lambda: dict(DEFAULT_STYLE_MIX))
    names: str = "faker"
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
    width: int = STUDY_WIDTH  # px of each stored crop: the widest run's input (narrower runs read its left part)
    jobs: int = 0
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger images (width x height, from the header) are skipped
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES  # zip entries inflating to more are skipped
    keep_damaged: bool = False  # keep JPEGs libjpeg reports as corrupt (decoded as Pillow does)


@dataclass(frozen=True)
class SubsetParams:
    train: int
    validation: int


@dataclass(frozen=True)
class TrainRun:
    """One run of the train stage (train@NAME, then evaluate@NAME): a recurrent family, a subset, a
    network ("" = ``train.cnn``), a number of optimiser steps (0 = ``train.steps``) and an input
    width in px (0 = ``train.width``)."""

    rnn: str
    subset: str
    cnn: str = ""
    steps: int = 0
    width: int = 0


def default_train_runs() -> dict:
    """params.yaml's train.runs: the study's four runs, compared, and the wide GRU beside them."""
    runs = {f"{rnn}-{subset}": TrainRun(rnn, subset) for subset in ("first", "full") for rnn in ("gru", "lstm")}
    return {**runs, "gru-wide": TrainRun("gru", "full", "wide", 2400)}


@dataclass(frozen=True)
class TrainParams:
    batch_size: int = 16
    lr: float = 0.002  # the peak of the one-cycle schedule
    epochs: int = 2  # used when steps is 0
    schedule: str = "onecycle"
    warmup_fraction: float = 0.05
    precision: str = "auto"
    seed: int = 0
    eval_batch_size: int = 256
    train_eval_size: int = 100
    augment: bool = False
    mask: float = 0.0  # share of each training image's columns whitened in random stripes, 0 = off
    cnn: str = "study"  # the CRNN's architecture (hwr.model.crnn.ARCHITECTURES) of runs that name none: study | wide
    width: int = STUDY_WIDTH  # px of the crop the model reads, of runs that name none
    clip: float = 2.0  # largest gradient norm, 0 = off
    aux_weight: float = 1.0  # training-only auxiliary CTC head, 0 = none
    eval_every: int = 50  # validation every N optimiser steps (0 = epoch ends only)
    steps: int = 1600  # optimiser steps of every run (0 = epochs decide)
    init_from: str = ""  # a trained model file to start from ("" = from scratch)
    subsets: dict = field(
        default_factory=lambda: {
            "first": SubsetParams(3200, 200),
            "full": SubsetParams(16000, 200),
        }
    )
    runs: dict = field(default_factory=default_train_runs)  # name -> TrainRun


@dataclass(frozen=True)
class LexiconParams:
    extra: str = "configs/extra-names.csv"  # more names (CSV with IDENTITY[,count]); the default is empty
    sources: tuple = ("names-dataset:FR",)  # names sources, KIND:COUNTRY (NAME_SOURCE); () = none
    order: int = 6


@dataclass(frozen=True)
class EvaluateParams:
    split: str = "test"
    batch_size: int = 256
    top_confusions: int = 10
    decoder: str = "lexicon"
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
    mask: float = 0.0  # share of each training image's columns whitened in random stripes, 0 = off
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
    reader: str = "gru-wide"
    data: DataParams = DataParams()
    synth: SynthParams = SynthParams()
    clean: CleanParams = CleanParams()
    preprocess: PreprocessParams = PreprocessParams()
    train: TrainParams = TrainParams()
    lexicon: LexiconParams = LexiconParams()
    evaluate: EvaluateParams = EvaluateParams()
    finetune: FinetuneParams = FinetuneParams()
    selftrain: SelftrainParams = SelftrainParams()
