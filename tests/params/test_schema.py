"""hwr.params.schema: the defaults are params.yaml's, the groups typed."""


import pytest
import yaml

from hwr import params
from hwr.params import Params, from_dict, load


def test_defaults_and_typed_groups():
    p = from_dict({})
    assert p == Params()
    p = from_dict({"rnn": "lstm", "clean": {"drop_labels": ["UNREADABLE", "ILLISIBLE"]},
                   "train": {"subsets": {"first": {"train": 32, "validation": 16}, "full": {"train": 48, "validation": 16}}}})
    assert p.rnn == "lstm"
    assert p.clean.drop_labels == ("UNREADABLE", "ILLISIBLE")
    assert p.train.subsets["full"].train == 48 and p.train.subsets["first"].validation == 16


def test_the_dataclass_defaults_are_params_yaml(repo_root):
    """One set of defaults: the dataclasses' are params.yaml's, key for key (the study's values live
    in configs/study.yaml only)."""
    raw = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    assert from_dict(raw) == Params()
    assert load(repo_root / "params.yaml") == Params()


def _commented_runs(text: str, group: str) -> dict:
    """The example ``runs`` commented out under ``group:`` in params.yaml, parsed."""
    lines = text.splitlines()
    start = lines.index(f"{group}:") + 1
    block = []
    for line in lines[start:]:
        if line and not line.startswith(" "):
            break  # the next group (or a top-level comment)
        if line.startswith("  # "):
            block.append(line[len("  # "):])
    return yaml.safe_load("\n".join(block))["runs"]


@pytest.mark.parametrize("group,run_class,required", [
    ("finetune", params.FinetuneRun, {"init_from"}),
    ("selftrain", params.SelftrainRun, {"init_from", "unlabeled"}),
])
def test_the_commented_example_runs_give_the_defaults(repo_root, group, run_class, required):
    """params.yaml's commented example run documents each key's default: they are the dataclass's."""
    runs = _commented_runs((repo_root / "params.yaml").read_text(encoding="utf-8"), group)
    assert len(runs) == 1
    (name, example), = runs.items()
    defaults = run_class()
    assert required <= set(example)
    for key, value in example.items():
        if key not in required:
            assert getattr(defaults, key) == value, f"{group}.runs.{name}.{key}"
    # uncommented, the example is a valid run
    p = from_dict({group: {"runs": runs}})
    assert getattr(p, group).runs[name] == run_class(**example)


# ---------------------------------------------------------------- overrides files: configs/study.yaml

def test_the_pixel_ceiling_is_pillows_own_limit():
    """Pillow refuses images over twice its limit before hwr's limit is looked at: hwr's may not be
    higher, so that one limit holds for every decoder."""
    from PIL import Image

    assert params.MAX_PIXELS_CEILING == Image.MAX_IMAGE_PIXELS
    assert from_dict({"preprocess": {"max_pixels": params.MAX_PIXELS_CEILING}}).preprocess.max_pixels == \
        params.MAX_PIXELS_CEILING


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
