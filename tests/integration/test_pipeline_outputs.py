"""What every finished ``dvc repro`` leaves, checked against the data it ran on: once on the
built-in synthetic data, once on the shared real sample."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from _support import RUNS, STUDY_RUNS, TINY_PARAMS, TINY_WIDE_STEPS, TINY_WIDE_WIDTH

from hwr.data.store import open_store
from hwr.evaluation.metrics import summarise
from hwr.model.checkpoints import load_model
from hwr.model.crnn import count_parameters
from hwr.params.schema import default_train_runs

pytestmark = pytest.mark.slow


def _json(pipeline, path: str):
    return json.loads((pipeline.repo / path).read_text(encoding="utf-8"))


@pytest.mark.parametrize("run", RUNS)
def test_each_model_is_trained_on_its_subset(pipeline, run):
    spec = default_train_runs()[run]
    rnn, subset, cnn = spec.rnn, spec.subset, spec.cnn or "study"
    summary = _json(pipeline, f"metrics/train/{run}/summary.json")
    assert (summary["rnn"], summary["subset"], summary["cnn"]) == (rnn, subset, cnn)
    assert summary["train_images"] == pipeline.expected["train_sizes"][subset]
    assert summary["validation_images"] == pipeline.expected["validation_size"]
    assert summary["best_step"] <= summary["steps"]
    batches = -(-summary["train_images"] // TINY_PARAMS["train"]["batch_size"])  # one epoch
    assert summary["steps"] == (TINY_WIDE_STEPS if run == "gru-wide" else batches)  # its own budget, or train's
    model, config = load_model(pipeline.repo / f"models/{run}/model.pt")
    assert (config["rnn"], config["subset"], model.cnn_type) == (rnn, subset, cnn)
    # the study's four read the left 256 columns of the wider store, the wide GRU all of them
    assert model.width == summary["width"] == (TINY_WIDE_WIDTH if run == "gru-wide" else 256)
    assert open_store(pipeline.repo / "data/tensors/train").images.shape[2] == TINY_WIDE_WIDTH
    assert count_parameters(model) == summary["parameters"] == {("gru", "study"): 6_689_822, ("lstm", "study"): 8_856_606,
                                                                ("gru", "wide"): 3_211_166}[rnn, cnn]


@pytest.mark.parametrize("run", RUNS)
def test_each_evaluation_agrees_with_its_predictions(pipeline, run):
    test_store = open_store(pipeline.repo / "data/tensors/test")
    assert len(test_store) == pipeline.expected["test_rows"]
    metrics = _json(pipeline, f"metrics/eval/{run}.json")
    assert (metrics["run"], metrics["split"], metrics["samples"]) == (run, "test", len(test_store))
    predictions = pd.read_csv(pipeline.repo / f"eval/{run}/predictions.csv", dtype=str, keep_default_na=False)
    assert predictions["FILENAME"].tolist() == test_store.filenames
    assert predictions["IDENTITY"].tolist() == test_store.texts
    recomputed = summarise(predictions["IDENTITY"].tolist(), predictions["PREDICTION"].tolist())
    for key in ("word_accuracy", "letter_accuracy", "cer"):
        assert metrics[key] == pytest.approx(recomputed[key]), key
    confusions = metrics["top_confusions"]
    assert len(confusions) <= 10 and all(c["true"] != c["predicted"] and c["count"] >= 1 for c in confusions)
    pairs = pd.read_csv(pipeline.repo / f"eval/{run}/confusion.csv", dtype=str, keep_default_na=False)
    assert pairs.columns.tolist() == ["actual", "predicted"]
    decoder = pipeline.params()["evaluate"]["decoder"]
    assert metrics["decoder"] == decoder and set(metrics["decoders"]) == {"greedy", decoder}
    assert metrics["word_accuracy"] == metrics["decoders"][decoder]["word_accuracy"]
    confidence = pd.to_numeric(predictions["confidence"])
    assert confidence.between(0, 1).all() and metrics["ece"] is not None  # calibrated on validation
    coverage = pd.read_csv(pipeline.repo / f"eval/{run}/coverage.csv")
    assert coverage["word_accuracy"].iloc[-1] == pytest.approx(metrics["word_accuracy"], abs=1e-4)
    assert coverage["greedy_word_accuracy"].iloc[-1] == pytest.approx(
        metrics["decoders"]["greedy"]["word_accuracy"], abs=1e-4)
    calibration = _json(pipeline, f"eval/{run}/calibration.json")
    assert calibration["decoder"] == decoder and len(calibration["x"]) == len(calibration["y"])


def test_the_lexicon_is_built_from_the_training_labels_and_the_sources(pipeline):
    """The training labels' names and those of lexicon.sources (the synthetic run reads the default,
    names-dataset:FR; the real-sample run none); the default extra file is empty."""
    stats = _json(pipeline, "metrics/lexicon.json")
    train = pd.read_csv(pipeline.repo / "data/clean/train.csv", dtype=str, keep_default_na=False)
    assert stats["train_labels"] == len(train) and stats["train_names"] == train["IDENTITY"].nunique()
    assert set(stats["sources"]) == set(pipeline.params()["lexicon"]["sources"])
    sourced = sum(source["names"] for source in stats["sources"].values())
    assert stats["extra_names"] == 0 and stats["train_names"] <= stats["names"] <= stats["train_names"] + sourced
    assert not sourced or stats["names"] >= sourced > 10_000  # the union holds every sourced name
    assert 0 <= stats["validation_oov_rate"] <= 1


def test_the_comparison_is_read_from_the_evaluations(pipeline):
    # the model `rnn` names (gru by default; test_pipeline_real's `dvc exp run -S rnn=lstm` leaves lstm)
    rnn = pipeline.params()["rnn"]
    product = f"{rnn}-full"
    table = _json(pipeline, "metrics/comparison.json")
    assert sorted(table["runs"]) == sorted(RUNS) and table["product"] == product
    for run in RUNS:
        evaluation = _json(pipeline, f"metrics/eval/{run}.json")
        assert table["runs"][run]["test_word_accuracy"] == evaluation["word_accuracy"]
        assert table["runs"][run]["test_cer"] == evaluation["cer"]
    runs = _json(pipeline, "metrics/runs.json")
    assert {run: runs[run]["test_word_accuracy"] for run in RUNS} == {
        run: table["runs"][run]["test_word_accuracy"] for run in RUNS}
    listed = yaml.safe_load((pipeline.repo / "dvc.yaml").read_text())["stages"]["compare"]["metrics"]
    assert [next(iter(m)) for m in listed] == ["metrics/runs.json", "metrics/metrics.json"]  # bookkeeping is not
    headline = _json(pipeline, "metrics/metrics.json")
    assert headline["rnn"] == rnn and headline["word_accuracy"] == table["runs"][product]["test_word_accuracy"]
    evaluation = _json(pipeline, f"metrics/eval/{product}.json")
    assert headline["decoder"] == evaluation["decoder"]
    assert headline["greedy_word_accuracy"] == evaluation["decoders"]["greedy"]["word_accuracy"]
    markdown = (pipeline.repo / "metrics/comparison.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("|"))
    assert all(f"{run} (ours)" in header and f"{run} (study)" in header for run in STUDY_RUNS)
    assert "gru-wide (ours, wide network)" in header and "gru-wide (study)" not in header


def test_the_plots_dvc_yaml_draws_have_data_by_step(pipeline):
    for plot in yaml.safe_load((pipeline.repo / "dvc.yaml").read_text())["plots"]:
        for spec in plot.values():
            for path in spec["y"]:
                data = pipeline.repo / path
                assert data.is_file(), f"plot data {path} missing"
                if spec["x"] == "step":  # one row per evaluation: at least one per epoch
                    assert len(data.read_text().splitlines()) >= 2, path


def test_the_figures_the_readme_lists_exist(pipeline):
    figures = pipeline.repo / "metrics" / "figures"
    for name in ("learning_curves.png", "confusion.png", "coverage.png"):
        assert (figures / name).read_bytes().startswith(b"\x89PNG"), name
    assert "figures/coverage.png" in (pipeline.repo / "metrics" / "comparison.md").read_text()


def test_dvc_plots_show_writes_a_page_that_needs_no_internet(synth_pipeline, tmp_path):
    """DVC's own page loads Vega from a CDN: blank offline. The project's template (plots_page stage,
    .dvc/config) carries it inline; Chromium, with every request off the page refused, draws the plots."""
    out = tmp_path / "plots"
    synth_pipeline.dvc("plots", "show", "-o", str(out))
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "cdn.jsdelivr" not in page and "<script src=" not in page and "window.vegaEmbed" in page
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    import shutil as _shutil

    chromium = _shutil.which("chromium") or _shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context()
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
                          else route.abort())
            view = context.new_page()
            view.goto((out / "index.html").as_uri())
            view.wait_for_selector("svg, canvas", timeout=20_000)
            assert view.locator("svg, canvas").count() >= 4  # the curves, the coverage, the confusions
        finally:
            browser.close()


def test_no_checkpoint_is_left(pipeline):
    checkpoints = pipeline.repo / "checkpoints"
    assert not checkpoints.exists() or not any(checkpoints.iterdir())
