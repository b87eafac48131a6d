"""The finetune and selftrain stages: off by default, one stage per run once a run is written in
params.yaml, placed after their inputs by DVC; and their scripts run by hand on tiny data."""

import json
import sys

import pytest
import yaml
from _support import (
    TINY_PARAMS,
    copy_repo,
    default_rows,
    describe,
    error_lines,
    init_git_repo,
    jpeg_bytes,
    run,
    subprocess_env,
    tiny_model,
    tiny_store,
    write_params,
    write_split,
    write_zip,
)

FINETUNE = {"init_from": "pretrained/gru.pt", "steps": 2, "batch_size": 8, "synthetic": 4, "repeat": 2}
SELFTRAIN = {"init_from": "models/mine/model.pt", "unlabeled": "scans.zip", "steps": 1, "batch_size": 8,
             "threshold": 0.0}


def _stage_names(pipeline) -> list[str]:
    listed = pipeline.dvc("stage", "list", "--name-only").stdout
    return [line.strip() for line in listed.splitlines() if line.strip()]


def test_adaptation_stages_are_off_until_a_run_is_written(make_pipeline):
    pipeline = make_pipeline("adapt-dag", {})
    names = _stage_names(pipeline)
    assert "train@gru-full" in names and not any(n.startswith(("finetune", "selftrain")) for n in names), names
    pipeline.dvc("dag")  # an empty foreach is no stage, and no error
    params = pipeline.params()
    params["finetune"]["runs"] = {"mine": FINETUNE}
    params["selftrain"]["runs"] = {"own": SELFTRAIN}
    pipeline.set_params(params)
    names = _stage_names(pipeline)
    assert {"finetune@mine", "selftrain@own"} <= set(names), names
    dot = pipeline.dvc("dag", "--dot", "selftrain@own").stdout
    # the self-training starts from the fine-tuned model: DVC runs finetune@mine first
    assert '"finetune@mine" -> "selftrain@own"' in dot and '"preprocess" -> "finetune@mine"' in dot, dot


@pytest.fixture
def work(tmp_path):
    """stages/ and tiny params in a git repo (dvclive needs one), with the labelled stores, the
    synthetic split, a start model and a zip of unlabelled scans the stages read."""
    env = subprocess_env(tmp_path)
    work = copy_repo(tmp_path / "work", pipeline=False)
    write_params(work, {**TINY_PARAMS, "synth": {"out_dir": "data/synth"}, "train": {
        **TINY_PARAMS["train"], "eval_every": 0, "train_eval_size": 4},
        "evaluate": {**TINY_PARAMS["evaluate"], "decoder": "greedy"},  # no lexicon stage ran here
        "preprocess": {**TINY_PARAMS["preprocess"], "jobs": 1},
        "finetune": {"runs": {"mine": FINETUNE}}, "selftrain": {"runs": {"own": SELFTRAIN}}})
    for split, n in (("train", 10), ("validation", 4), ("test", 4)):
        tiny_store(work / "data" / "tensors" / split, n, len(split))
    write_split(work / "data" / "synth", "train", default_rows("train", 6))
    tiny_model(work / "pretrained" / "gru.pt", "gru", seed=1)
    write_zip(work / "scans.zip", {f"s/U{i}.jpg": jpeg_bytes(seed=i) for i in range(4)} | {"s/bad.jpg": b"junk"})
    init_git_repo(work, env)
    return work, env


def _stage(work, env, stage, *args):
    return run([sys.executable, f"stages/{stage}.py", *args], work, env, timeout=300)


def test_finetune_then_selftrain_by_hand(work):
    work, env = work
    result = _stage(work, env, "finetune", "mine")
    assert result.returncode == 0, describe(result)
    assert "finetune: mine: from pretrained/gru.pt, 24 training images" in result.stderr, describe(result)
    evaluation = json.loads((work / "metrics/finetune/mine/evaluation.json").read_text())
    assert (evaluation["run"], evaluation["labelled"], evaluation["repeat"], evaluation["synthetic"]) == \
        ("mine", 10, 2, 4)
    assert (work / "metrics/finetune/mine/summary.json").is_file() and (work / "models/mine/model.pt").is_file()
    assert (work / "metrics/finetune/mine/plots/metrics/validation/cer.tsv").is_file()  # dvclive curves
    assert (work / "eval/mine/predictions.csv").is_file() and not (work / "checkpoints/finetune/mine").exists()

    result = _stage(work, env, "selftrain", "own")
    assert result.returncode == 0, describe(result)
    assert "skipped bad.jpg" in result.stderr and "Traceback" not in result.stderr, describe(result)
    round_1 = json.loads((work / "metrics/selftrain/own/round-1.json").read_text())
    assert round_1["init_from"] == "models/mine/model.pt" and round_1["unlabeled"]["skipped"] == 1
    assert (work / "selftrain/own/round-1/pseudo-labels.csv").is_file() and (work / "models/own/model.pt").is_file()


def test_an_unknown_run_is_a_one_line_error(work):
    work, env = work
    result = _stage(work, env, "finetune", "theirs")
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1, describe(result)
    assert "'theirs'" in result.stderr and "mine" in result.stderr
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["finetune"]["runs"]["mine"]["init_from"] = "pretrained/missing.pt"
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    result = _stage(work, env, "finetune", "mine")
    assert result.returncode == 2 and "pretrained/missing.pt" in error_lines(result.stderr)[0], describe(result)
