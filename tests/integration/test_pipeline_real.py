"""The whole pipeline (``dvc repro``) on the shared real sample (1,000 Kaggle images, 700/150/150).
What every run leaves is checked in test_pipeline_outputs.py."""

import json

import pytest
from _support import RUNS, ran_stages

pytestmark = pytest.mark.slow


def test_counts_match_the_samples_known_figures(real_pipeline):
    unzip = real_pipeline.json("metrics/unzip.json")
    assert {s: unzip[s]["found"] for s in unzip} == {"train": 700, "validation": 150, "test": 150}
    assert all(unzip[s]["missing_images"] == 0 and unzip[s]["unlisted_images"] == 0 for s in unzip)
    clean = real_pipeline.json("metrics/clean.json")
    assert clean["train"]["rows"] == 700 and clean["train"]["kept"] == 696
    assert clean["train"]["dropped"] == {"missing": 1, "placeholder": 1, "empty": 2, "unknown_characters": 0,
                                         "too_long": 0}
    assert clean["validation"]["kept"] == 150
    assert clean["test"]["kept"] == 149 and clean["test"]["dropped"]["empty"] == 1
    preprocess = real_pipeline.json("metrics/preprocess.json")
    assert preprocess["resize"] == "crop"
    assert {s: preprocess[s]["written"] for s in ("train", "validation", "test")} == {"train": 696, "validation": 150,
                                                                                     "test": 149}
    assert all(sum(preprocess[s]["skipped"].values()) == 0 for s in ("train", "validation", "test"))


def test_second_repro_runs_nothing(real_pipeline):
    result = real_pipeline.dvc("repro")
    assert ran_stages(result) == []
    assert "Data and pipelines are up to date" in result.stdout + result.stderr
    assert "didn't change, skipping" in result.stdout + result.stderr


def test_every_stage_ran(real_pipeline):
    ran = ran_stages(real_pipeline.result)
    assert sorted(ran) == sorted(["check_params", "synth", "unzip", "clean", "lexicon", "preprocess", "plots_page",
                                  *[f"train@{r}" for r in RUNS], *[f"evaluate@{r}" for r in RUNS], "compare"]), ran


def test_switching_rnn_reruns_only_compare(real_pipeline):
    original = real_pipeline.params()
    assert original["rnn"] == "gru"
    changed = dict(original, rnn="lstm")
    real_pipeline.set_params(changed)
    status = real_pipeline.dvc("status", "--json")
    # check_params re-checks params.yaml whenever it changes (seconds); its output, and so what
    # comes after it, stays as it was
    assert set(json.loads(status.stdout)) == {"check_params", "compare"}, status.stdout
    real_pipeline.set_params(original)

    result = real_pipeline.dvc("exp", "run", "-S", "rnn=lstm")
    assert ran_stages(result) == ["check_params", "compare"], result.stdout
    assert real_pipeline.params()["rnn"] == "lstm"  # the experiment is applied to the workspace
    metrics = real_pipeline.json("metrics/metrics.json")
    assert metrics["rnn"] == "lstm" and metrics["samples"] == 149

    diff = json.loads(real_pipeline.dvc("metrics", "diff", "--json").stdout)
    assert "metrics/metrics.json" in diff, diff
    assert diff["metrics/metrics.json"]["rnn"] == {"old": "gru", "new": "lstm"}
    assert "loss" in diff["metrics/metrics.json"]  # a different model: at least its test loss differs
    assert json.loads((real_pipeline.repo / "metrics/comparison.json").read_text())["product"] == "lstm-full"
