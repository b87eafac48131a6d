"""hwr.params.checks: every impossible value is a one-line error naming its key."""


import pytest
from _support import FT, ST, error_of


def test_rnn_foo():
    message = error_of({"rnn": "foo"})
    assert "rnn" in message and "'foo'" in message and "gru" in message and "lstm" in message


@pytest.mark.parametrize("raw,key", [
    ({"synth": {"sizes": {"train": -1}}}, "synth.sizes.train"),
    ({"train": {"subsets": {"first": {"train": -5, "validation": 1}, "full": {"train": 1, "validation": 1}}}},
     "train.subsets.first.train"),
    ({"train": {"subsets": {"first": {"train": 5, "validation": 0}, "full": {"train": 1, "validation": 1}}}},
     "train.subsets.first.validation"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"train": {"batch_size": -8}}, "train.batch_size"),
    ({"train": {"batch_size": True}}, "train.batch_size"),
    ({"train": {"epochs": 1.5}}, "train.epochs"),
    ({"train": {"steps": -1}}, "train.steps"),
    ({"train": {"lr": 0}}, "train.lr"),
    ({"train": {"lr": float("inf")}}, "train.lr"),
    ({"train": {"lr": float("nan")}}, "train.lr"),
    ({"train": {"clip": float("inf")}}, "train.clip"),
    ({"evaluate": {"lm_weight": float("nan")}}, "evaluate.lm_weight"),
    ({"train": {"lr": -0.1}}, "train.lr"),
    ({"train": {"train_eval_size": -1}}, "train.train_eval_size"),
    ({"train": {"eval_batch_size": 0}}, "train.eval_batch_size"),
    ({"train": {"warmup_fraction": 1.0}}, "train.warmup_fraction"),
    ({"evaluate": {"batch_size": -1}}, "evaluate.batch_size"),
    ({"evaluate": {"top_confusions": 0}}, "evaluate.top_confusions"),
    ({"preprocess": {"jobs": -2}}, "preprocess.jobs"),
    ({"synth": {"jobs": -1}}, "synth.jobs"),
    ({"clean": {"max_length": 0}}, "clean.max_length"),
    ({"clean": {"max_length": 30}}, "clean.max_length"),
    ({"train": {"clip": -1.0}}, "train.clip"),
    ({"train": {"clip": "yes"}}, "train.clip"),
    ({"preprocess": {"max_pixels": 0}}, "preprocess.max_pixels"),
    ({"preprocess": {"max_pixels": 10**9}}, "preprocess.max_pixels"),
    ({"preprocess": {"max_pixels": 1.5e6}}, "preprocess.max_pixels"),
    ({"preprocess": {"max_image_bytes": 0}}, "preprocess.max_image_bytes"),
    ({"preprocess": {"max_image_bytes": "32 MiB"}}, "preprocess.max_image_bytes"),
    ({"preprocess": {"keep_damaged": "yes"}}, "preprocess.keep_damaged"),
    ({"preprocess": {"keep_damaged": 1}}, "preprocess.keep_damaged"),
    ({"clean": {"uppercase": "no"}}, "clean.uppercase"),
    ({"train": {"augment": "false"}}, "train.augment"),
    ({"train": {"mask": 1.0}}, "train.mask"),
    ({"train": {"mask": -0.1}}, "train.mask"),
    ({"train": {"cnn": "deep"}}, "train.cnn"),
    ({"train": {"runs": {"gru-wide": {"rnn": "gru", "subset": "full", "cnn": "deep"}}}}, "train.runs.gru-wide.cnn"),
    ({"train": {"runs": {"gru-wide": {"rnn": "rnn", "subset": "full"}}}}, "train.runs.gru-wide.rnn"),
    ({"train": {"runs": {"gru-wide": {"rnn": "gru", "subset": "half"}}}}, "train.runs.gru-wide.subset"),
    ({"train": {"runs": {"gru-wide": {"rnn": "gru", "subset": "full", "depth": 3}}}}, "train.runs.gru-wide.depth"),
    ({"train": {"runs": {"gru-wide": {"rnn": "gru", "subset": "full", "steps": -1}}}}, "train.runs.gru-wide.steps"),
    ({"train": {"runs": {"gru-wide": {"rnn": "gru", "subset": "full", "steps": 2.5}}}}, "train.runs.gru-wide.steps"),
    ({"train": {"runs": {"gru-wide": {"rnn": "gru", "subset": "full", "width": 128}}}}, "train.runs.gru-wide.width"),
    ({"train": {"runs": {"gru-wide": {"rnn": "gru", "subset": "full", "width": 512}}}}, "raise preprocess.width to 512"),
    ({"train": {"width": 384.0}}, "train.width"),
    ({"train": {"width": 448}}, "train.width=448 is impossible; at most 256: preprocess.width"),
    ({"preprocess": {"width": 2048}}, "preprocess.width"),
    ({"preprocess": {"width": 200}}, "preprocess.width"),
    ({"train": {"runs": {"gru-full": {"rnn": "lstm", "subset": "full"}}}}, "train.runs.gru-full"),
    ({"train": {"runs": {"gru first": {"rnn": "gru", "subset": "first"}}}}, "train.runs name"),
    ({"reader": "gru-best"}, "reader"),
    ({"train": {"runs": {"gru-full": {"rnn": "gru", "subset": "full"}}}}, "train.runs.gru-first is missing"),
    ({"finetune": {"runs": {"gru-wide": {"init_from": "m.pt"}}}}, "finetune.runs name"),
    ({"finetune": {"runs": {"mine": {"init_from": "m.pt", "mask": "some"}}}}, "finetune.runs.mine.mask"),
    ({"clean": {"drop_labels": [1]}}, "clean.drop_labels"),
    ({"clean": {"drop_labels": {"UNREADABLE": 1}}}, "clean.drop_labels"),
    ({"data": {"zip_name": "{spilt}_v2.zip"}}, "data.zip_name"),
    ({"data": {"csv_name": "written_{split"}}, "data.csv_name"),
    ({"data": {"raw_dir": 5}}, "data.raw_dir"),
    ({"synth": {"out_dir": ""}}, "synth.out_dir"),
    ({"synth": {"seed": -1}}, "synth.seed"),
])
def test_impossible_numbers(raw, key):
    assert key in error_of(raw)


