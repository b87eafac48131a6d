"""hwr.training.trainer: the learning-rate schedules, the auxiliary head and one optimiser step."""

import pytest
import torch

from hwr.model.crnn import CRNN, count_parameters
from hwr.params import TrainParams
from hwr.training.trainer import Net, Trainer, lr_at


def test_constant_schedule():
    p = TrainParams(lr=0.001, schedule="constant")
    assert {lr_at(step, 100, p) for step in range(100)} == {0.001}


def test_onecycle_schedule():
    p = TrainParams(lr=0.01, schedule="onecycle", warmup_fraction=0.1)
    lrs = [lr_at(step, 100, p) for step in range(100)]
    assert lrs[0] == pytest.approx(0.001) and lrs[9] == pytest.approx(0.01)  # linear warm-up over 10 steps
    assert max(lrs) == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))  # then decays
    assert lrs[-1] == pytest.approx(0.01 * 0.01, rel=0.05)  # to about 1 % of the peak


def _batch():
    x = torch.randint(0, 256, (2, 64, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([[1, 2, 3, -1], [4, 5, -1, -1]])
    return x, y


def _grad_norm(module) -> float:
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.parameters()])).item()


@pytest.mark.parametrize("clip", [0.0, 1e-3])
def test_trainer_step_clips_the_gradient_norm(clip):
    torch.manual_seed(0)
    trainer = Trainer("gru", TrainParams(clip=clip, aux_weight=0.0, precision="fp32"), torch.device("cpu"), None)
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
        trainer = Trainer("gru", TrainParams(aux_weight=1.0, clip=0.0, precision="fp32"), torch.device("cpu"), None)
        loss, aux_loss = trainer.step(*_batch(), lr=0.0, aux_weight=weight)
        assert loss.item() > 0 and aux_loss.item() > 0
        grads[weight] = {k: p.grad.clone() for k, p in trainer.model.named_parameters()}
    for name in grads[0.0]:
        same = torch.allclose(grads[0.0][name], grads[1.0][name])
        assert same == name.startswith(("rnn.", "classify.")), name


def test_step_without_head_returns_no_aux_loss():
    torch.manual_seed(0)
    trainer = Trainer("lstm", TrainParams(aux_weight=0.0, clip=0.0, precision="fp32"), torch.device("cpu"), None)
    loss, aux_loss = trainer.step(*_batch(), lr=1e-3)
    assert aux_loss is None and torch.isfinite(loss)
    assert isinstance(trainer.model, CRNN) and trainer.net.aux is None
