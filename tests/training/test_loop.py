"""hwr.training.loop: a run's fingerprint, and train() started from a trained model (train.init_from)."""

import re

import numpy as np
import pytest
import torch

from hwr.core.errors import HwrError
from hwr.data.store import select
from hwr.model.crnn import CRNN
from hwr.params import SubsetParams, TrainParams
from hwr.training.loop import Plan, fingerprint


def test_select_is_seeded_sorted_and_nested():
    first, full = select(1000, 64, seed=0), select(1000, 300, seed=0)
    assert len(first) == 64 and len(full) == 300
    assert (np.diff(first) > 0).all()
    assert set(first) <= set(full)  # 'first' is a part of 'full', as in the study
    np.testing.assert_array_equal(select(1000, 64, seed=0), first)
    assert not np.array_equal(select(1000, 64, seed=1), first)


def test_select_caps_to_what_exists():
    np.testing.assert_array_equal(select(10, 48, seed=0), np.arange(10))
    assert len(select(0, 5, seed=0)) == 0


def test_fingerprint_changes_with_plan_params_and_data():
    idx = np.arange(10)
    plan, params = Plan("gru", "first", 10, 5), TrainParams(subsets={"first": SubsetParams(10, 5), "full": SubsetParams(20, 5)})
    base = fingerprint(plan, params, idx)
    assert base == fingerprint(Plan("gru", "first", 10, 5), params, np.arange(10))
    assert base != fingerprint(Plan("lstm", "first", 10, 5), params, idx)
    assert base != fingerprint(plan, TrainParams(lr=0.5, subsets=params.subsets), idx)
    assert base != fingerprint(plan, params, np.arange(1, 11))


# ---------------------------------------------------------------- train.init_from

INIT_PARAMS = TrainParams(batch_size=8, lr=0.001, schedule="constant", clip=0.0, epochs=1, steps=1, eval_every=0,
                          precision="fp32", seed=0, eval_batch_size=16, train_eval_size=8, aux_weight=1.0)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """Two tiny stores, a start model (GRU) and one torch thread."""
    import _support

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield (tmp_path, _support.tiny_store(tmp_path / "train", 8, 1), _support.tiny_store(tmp_path / "validation", 8, 2),
           _support.tiny_model(tmp_path / "start.pt", "gru", seed=7))
    torch.set_num_threads(threads)


def _train_from(tmp_path, stores, params, name="run"):
    from hwr.training.loop import train

    out = tmp_path / name
    summary = train(Plan("gru", "first", 8, 8), params, *stores, model_path=out / "model.pt",
                    checkpoint_path=out / "checkpoint.pt", live_dir=None, summary_path=out / "summary.json")
    return summary, torch.load(out / "model.pt", weights_only=True)["state_dict"]


def _parameters_equal(a: dict, b: dict, names) -> bool:
    return all(torch.equal(a[k], b[k]) for k in names)


def test_init_from_starts_from_the_models_weights(tiny):
    """With a learning rate of 0, one step leaves the weights where they start: the saved model's
    parameters are the start model's exactly (batch-norm running statistics do move); from scratch
    they are not."""
    import dataclasses

    tmp_path, train_store, val_store, start = tiny
    start_weights = torch.load(start, weights_only=True)["state_dict"]
    names = [k for k, _ in CRNN("gru").named_parameters()]
    frozen = dataclasses.replace(INIT_PARAMS, lr=0.0, schedule="constant", init_from=str(start))
    summary, weights = _train_from(tmp_path, (train_store, val_store), frozen, "frozen")
    assert summary["init_from"] == str(start)
    assert _parameters_equal(weights, start_weights, names)
    _, scratch = _train_from(tmp_path, (train_store, val_store), dataclasses.replace(frozen, init_from=""), "scratch")
    assert not _parameters_equal(scratch, start_weights, names)


def test_a_wider_run_trains_on_the_whole_crop_and_a_narrower_store_is_a_one_line_error(tiny, tmp_path):
    """A 384-px run reads all of a 384-px store and its model says so; on the study's 256-px store
    it stops at once, naming the store and the param to raise."""
    import dataclasses

    import _support

    from hwr.model.checkpoints import load_model

    _, train_store, val_store, _ = tiny
    wide_stores = (_support.tiny_store(tmp_path / "wide-train", 8, 1, width=384),
                   _support.tiny_store(tmp_path / "wide-validation", 8, 2, width=384))
    params = dataclasses.replace(INIT_PARAMS, width=384)
    summary, _ = _train_from(tmp_path, wide_stores, params, "wide")
    model, config = load_model(tmp_path / "wide" / "model.pt")
    assert summary["width"] == config["width"] == model.width == 384
    with pytest.raises(HwrError,
                       match=r"train: its crops are 256 px wide, .* reads 384; set preprocess\.width") as info:
        _train_from(tmp_path, (train_store, val_store), params, "narrow")
    assert "\n" not in str(info.value)


def _scripted_validation(monkeypatch, val_store, word_accuracies):
    """hwr.training.loop.evaluate with the validation word accuracy of each evaluation in turn (the
    training sample's is real): the selection of the best weights, not the scoring, is under test."""
    import hwr.training.loop as training

    real, scores = training.evaluate, iter(word_accuracies)

    def scripted(model, store, *args):
        metrics = real(model, store, *args)
        return {**metrics, "word_accuracy": next(scores), "cer": 0.5} if store is val_store else metrics

    monkeypatch.setattr(training, "evaluate", scripted)


