import pytest
import yaml

from hwr import params
from hwr.errors import HwrError
from hwr.params import Params, from_dict, load


def error_of(raw) -> str:
    with pytest.raises(HwrError) as info:
        from_dict(raw)
    message = str(info.value)
    assert "\n" not in message, message  # one line
    return message


def test_project_params_file_is_valid(repo_root):
    p = load(repo_root / "params.yaml")
    assert p.rnn in params.RNN_CHOICES
    assert p.preprocess.resize in params.RESIZE_CHOICES
    assert set(p.train.subsets) >= {"first", "full"}


def test_defaults_and_typed_groups():
    p = from_dict({})
    assert p == Params()
    p = from_dict({"rnn": "lstm", "clean": {"drop_labels": ["UNREADABLE", "ILLISIBLE"]},
                   "train": {"subsets": {"first": {"train": 32, "validation": 16}, "full": {"train": 48, "validation": 16}}}})
    assert p.rnn == "lstm"
    assert p.clean.drop_labels == ("UNREADABLE", "ILLISIBLE")
    assert p.train.subsets["full"].train == 48 and p.train.subsets["first"].validation == 16


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


def test_the_study_config_is_valid_and_sets_every_limit(repo_root):
    study = load(repo_root / "configs" / "study.yaml")
    project = load(repo_root / "params.yaml")
    assert study.preprocess == project.preprocess == params.PreprocessParams()  # the safe defaults, written out


def test_the_pixel_ceiling_is_pillows_own_limit():
    """Pillow refuses images over twice its limit before hwr's limit is looked at: hwr's may not be
    higher, so that one limit holds for every decoder."""
    from PIL import Image

    assert params.MAX_PIXELS_CEILING == Image.MAX_IMAGE_PIXELS
    assert from_dict({"preprocess": {"max_pixels": params.MAX_PIXELS_CEILING}}).preprocess.max_pixels == \
        params.MAX_PIXELS_CEILING


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
    ({"lexicon": {"extra": " "}}, "lexicon.extra"),
    ({"lexicon": {"size": 3}}, "lexicon.size"),
])
def test_decoding_and_lexicon_params(raw, key):
    assert key in error_of(raw)


def test_decoding_params_are_read():
    p = from_dict({"evaluate": {"decoder": "lexicon", "beam_width": 4, "lm_weight": 0, "lexicon_bonus": 2},
                   "lexicon": {"extra": "names.csv", "order": 3}})
    assert (p.evaluate.decoder, p.evaluate.beam_width, p.evaluate.lm_weight, p.evaluate.lexicon_bonus) == \
        ("lexicon", 4, 0, 2)
    assert (p.lexicon.extra, p.lexicon.order) == ("names.csv", 3)
    assert from_dict({}).evaluate.decoder == "greedy"


# ---------------------------------------------------------------- train.init_from, finetune, selftrain

def test_adaptation_runs_are_off_by_default_and_typed():
    p = from_dict({})
    assert p.finetune.runs == {} and p.selftrain.runs == {} and p.train.init_from == ""
    p = from_dict({"train": {"init_from": "pretrained/gru-full.pt"},
                   "finetune": {"runs": {"gru-mine": {"init_from": "pretrained/gru-full.pt", "labelled": 300}}},
                   "selftrain": {"runs": {"gru_self": {"init_from": "models/gru-mine/model.pt",
                                                       "unlabeled": "scans/", "rounds": 2, "threshold": 1}}}})
    assert p.train.init_from == "pretrained/gru-full.pt"
    mine = p.finetune.runs["gru-mine"]
    assert isinstance(mine, params.FinetuneRun) and mine.labelled == 300 and mine.steps == 600 and mine.lr == 0.0005
    own = p.selftrain.runs["gru_self"]
    assert isinstance(own, params.SelftrainRun) and (own.rounds, own.threshold, own.max_unlabeled) == (2, 1, 0)


def test_the_project_files_have_no_adaptation_runs(repo_root):
    for path in (repo_root / "params.yaml", repo_root / "configs" / "study.yaml"):
        p = load(path)
        assert p.finetune.runs == {} and p.selftrain.runs == {} and p.train.init_from == "", path
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert raw["finetune"] == {"runs": {}} and raw["selftrain"] == {"runs": {}}, \
            f"{path}: dvc.yaml's foreach needs finetune.runs and selftrain.runs written out"


FT = {"init_from": "pretrained/gru-full.pt"}
ST = {"init_from": "models/mine/model.pt", "unlabeled": "scans.zip"}


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


@pytest.mark.parametrize("raw,name", [
    ({"finetune": {"run": {}}}, "finetune.run"),
    ({"finetune": {"runs": {"mine": {**FT, "stpes": 100}}}}, "finetune.runs.mine.stpes"),
    ({"finetune": {"runs": {"mine": {**FT, "threshold": 0.9}}}}, "finetune.runs.mine.threshold"),  # selftrain's
    ({"selftrain": {"runs": {"own": {**ST, "treshold": 0.9}}}}, "selftrain.runs.own.treshold"),
])
def test_unknown_adaptation_keys(raw, name):
    message = error_of(raw)
    assert "unknown" in message and name in message
