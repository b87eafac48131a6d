"""The whole pipeline (``dvc repro``) on its built-in default data: the synth stage's tiny
synthetic dataset in data/synth. Needs nothing beside the checkout."""

import pytest
from _support import TINY_PARAMS, check_pipeline_outputs, ran_stages

pytestmark = pytest.mark.slow

SIZES = TINY_PARAMS["synth"]["sizes"]  # train 40, validation 16, test 16


@pytest.fixture(scope="module")
def synth_pipeline(make_pipeline):
    pipeline = make_pipeline("synth", {})
    assert pipeline.params()["data"]["raw_dir"] == pipeline.params()["synth"]["out_dir"] == "data/synth"
    pipeline.result = pipeline.dvc("repro")
    return pipeline


def test_every_stage_ran_after_its_inputs(synth_pipeline):
    ran = ran_stages(synth_pipeline.result)
    trains = ["train@gru-first", "train@gru-full", "train@lstm-first", "train@lstm-full"]
    assert sorted(ran) == sorted(["synth", "unzip", "clean", "preprocess", *trains, "evaluate", "compare"]), ran
    at = ran.index
    assert at("synth") < at("unzip") < at("clean") < at("preprocess") < min(map(at, trains))
    assert at("train@gru-full") < at("evaluate")  # params rnn: gru
    assert max(map(at, trains)) < at("compare")


def test_outputs_and_metrics(synth_pipeline):
    repo = synth_pipeline.repo
    for split in SIZES:
        assert (repo / f"data/synth/{split}_v2.zip").is_file()
        assert (repo / f"data/synth/written_name_{split}_v2.csv").is_file()
    unzip = synth_pipeline.json("metrics/unzip.json")
    assert {s: unzip[s]["found"] for s in SIZES} == SIZES
    clean = synth_pipeline.json("metrics/clean.json")
    assert {s: clean[s]["kept"] for s in SIZES} == SIZES  # synthetic labels are clean
    # full asks for 48 training images, only 40 exist: the run uses 40 and says so
    check_pipeline_outputs(repo, test_rows=SIZES["test"], train_sizes={"first": 32, "full": SIZES["train"]},
                           validation_size=SIZES["validation"])
    output = synth_pipeline.result.stdout + synth_pipeline.result.stderr
    assert f"only {SIZES['train']} images exist" in output


def test_status_is_clean_after_the_run(synth_pipeline):
    status = synth_pipeline.dvc("status")
    assert "Data and pipelines are up to date" in status.stdout + status.stderr