def _finetune_scored(tiny, monkeypatch, word_accuracies):
    """Two steps from the start model, evaluated at steps 0, 1 and 2 with the given validation
    scores: the summary, the written weights and the start model's."""
    import dataclasses

    tmp_path, train_store, val_store, start = tiny
    _scripted_validation(monkeypatch, val_store, word_accuracies)
    params = dataclasses.replace(INIT_PARAMS, steps=2, eval_every=1, init_from=str(start))
    summary, weights = _train_from(tmp_path, (train_store, val_store), params)
    return summary, weights, torch.load(start, weights_only=True)["state_dict"]


def test_a_start_model_no_step_improves_on_is_the_model_written(tiny, monkeypatch, caplog):
    """With init_from the start model is evaluated at step 0; when no later evaluation beats it on
    validation, the written model is the start model, weights and batch-norm statistics alike, and
    a warning says so."""
    summary, weights, start_weights = _finetune_scored(tiny, monkeypatch, [0.5, 0.25, 0.25])
    assert summary["best_step"] == 0
    assert all(torch.equal(weights[k], start_weights[k]) for k in start_weights)
    assert "the model written is the start model" in caplog.text


def test_a_step_that_beats_the_start_model_is_kept(tiny, monkeypatch):
    summary, tuned, start_weights = _finetune_scored(tiny, monkeypatch, [0.25, 0.5, 0.25])
    assert summary["best_step"] == 1
    names = [k for k, _ in CRNN("gru").named_parameters()]
    moved = [k for k in names if not torch.equal(tuned[k], start_weights[k])]
    assert moved and all(torch.allclose(tuned[k], start_weights[k], atol=0.01) for k in names)  # one small step away


def test_init_from_a_model_of_another_rnn_is_a_one_line_error(tiny):
    import dataclasses

    import _support

    tmp_path, train_store, val_store, _ = tiny
    lstm = _support.tiny_model(tmp_path / "pretrained" / "x.pt", "lstm")
    with pytest.raises(HwrError) as info:
        _train_from(tmp_path, (train_store, val_store), dataclasses.replace(INIT_PARAMS, init_from=str(lstm)))
    message = str(info.value)
    assert "\n" not in message and f"{lstm} is an lstm model; this run trains a gru" in message
    assert not (tmp_path / "run" / "model.pt").exists()


def test_init_from_a_missing_file_is_a_one_line_error_naming_it(tiny):
    import dataclasses

    tmp_path, train_store, val_store, _ = tiny
    missing = tmp_path / "pretrained" / "gone.pt"
    with pytest.raises(HwrError) as info:
        _train_from(tmp_path, (train_store, val_store), dataclasses.replace(INIT_PARAMS, init_from=str(missing)))
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


def test_fingerprint_changes_with_the_start_model():
    """A checkpoint resumes only a run from the same start: its path (in the params) and its bytes."""
    idx = np.arange(10)
    plan = Plan("gru", "first", 10, 5)
    params = TrainParams(init_from="pretrained/a.pt")
    base = fingerprint(plan, params, idx, "digest-1")
    assert base == fingerprint(plan, params, idx, "digest-1")
    assert base != fingerprint(plan, params, idx, "digest-2")
    assert base != fingerprint(plan, TrainParams(init_from="pretrained/b.pt"), idx, "digest-1")


def test_a_diverging_run_stops_at_once_naming_the_step_and_writes_no_model(tiny):
    """A learning rate far too high makes the loss non-finite within a few steps: training stops
    there with one line naming the step and the params to change, and no model is written."""
    import dataclasses

    tmp_path, train_store, val_store, _ = tiny
    wild = dataclasses.replace(INIT_PARAMS, lr=1e9, steps=20)
    with pytest.raises(HwrError, match=r"train: gru-first: the loss is nan at step \d+ of 20: training diverged; "
                                       r"lower train.lr \(now 1e\+09\) or set train.clip") as info:
        _train_from(tmp_path, (train_store, val_store), wild, "wild")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "wild" / "model.pt").exists()


def test_each_evaluation_line_says_how_far_and_how_long(tiny, caplog):
    """Logs (dvc repro in CI, a file) have no progress bar: each evaluation line says the step of
    how many, the time so far and the time left at the pace so far."""
    import dataclasses
    import logging

    tmp_path, train_store, val_store, _ = tiny
    with caplog.at_level(logging.INFO, logger="hwr"):
        _train_from(tmp_path, (train_store, val_store), dataclasses.replace(INIT_PARAMS, steps=2, eval_every=1), "eta")
    lines = [r.getMessage() for r in caplog.records if "validation word accuracy" in r.getMessage()]
    assert re.match(r"step 1/2: .* \(\d+:\d\d elapsed, about \d+:\d\d left\)$", lines[0]), lines
    assert re.match(r"step 2/2: .* \(\d+:\d\d elapsed\)$", lines[-1]), lines


def test_time_left_reads_as_a_clock():
    from hwr.training.loop import _time_left

    assert _time_left(90, 10, 30) == "1:30 elapsed, about 4:30 left"
    assert _time_left(3725, 1, 0) == "1:02:05 elapsed"
