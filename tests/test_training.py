import numpy as np
import pytest

import torch

from hwr.errors import HwrError
from hwr.model import CRNN, count_parameters
from hwr.params import SubsetParams, TrainParams
from hwr.training import Net, Plan, Trainer, fingerprint, lr_at, select


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


def test_constant_schedule():
    p = TrainParams(lr=0.001)
    assert {lr_at(step, 100, p) for step in range(100)} == {0.001}


def test_onecycle_schedule():
    p = TrainParams(lr=0.01, schedule="onecycle", warmup_fraction=0.1)
    lrs = [lr_at(step, 100, p) for step in range(100)]
    assert lrs[0] == pytest.approx(0.001) and lrs[9] == pytest.approx(0.01)  # linear warm-up over 10 steps
    assert max(lrs) == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # then decays
    assert lrs[-1] == pytest.approx(0.01 * 0.01, rel=0.05)  # to about 1 % of the peak


def test_fingerprint_changes_with_plan_params_and_data():
    idx = np.arange(10)
    plan, params = Plan("gru", "first", 10, 5), TrainParams(subsets={"first": SubsetParams(10, 5), "full": SubsetParams(20, 5)})
    base = fingerprint(plan, params, idx)
    assert base == fingerprint(Plan("gru", "first", 10, 5), params, np.arange(10))
    assert base != fingerprint(Plan("lstm", "first", 10, 5), params, idx)
    assert base != fingerprint(plan, TrainParams(lr=0.5, subsets=params.subsets), idx)
    assert base != fingerprint(plan, params, np.arange(1, 11))


def _batch():
    x = torch.randint(0, 256, (2, 64, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([[1, 2, 3, -1], [4, 5, -1, -1]])
    return x, y


def _grad_norm(module) -> float:
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.parameters()])).item()


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_trainer_step_clips_the_gradient_norm(clip):
    torch.manual_seed(0)
    trainer = Trainer("gru", TrainParams(clip=clip, precision="fp32"), torch.device("cpu"), None)
    trainer.step(*_batch(), lr=0.0)  # lr 0: the step leaves the weights, and grads to inspect
    norm = _grad_norm(trainer.net)
    if clip:
        assert norm == pytest.approx(clip, rel=1e-3)
    else:
        assert norm > 1e-2  # an untouched CTC gradient is far larger than the clip above


def test_aux_head_is_training_only():
    """The head adds its 64 x 30 + 30 parameters to what is optimised, not to the saved CRNN."""
    torch.manual_seed(0)
    with_head, without = Net("gru", aux=True), Net("gru", aux=False)
    assert count_parameters(with_head.crnn) == count_parameters(without.crnn) == 6_689_822
    assert count_parameters(with_head) - count_parameters(with_head.crnn) == 64 * 30 + 30
    assert without.aux is None and all(not k.startswith("aux") for k in with_head.crnn.state_dict())


def test_aux_loss_reaches_the_convolutions_only_through_its_weight():
    """With weight 0 the head's loss adds nothing to the CRNN's gradient; with weight 1 it adds to
    the convolutions' gradient but not to the recurrent layers' (the head reads the projection)."""
    grads = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        trainer = Trainer("gru", TrainParams(aux_weight=1.0, precision="fp32"), torch.device("cpu"), None)
        loss, aux_loss = trainer.step(*_batch(), lr=0.0, aux_weight=weight)
        assert loss.item() > 0 and aux_loss.item() > 0
        grads[weight] = {k: p.grad.clone() for k, p in trainer.model.named_parameters()}
    for name in grads[0.0]:
        same = torch.allclose(grads[0.0][name], grads[1.0][name])
        assert same == name.startswith(("rnn.", "classify.")), name


def test_step_without_head_returns_no_aux_loss():
    torch.manual_seed(0)
    trainer = Trainer("lstm", TrainParams(precision="fp32"), torch.device("cpu"), None)
    loss, aux_loss = trainer.step(*_batch(), lr=1e-3)
    assert aux_loss is None and torch.isfinite(loss)
    assert isinstance(trainer.model, CRNN) and trainer.net.aux is None


# ---------------------------------------------------------------- train.init_from

INIT_PARAMS = TrainParams(batch_size=8, lr=0.001, epochs=1, steps=1, precision="fp32", seed=0, eval_batch_size=16,
                          train_eval_size=8, aux_weight=1.0)


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
    from hwr.training import train

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


def _scripted_validation(monkeypatch, val_store, word_accuracies):
    """hwr.training.evaluate with the validation word accuracy of each evaluation in turn (the
    training sample's is real): the selection of the best weights, not the scoring, is under test."""
    import hwr.training as training

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
