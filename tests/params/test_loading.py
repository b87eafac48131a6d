"""hwr.params.loading: params.yaml read whole, unknown keys and bad shapes refused."""


import pytest
import yaml
from _support import FT, ST, error_of

from hwr import params
from hwr.core import layout
from hwr.core.errors import HwrError
from hwr.params import Params, from_dict, load


def test_project_params_file_is_valid(repo_root):
    p = load(repo_root / "params.yaml")
    assert p.rnn in layout.RNNS
    assert p.preprocess.resize in params.RESIZE_CHOICES
    assert set(p.train.subsets) >= {"first", "full"}


@pytest.mark.parametrize("raw,name", [
    ({"rnnn": "gru"}, "rnnn"),
    ({"train": {"epoch": 3}}, "train.epoch"),
    ({"preprocess": {"resise": "fit"}}, "preprocess.resise"),
    ({"preprocess": {"max_pixel": 100}}, "preprocess.max_pixel"),
    ({"train": {"subsets": {"first": {"train": 1, "validation": 1}, "full": {"train": 1, "validation": 1},
                            "ful": {"train": 1, "validation": 1}}}}, "train.subsets.ful"),
    ({"train": {"subsets": {"first": {"train": 1, "validation": 1, "test": 1}, "full": {"train": 1, "validation": 1}}}},
     "train.subsets.first.test"),
])
def test_unknown_keys(raw, name):
    message = error_of(raw)
    assert "unknown" in message and name in message


def test_missing_subset():
    assert "train.subsets.full" in error_of({"train": {"subsets": {"first": {"train": 1, "validation": 1}}}})
    assert "train.subsets" in error_of({"train": {"subsets": {"first": {"train": 1}, "full": {"train": 1, "validation": 1}}}})


@pytest.mark.parametrize("raw,key", [
    ("just a string", "params"),
    ([1, 2], "params"),
    ({"train": 5}, "train"),
    ({"clean": ["uppercase"]}, "clean"),
    ({"data": "data/kaggle"}, "data"),
    ({"train": {"subsets": [1, 2]}}, "train.subsets"),
    ({"train": {"subsets": {"first": 10, "full": {"train": 1, "validation": 1}}}}, "train.subsets.first"),
    ({"synth": {"sizes": [100, 10, 10]}}, "synth.sizes"),
    ({"train": {"warmup_fraction": "0.1"}}, "train.warmup_fraction"),
    ({"clean": {"drop_labels": "UNREADABLE"}}, "clean.drop_labels"),
])
def test_wrong_shapes_are_one_line_errors(raw, key):
    """A group or value of the wrong type is a params error, not a traceback (nor, for a bare
    string in drop_labels, a silent split into single letters)."""
    assert key in error_of(raw)


def test_load_missing_and_invalid_files(tmp_path):
    with pytest.raises(HwrError, match="not found"):
        load(tmp_path / "params.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rnn: gru\ntrain: {batch_size: 8\n", encoding="utf-8")
    with pytest.raises(HwrError) as info:
        load(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load(empty) == Params()


def test_load_round_trip(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"rnn": "lstm", "preprocess": {"resize": "fit"}}), encoding="utf-8")
    p = load(path)
    assert p.rnn == "lstm" and p.preprocess.resize == "fit"


def test_decoding_params_are_read():
    p = from_dict({"evaluate": {"decoder": "lexicon", "beam_width": 4, "lm_weight": 0, "lexicon_bonus": 2},
                   "lexicon": {"extra": "names.csv", "order": 3}})
    assert (p.evaluate.decoder, p.evaluate.beam_width, p.evaluate.lm_weight, p.evaluate.lexicon_bonus) == \
        ("lexicon", 4, 0, 2)
    assert (p.lexicon.extra, p.lexicon.order) == ("names.csv", 3)
    assert from_dict({}).evaluate.decoder == "lexicon"  # params.yaml's


# ---------------------------------------------------------------- train.init_from, finetune, selftrain

@pytest.mark.parametrize("raw,name", [
    ({"finetune": {"run": {}}}, "finetune.run"),
    ({"finetune": {"runs": {"mine": {**FT, "stpes": 100}}}}, "finetune.runs.mine.stpes"),
    ({"finetune": {"runs": {"mine": {**FT, "threshold": 0.9}}}}, "finetune.runs.mine.threshold"),  # selftrain's
    ({"selftrain": {"runs": {"own": {**ST, "treshold": 0.9}}}}, "selftrain.runs.own.treshold"),
])
def test_unknown_adaptation_keys(raw, name):
    message = error_of(raw)
    assert "unknown" in message and name in message