@pytest.mark.parametrize("raw,key,value", [
    ({"preprocess": {"resize": "stretch"}}, "preprocess.resize", "stretch"),
    ({"clean": {"empty_policy": "maybe"}}, "clean.empty_policy", "maybe"),
    ({"train": {"precision": "fp8"}}, "train.precision", "fp8"),
    ({"train": {"schedule": "cosine"}}, "train.schedule", "cosine"),
    ({"evaluate": {"split": "dev"}}, "evaluate.split", "dev"),
    ({"synth": {"sizes": {"dev": 3}}}, "synth.sizes", "dev"),
])
def test_unknown_choices(raw, key, value):
    message = error_of(raw)
    assert key in message and value in message


@pytest.mark.parametrize("raw,key", [
    ({"evaluate": {"decoder": "viterbi"}}, "evaluate.decoder"),
    ({"evaluate": {"beam_width": 0}}, "evaluate.beam_width"),
    ({"evaluate": {"beam_width": 2.5}}, "evaluate.beam_width"),
    ({"evaluate": {"lm_weight": -0.1}}, "evaluate.lm_weight"),
    ({"evaluate": {"lexicon_bonus": "big"}}, "evaluate.lexicon_bonus"),
    ({"evaluate": {"calibrate": "yes"}}, "evaluate.calibrate"),
    ({"lexicon": {"order": 7}}, "lexicon.order"),
    ({"lexicon": {"order": 0}}, "lexicon.order"),
    ({"lexicon": {"extra": None}}, "lexicon.extra"),
    ({"lexicon": {"sources": ["names-dataset:France"]}}, "lexicon.sources"),
    ({"lexicon": {"sources": "names-dataset:FR"}}, "lexicon.sources"),
    ({"lexicon": {"sources": [5]}}, "lexicon.sources"),
    ({"lexicon": {"extra": " "}}, "lexicon.extra"),
    ({"lexicon": {"size": 3}}, "lexicon.size"),
])
def test_decoding_and_lexicon_params(raw, key):
    assert key in error_of(raw)


