"""The whole pipeline (``dvc repro``) on its built-in default data: the synth stage's tiny
synthetic dataset in data/synth. Needs nothing beside the checkout. What every run leaves is
checked in test_pipeline_outputs.py."""

import pytest
from _support import RUNS, TINY_PARAMS, ran_stages

pytestmark = pytest.mark.slow

SYNTH_SIZES = TINY_PARAMS["synth"]["sizes"]  # train 40, validation 16, test 16


def test_every_stage_ran_after_its_inputs(synth_pipeline):
    ran = ran_stages(synth_pipeline.result)
    trains, evaluations = [f"train@{run}" for run in RUNS], [f"evaluate@{run}" for run in RUNS]
    assert sorted(ran) == sorted(["check_params", "synth", "unzip", "clean", "lexicon", "preprocess", *trains,
                                  *evaluations, "compare", "plots_page"]), ran
    at = ran.index
    assert at("check_params") < at("plots_page")
    assert at("check_params") < at("synth") < at("unzip") < at("clean") < at("preprocess") < min(map(at, trains))
    assert at("clean") < at("lexicon") < min(map(at, evaluations))
    assert all(at(f"train@{run}") < at(f"evaluate@{run}") for run in RUNS)
    assert max(map(at, evaluations)) < at("compare")


def test_the_synthetic_data_is_generated_and_clean(synth_pipeline):
    for split in SYNTH_SIZES:
        assert (synth_pipeline.repo / f"data/synth/{split}_v2.zip").is_file()
        assert (synth_pipeline.repo / f"data/synth/written_name_{split}_v2.csv").is_file()
    unzip = synth_pipeline.json("metrics/unzip.json")
    assert {s: unzip[s]["found"] for s in SYNTH_SIZES} == SYNTH_SIZES
    clean = synth_pipeline.json("metrics/clean.json")
    assert {s: clean[s]["kept"] for s in SYNTH_SIZES} == SYNTH_SIZES  # synthetic labels are clean
    output = synth_pipeline.result.stdout + synth_pipeline.result.stderr
    assert f"only {SYNTH_SIZES['train']} images exist" in output  # full asks for 48 of 40


def test_status_is_clean_after_the_run(synth_pipeline):
    status = synth_pipeline.dvc("status")
    assert "Data and pipelines are up to date" in status.stdout + status.stderr
