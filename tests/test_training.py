import numpy as np
import pytest

from hwr.params import SubsetParams, TrainParams
import torch

from hwr.inference import ctc_loss_fn
from hwr.model import CRNN
from hwr.training import Plan, fingerprint, lr_at, select, train_step


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


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_train_step_clips_the_gradient_norm(clip):
    torch.manual_seed(0)
    model = CRNN("gru")
    optimiser = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the step leaves grads to inspect
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    x = torch.randint(0, 256, (2, 64, 256), dtype=torch.uint8)
    y = torch.tensor([[1, 2, 3, -1], [4, 5, -1, -1]])
    train_step(model, optimiser, scaler, ctc_loss_fn(), x, y, torch.device("cpu"), None, clip)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()
    if clip:
        assert norm == pytest.approx(clip, rel=1e-3)
    else:
        assert norm > 1e-2  # an untouched CTC gradient is far larger than the clip above
