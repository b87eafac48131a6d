"""Device, precision and process-group choices (hwr.model.runtime), and the CTC loss's device."""

from __future__ import annotations

import pytest
import torch

from hwr.core.alphabet import BLANK
from hwr.model import runtime
from hwr.model.ctc import ctc_loss, ctc_loss_fn


def test_a_plain_run_uses_a_gpu_when_present(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ddp = runtime.setup_distributed()  # not started by torchrun: no process group
    assert ddp.world == 1 and ddp.master
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.pick_device(ddp).type == expected


@pytest.fixture
def torchrun_env(monkeypatch):
    """Rank 1 of 2 processes on one machine; process-group calls are recorded, not made."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    calls = {"backend": None, "set_device": None}
    monkeypatch.setattr(runtime.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(runtime.dist, "init_process_group", lambda backend: calls.update(backend=backend))
    monkeypatch.setattr(runtime.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(runtime.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(runtime.torch.cuda, "set_device", lambda index: calls.update(set_device=index))
    return calls


def _gpus(monkeypatch, n: int) -> None:
    monkeypatch.setattr(runtime.torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(runtime.torch.cuda, "device_count", lambda: n)


def test_one_gpu_per_process_uses_nccl(torchrun_env, monkeypatch):
    _gpus(monkeypatch, 2)
    ddp = runtime.setup_distributed()
    assert torchrun_env == {"backend": "nccl", "set_device": 1}
    assert (ddp.rank, ddp.local_rank, ddp.world) == (1, 1, 2)
    assert runtime.pick_device(ddp) == torch.device("cuda", 1)


def test_more_processes_than_gpus_fall_back_to_gloo_on_cpu(torchrun_env, monkeypatch):
    _gpus(monkeypatch, 1)  # rank 1 would ask for a cuda:1 that does not exist
    ddp = runtime.setup_distributed()
    assert torchrun_env == {"backend": "gloo", "set_device": None}
    assert runtime.pick_device(ddp) == torch.device("cpu")


def test_no_gpu_uses_gloo_on_cpu(torchrun_env, monkeypatch):
    _gpus(monkeypatch, 0)
    ddp = runtime.setup_distributed()
    assert torchrun_env["backend"] == "gloo" and runtime.pick_device(ddp).type == "cpu"


def test_ctc_loss_matches_torch_and_stays_on_the_input_device():
    torch.manual_seed(0)
    log_probs = torch.randn(3, 64, 30).log_softmax(-1).requires_grad_()
    labels = torch.tensor([[0, 2, 3, -1], [4, 5, -1, -1], [6, 7, 8, 9]])  # -1 pads; BLANK is the last class
    loss = ctc_loss(ctc_loss_fn(), log_probs, labels)
    expected = torch.nn.functional.ctc_loss(log_probs.detach().transpose(0, 1), labels.clamp(min=0),
                                            torch.full((3,), 64), torch.tensor([3, 2, 4]), blank=BLANK,
                                            zero_infinity=True)
    assert loss.device == log_probs.device and torch.allclose(loss, expected)
    loss.backward()
    assert log_probs.grad is not None and torch.isfinite(log_probs.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_ctc_loss_on_cuda_is_computed_on_the_cpu_and_returned_to_the_gpu():
    log_probs = torch.randn(2, 64, 30, device="cuda").log_softmax(-1).requires_grad_()
    labels = torch.tensor([[1, 2, -1], [3, 4, 5]], device="cuda")
    loss = ctc_loss(ctc_loss_fn(), log_probs, labels)
    assert loss.device.type == "cuda"
    loss.backward()
    first = log_probs.grad.clone()
    log_probs.grad = None
    ctc_loss(ctc_loss_fn(), log_probs, labels).backward()
    assert torch.equal(first, log_probs.grad), "the same batch gave different gradients"