@pytest.mark.parametrize("raw,key", [
    ({"train": {"init_from": 5}}, "train.init_from"),
    ({"train": {"init_from": None}}, "train.init_from"),
    ({"finetune": {"runs": None}}, "finetune.runs"),
    ({"finetune": {"runs": ["mine"]}}, "finetune.runs"),
    ({"finetune": {"runs": {"mine": None}}}, "finetune.runs.mine"),
    ({"finetune": {"runs": {"mine": {}}}}, "finetune.runs.mine.init_from"),
    ({"finetune": {"runs": {"mine": {"init_from": ""}}}}, "finetune.runs.mine.init_from"),
    ({"finetune": {"runs": {"mine": {**FT, "steps": 0}}}}, "finetune.runs.mine.steps"),
    ({"finetune": {"runs": {"mine": {**FT, "lr": 0}}}}, "finetune.runs.mine.lr"),
    ({"finetune": {"runs": {"mine": {**FT, "lr": "5e-4"}}}}, "finetune.runs.mine.lr"),  # YAML reads 5e-4 as text
    ({"finetune": {"runs": {"mine": {**FT, "batch_size": 0}}}}, "finetune.runs.mine.batch_size"),
    ({"finetune": {"runs": {"mine": {**FT, "augment": "yes"}}}}, "finetune.runs.mine.augment"),
    ({"finetune": {"runs": {"mine": {**FT, "labelled": -1}}}}, "finetune.runs.mine.labelled"),
    ({"finetune": {"runs": {"mine": {**FT, "synthetic": 1.5}}}}, "finetune.runs.mine.synthetic"),
    ({"finetune": {"runs": {"mine": {**FT, "repeat": 0}}}}, "finetune.runs.mine.repeat"),
    ({"finetune": {"runs": {"mine": {**FT, "seed": -1}}}}, "finetune.runs.mine.seed"),
    ({"finetune": {"runs": {"my.run": FT}}}, "my.run"),
    ({"finetune": {"runs": {100: FT}}}, "100"),
    ({"finetune": {"runs": {"gru-full": FT}}}, "gru-full"),
    ({"selftrain": {"runs": {"own": {"init_from": "m.pt"}}}}, "selftrain.runs.own.unlabeled"),
    ({"selftrain": {"runs": {"own": {**ST, "rounds": 0}}}}, "selftrain.runs.own.rounds"),
    ({"selftrain": {"runs": {"own": {**ST, "threshold": 1.5}}}}, "selftrain.runs.own.threshold"),
    ({"selftrain": {"runs": {"own": {**ST, "threshold": -0.1}}}}, "selftrain.runs.own.threshold"),
    ({"selftrain": {"runs": {"own": {**ST, "threshold": True}}}}, "selftrain.runs.own.threshold"),
    ({"selftrain": {"runs": {"own": {**ST, "max_unlabeled": -5}}}}, "selftrain.runs.own.max_unlabeled"),
    ({"selftrain": {"runs": {"own": {**ST, "steps": 0}}}}, "selftrain.runs.own.steps"),
    ({"finetune": {"runs": {"both": FT}}, "selftrain": {"runs": {"both": ST}}}, "both"),
])
def test_impossible_adaptation_params(raw, key):
    assert key in error_of(raw)
