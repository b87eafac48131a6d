"""hwr.model.recurrent's GRU and LSTM compute what torch's nn.GRU and nn.LSTM compute, forward and backward,
with hwr's compiled kernels (hwr.model.native) and, for the GRU, with its pure-torch loops."""

import pytest
import torch
from torch import nn

from hwr.model import native, recurrent

TORCH_LOOPS = "torch loops"
KINDS = {"gru": (nn.GRU, recurrent.GRU), "lstm": (nn.LSTM, recurrent.LSTM)}
# (kind, path): the LSTM has no pure-torch loop of its own (without the kernels it is torch's LSTM)
CASES = [("gru", "native"), ("gru", TORCH_LOOPS), ("lstm", "native")]


@pytest.fixture
def path(request, monkeypatch):
    """Selects the implementation under test; 'native' skips where the kernels cannot be built."""
    if request.param == TORCH_LOOPS:
        monkeypatch.setattr(native, "recurrent_ops", lambda: None)
    elif native.recurrent_ops() is None:
        pytest.skip("hwr's native kernels are unavailable here (no C++ compiler?)")
    return request.param


def _pair(kind, dtype=torch.float64, **options):
    torch.manual_seed(0)
    options = {"input_size": 6, "hidden_size": 5, "num_layers": 2, "bidirectional": True,
               "batch_first": True, **options}
    plain, fast = KINDS[kind]
    reference = plain(**options).to(dtype)
    fast = fast(**options).to(dtype)
    fast.load_state_dict(reference.state_dict())  # the same parameters, by the same names
    return reference, fast


def _run(net, x):
    """Output and final states of ``net``, and the gradients of a loss that uses all of them."""
    x = x.detach().clone().requires_grad_()
    out, hidden = net(x)
    states = hidden if isinstance(hidden, tuple) else (hidden,)
    weights = torch.linspace(-1, 1, out.shape[-1], dtype=out.dtype)
    loss = (out * weights).square().sum() + sum((k + 1) * s.sin().sum() for k, s in enumerate(states))
    loss.backward()
    grads = {"input": x.grad, **{name: p.grad for name, p in net.named_parameters()}}
    return out, states, grads


@pytest.mark.parametrize("kind, path", CASES, indirect=["path"])
@pytest.mark.parametrize("options", [{}, {"bidirectional": False}, {"num_layers": 1, "batch_first": False},
                                     {"hidden_size": 37},  # 37: a partial vector at each row's end
                                     {"hidden_size": 100}])  # 300 / 400 gates: bias sums in 2 column blocks
def test_same_outputs_and_gradients_as_torch(kind, path, options):
    reference, fast = _pair(kind, **options)
    x = torch.randn(4, 7, 6, dtype=torch.float64)
    (out, states, expected), (fast_out, fast_states, got) = _run(reference, x), _run(fast, x)
    torch.testing.assert_close(fast_out, out, rtol=1e-10, atol=1e-12)
    assert len(fast_states) == len(states)
    for fast_state, state in zip(fast_states, states):
        torch.testing.assert_close(fast_state, state, rtol=1e-10, atol=1e-12)
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("kind, path", CASES, indirect=["path"])
@pytest.mark.parametrize("steps", [1, 2])
def test_short_sequences(kind, path, steps):
    # the first step's recurrent product is skipped (h_0 = 0): with one step no product is left at all
    reference, fast = _pair(kind)
    x = torch.randn(3, steps, 6, dtype=torch.float64)
    (out, _, expected), (fast_out, _, got) = _run(reference, x), _run(fast, x)
    torch.testing.assert_close(fast_out, out, rtol=1e-10, atol=1e-12)
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-10, atol=1e-12, msg=name)
    if steps == 1:
        assert not got["weight_hh_l0"].any()


@pytest.mark.parametrize("kind, path", CASES, indirect=["path"])
def test_bf16_autocast_stays_close_to_torch(kind, path):
    """Under CPU autocast, given the bf16 input a Linear layer before them produces there, both run in
    bf16; they differ by rounding only."""
    reference, fast = _pair(kind, dtype=torch.float32, input_size=16, hidden_size=32)
    x = torch.randn(8, 20, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected, got = reference(x.bfloat16())[0], fast(x.bfloat16())[0]
    assert got.dtype == expected.dtype == torch.bfloat16
    assert (got.float() - expected.float()).abs().max() < 0.03
    exact = fast.float()(x)[0]  # and bf16 is close to the fp32 result
    assert (got.float() - exact).abs().max() < 0.03


@pytest.mark.parametrize("kind, path", CASES, indirect=["path"])
def test_bf16_gradients_point_the_same_way_as_fp32(kind, path):
    _, fast = _pair(kind, dtype=torch.float32, input_size=16, hidden_size=32)
    x = torch.randn(8, 20, 16)

    def grads(autocast):
        fast.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = fast(x)[0]
        out.float().square().mean().backward()
        return torch.cat([p.grad.flatten() for p in fast.parameters()])

    exact, rounded = grads(False), grads(True)
    assert rounded.dtype == torch.float32  # gradients arrive in the parameters' dtype
    assert torch.nn.functional.cosine_similarity(exact, rounded, dim=0) > 0.99


@pytest.mark.parametrize("kind", KINDS)
def test_torch_kernels_where_this_path_does_not_apply(kind):
    """An initial state, or dropout between layers: torch's own implementation, same results."""
    reference, fast = _pair(kind, dtype=torch.float32)
    x = torch.randn(3, 4, 6)
    h0 = torch.randn(4, 3, 5)
    initial = (h0, torch.randn(4, 3, 5)) if kind == "lstm" else h0
    torch.testing.assert_close(fast(x, initial)[0], reference(x, initial)[0], rtol=0, atol=0)
    reference.dropout = fast.dropout = 0.5
    torch.manual_seed(1)
    a = reference.train()(x)[0]
    torch.manual_seed(1)
    b = fast.train()(x)[0]
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("kind, path", CASES, indirect=["path"])
def test_inference_without_gradients(kind, path):
    reference, fast = _pair(kind, dtype=torch.float32)
    x = torch.randn(3, 9, 6)
    with torch.no_grad():
        torch.testing.assert_close(fast(x)[0], reference(x)[0])
        assert not fast(x)[0].requires_grad


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_is_torchs(kind):
    reference, fast = _pair(kind, dtype=torch.float32)
    assert list(fast.state_dict()) == list(reference.state_dict())
    assert isinstance(fast, KINDS[kind][0])


def test_lstm_without_the_kernels_is_torchs(monkeypatch):
    monkeypatch.setattr(native, "recurrent_ops", lambda: None)
    reference, fast = _pair("lstm", dtype=torch.float32)
    x = torch.randn(3, 9, 6)
    torch.testing.assert_close(fast(x)[0], reference(x)[0], rtol=0, atol=0)
