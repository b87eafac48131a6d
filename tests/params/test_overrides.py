"""hwr.params.overrides: configs/study.yaml holds only the study's changes, as dvc exp run -S options."""

import dataclasses

import pytest
import yaml

from hwr.core.errors import HwrError
from hwr.core.layout import STUDY_RUNS
from hwr.params import Params, from_dict, load, override_arguments, overrides


def _study(repo_root) -> dict:
    return yaml.safe_load((repo_root / "configs" / "study.yaml").read_text(encoding="utf-8"))


def _dvc_set(repo_root, tmp_path, arguments: list[str]):
    """A copy of params.yaml changed by DVC's own code for ``dvc exp run -S ...`` arguments."""
    from dvc.utils.hydra import apply_overrides

    assert len(arguments) % 2 == 0 and arguments[::2] == ["-S"] * (len(arguments) // 2)
    target = tmp_path / "params.yaml"
    target.write_text((repo_root / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    apply_overrides(target, arguments[1::2])
    return target


def _project(repo_root) -> dict:
    return yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))


def test_the_study_overrides_are_only_changes(repo_root):
    """configs/study.yaml holds what the study changes, nothing params.yaml already says."""
    base = _project(repo_root)
    leaves = dict(overrides._leaves(_study(repo_root)))
    assert leaves
    for key, value in leaves.items():
        node = base
        for part in key.split("."):
            node = node[part]  # a key of params.yaml
        assert node != value, f"{key}: params.yaml has {value!r} already"


def test_the_study_overrides_give_the_study(repo_root, tmp_path):
    """`dvc exp run $(hwr overrides configs/study.yaml)` runs the study: the arguments, through DVC's
    own `-S` code, turn params.yaml into the study's params."""
    study = _study(repo_root)
    arguments = override_arguments(repo_root / "configs" / "study.yaml", repo_root / "params.yaml")
    assert not any(c.isspace() for a in arguments for c in a)  # $(...) splits at whitespace
    assert len(arguments) == 2 * len(list(overrides._leaves(study)))
    target = _dvc_set(repo_root, tmp_path, arguments)
    p = load(target)
    assert p == from_dict(overrides._deep_update(_project(repo_root), study))
    assert "# study: 128" in target.read_text(encoding="utf-8")  # params.yaml's comments stay
    t, e = p.train, p.evaluate
    # the study's set-up, as the overrides file writes it
    assert (t.batch_size, t.lr, t.schedule, t.aux_weight, t.clip, t.steps, t.epochs) == tuple(
        study["train"][k] for k in ("batch_size", "lr", "schedule", "aux_weight", "clip", "steps", "epochs"))
    assert e.decoder == study["evaluate"]["decoder"]
    for name in ("first", "full"):
        assert dataclasses.asdict(t.subsets[name]) == study["train"]["subsets"][name]
    # ... which is the study's: batch 128, Adam at a constant 0.001, no auxiliary head nor clipping, greedy
    assert (t.batch_size, t.lr, t.schedule, t.aux_weight, t.clip, e.decoder) == (128, 0.001, "constant", 0, 0, "greedy")
    assert (t.subsets["first"].train, t.subsets["first"].validation) == (64000, 6400)
    assert (t.subsets["full"].train, t.subsets["full"].validation) == (300800, 30080)
    # and everything it does not name is params.yaml's (the study's 256-px crop included)
    assert p.preprocess == Params().preprocess and p.clean == Params().clean and p.lexicon == Params().lexicon
    assert p.preprocess.width == t.width == 256
    assert p.finetune.runs == {} and p.selftrain.runs == {} and p.train.init_from == ""
    # the study's four runs only (the wide GRU removed with -S ~train.runs.gru-wide), read by its full GRU
    assert tuple(p.train.runs) == STUDY_RUNS and p.reader == "gru-full"
    assert "~train.runs.gru-wide" in arguments


def _overrides(tmp_path, text: str):
    path = tmp_path / "overrides.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _override_error(path, base) -> str:
    with pytest.raises(HwrError) as info:
        override_arguments(path, base)
    message = str(info.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize("text,key", [
    ("train:\n  batchsize: 128\n", "train.batchsize"),
    ("trian:\n  batch_size: 128\n", "trian"),
    ("train:\n  subsets:\n    frist: {train: 1, validation: 1}\n", "train.subsets.frist"),
    ("train:\n  subsets:\n    first: {train: 1, valid: 1}\n", "train.subsets.first.valid"),
    ("synth:\n  sizes: {dev: 3}\n", "synth.sizes.dev"),
    ("synth:\n  style_mix: {cursive: 1}\n", "synth.style_mix.cursive"),
    ("finetune:\n  runs:\n    mine: {init_from: a.pt, stpes: 3}\n", "finetune.runs.mine.stpes"),
    ("train: 5\n", "train"),
    ("train:\n", "train"),
])
def test_an_unknown_override_key_is_a_one_line_error(repo_root, tmp_path, text, key):
    message = _override_error(_overrides(tmp_path, text), repo_root / "params.yaml")
    assert key in message and "overrides.yaml" in message


@pytest.mark.parametrize("text,key", [
    ("train:\n  batch_size: 0\n", "train.batch_size"),
    ("evaluate:\n  decoder: viterbi\n", "evaluate.decoder"),
    ("train:\n  lr: 1e-4\n", "train.lr"),  # YAML reads 1e-4 as text
    ("finetune:\n  runs:\n    gru-full: {init_from: a.pt}\n", "gru-full"),
    ("train:\n  init_from: my model.pt\n", "train.init_from"),  # the shell would split it
    ("[1, 2]\n", "overrides.yaml"),
])
def test_overrides_that_give_impossible_params_are_one_line_errors(repo_root, tmp_path, text, key):
    assert key in _override_error(_overrides(tmp_path, text), repo_root / "params.yaml")


def test_a_run_set_to_null_is_removed_and_a_study_run_cannot_be(repo_root, tmp_path):
    base = repo_root / "params.yaml"
    assert override_arguments(_overrides(tmp_path, "reader: gru-full\ntrain:\n  runs:\n    gru-wide: null\n"), base) \
        == ["-S", "reader=gru-full", "-S", "~train.runs.gru-wide"]
    # a run params.yaml does not have: nothing to remove
    assert override_arguments(_overrides(tmp_path, "train:\n  runs:\n    lstm-wide: null\n"), base) == []
    assert "train.runs.gru-first is missing" in _override_error(
        _overrides(tmp_path, "train:\n  runs:\n    gru-first: null\n"), base)
    # the reader must be a run that is left
    assert "reader" in _override_error(_overrides(tmp_path, "train:\n  runs:\n    gru-wide: null\n"), base)


def test_overrides_missing_or_empty(repo_root, tmp_path):
    assert "not found" in _override_error(tmp_path / "absent.yaml", repo_root / "params.yaml")
    assert override_arguments(_overrides(tmp_path, "# nothing\n"), repo_root / "params.yaml") == []


def test_overrides_add_runs_and_quote_strings(repo_root, tmp_path):
    """A key params.yaml lacks (a new run's) is added (+key); strings that would read as another
    type, or hold Hydra's special characters, are quoted so that they read back as written."""
    text = yaml.safe_dump({
        "data": {"raw_dir": "it's/a\\dir\\", "zip_name": "{split}.zip", "csv_name": "1e3_{split}.csv"},
        "clean": {"drop_labels": ["UNREADABLE", "128", "true", "NULL", "a,b", "inf", "${x}"]},
        "lexicon": {"extra": "${x}/names.csv"},
        "finetune": {"runs": {"gru-mine": {"init_from": "pretrained/gru-full.pt", "lr": 0.0001, "augment": True}}},
    })
    arguments = override_arguments(_overrides(tmp_path, text), repo_root / "params.yaml")
    assert "+finetune.runs.gru-mine.init_from=pretrained/gru-full.pt" in arguments
    assert "data.raw_dir='it\\'s/a\\dir\\\\'" in arguments
    target = _dvc_set(repo_root, tmp_path, arguments)
    assert yaml.safe_load(target.read_text(encoding="utf-8")) == \
        overrides._deep_update(_project(repo_root), yaml.safe_load(text))


def test_the_project_files_have_no_adaptation_runs(repo_root):
    path = repo_root / "params.yaml"
    p = load(path)
    assert p.finetune.runs == {} and p.selftrain.runs == {} and p.train.init_from == "", path
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert raw["finetune"] == {"runs": {}} and raw["selftrain"] == {"runs": {}}, \
        f"{path}: dvc.yaml's foreach needs finetune.runs and selftrain.runs written out"
    study = _study(repo_root)  # nor does the study add any
    assert "finetune" not in study and "selftrain" not in study and "init_from" not in study["train"]
