"""The study's GRU and LSTM for the CPU: torch's arithmetic, in fewer and larger operations.

Why: torch's CPU GRU runs every time step as a dozen small operations, forward and backward, around
the matrix products that are the real work; its LSTM (oneDNN's fused kernel) is faster, but spends
as long again as its products in its gate arithmetic. Here, per layer:

* one matrix product gives the input projections of all time steps, for both directions;
* both directions advance together in each loop step (one batched product over a direction axis);
* the gate arithmetic of a step, forward or backward, is one fused pass (``hwr.model.native``'s C++
  kernels: the time loops run there, calling ATen's products); the GRU also has the same loops in
  torch operations, used where the kernels cannot be built;
* the biases are added in that pass, so the products run without a bias operand, and their gradient
  is summed there, step by step;
* the recurrent weights' gradient is one matrix product per direction over all time steps, after
  the loop;
* the layer's input, output and their gradients stay in time order, (T, B, directions x features):
  the kernels read and write the reverse direction's rows where they lie, so no copy reverses a
  sequence, and the input gradient and input weights' gradient are one product each.

With the kernels, the recurrent layers are ~90 % matrix products (batch 128, bf16, 2 CPU cores):
forward + backward of the study's two layers take 0.91 s instead of 0.98 s with the GRU's torch loops
(1.2 s with torch's GRU), and 1.22 s instead of 1.25 s with torch's LSTM.

Everything runs in the autocast dtype when CPU autocast is on (bf16: products, gates and states,
as torch's own layers do given the bf16 input a Linear layer produces under autocast; the LSTM's
cell state stays in float), else in the parameters' dtype; gradients reach the parameters in their
own dtype. ``GRU`` and ``LSTM`` are ``nn.GRU`` and ``nn.LSTM`` with the same parameters and
state_dict, so a model trained with either loads into the other, and they fall back to torch's
implementation where that is fast (CUDA: cuDNN) or where this one does not apply (an initial state,
dropout between layers, packed sequences, no bias, an LSTM projection; the LSTM without the kernels).
"""

from __future__ import annotations

import torch
from torch import nn

from hwr.model import native

_sigmoid_backward = torch.ops.aten.sigmoid_backward.grad_input
_tanh_backward = torch.ops.aten.tanh_backward.grad_input


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """What the kernels compute in (the biases, the LSTM's cell state): double for double, else float."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _loop_order(x: torch.Tensor, directions: int) -> torch.Tensor:
    """Time order (T, B, D*X) -> loop order (D, T, B, X), a copy: loop step s is time s for the forward
    direction and time T-1-s for the reverse one."""
    t, b, dx = x.shape
    v = x.view(t, b, directions, dx // directions)
    out = torch.empty(directions, t, b, dx // directions, dtype=x.dtype)
    out[0].copy_(v[:, :, 0])
    if directions == 2:
        out[1].copy_(v[:, :, 1].flip(0))
    return out


def _time_order(x: torch.Tensor, out: torch.Tensor) -> None:
    """Loop order (D, T, B, X) -> into ``out``, time order (T, B, D*X) (inverse of _loop_order)."""
    d, t, b, width = x.shape
    v = out.view(t, b, d, width)
    v[:, :, 0].copy_(x[0])
    if d == 2:
        v[:, :, 1].copy_(x[1].flip(0))


def _input_projections(x: torch.Tensor, w_ih: torch.Tensor, dtype: torch.dtype):
    """The layer's input as one matrix (T*B, F) in ``dtype``, and the input projections of all directions
    in time order (T, B, D*G), without the bias (the gate passes add it): one product."""
    t, b, f = x.shape
    d, g, _ = w_ih.shape
    rows = x.reshape(t * b, f).to(dtype)
    return rows, torch.mm(rows, w_ih.reshape(d * g, f).t()).view(t, b, d * g)


def _input_gradients(ctx, dgates: torch.Tensor, rows: torch.Tensor, w_ih: torch.Tensor):
    """Gradients of the layer input and of the input weights from the gates' gradient (T, B, D*G)."""
    t, b, f = ctx.input_shape
    d, g, _ = w_ih.shape
    dgates = dgates.view(t * b, d * g)
    dw_ih = torch.mm(dgates.t(), rows).view(d, g, f).to(ctx.param_dtype)
    dx = None
    if ctx.needs_input_grad[0]:
        dx = torch.mm(dgates, w_ih.reshape(d * g, f)).view(t, b, f).to(ctx.input_dtype)
    return dx, dw_ih


def _recurrent_weight_gradients(dgates: torch.Tensor, out: torch.Tensor, directions: int, dtype: torch.dtype):
    """dW_hh (D, G, H) in the parameters' ``dtype``, one product per direction over the time steps, from
    the gates' gradient (T, B, D*G) and the layer's output (T, B, D*H), both in time order: the forward
    direction's step at time t read h at t-1, the reverse one's h at t+1 (and h_0 = 0 adds nothing)."""
    t, b, dg = dgates.shape
    g, h = dg // directions, out.shape[-1] // directions
    grads, states = dgates.view(t * b, dg), out.view(t * b, directions * h)
    weights = torch.zeros(directions, g, h, dtype=dgates.dtype)
    if t > 1:
        torch.mm(grads[b:, :g].t(), states[:-b, :h], out=weights[0])
        if directions == 2:
            torch.mm(grads[:-b, g:].t(), states[b:, h:], out=weights[1])
    return weights.to(dtype)


class _TorchLoops:
    """The GRU's time loops in torch operations: what ``hwr.model.native``'s kernels compute (same arguments,
    same buffers), used where they are unavailable."""

    @staticmethod
    def gru_forward(gi, w_hh_t, bias, states, ghn, rz, n, out):
        h = n.shape[-1]
        gi = _loop_order(gi, n.shape[1])
        b_rz, b_hn, b_in = bias[:, None, : 2 * h], bias[:, None, 2 * h : 3 * h], bias[:, None, 3 * h :]
        for s in range(n.shape[0]):
            gh = torch.bmm(states[s], w_hh_t)
            torch.add(gi[:, s, :, : 2 * h] + gh[..., : 2 * h], b_rz, out=rz[s]).sigmoid_()
            torch.add(gh[..., 2 * h :], b_hn, out=ghn[s])
            torch.addcmul(gi[:, s, :, 2 * h :] + b_in, rz[s, ..., :h], ghn[s], out=n[s]).tanh_()
            torch.lerp(n[s], states[s], rz[s, ..., h:], out=states[s + 1])  # (1 - z) n + z h
        _time_order(states[1:].transpose(0, 1), out)

    @staticmethod
    def gru_backward(grad_h, w_hh, ghn, rz, n, states, dgi_out, dgh_out, dbias):
        t, d, b, h = n.shape
        grad_h = _loop_order(grad_h, d).transpose(0, 1)  # (T, D, B, H)
        dgi, dgh = (torch.empty(d, t, b, 3 * h, dtype=n.dtype) for _ in range(2))
        dh = torch.zeros(d, b, h, dtype=n.dtype)
        carry, work = torch.empty_like(dh), torch.empty_like(dh)
        dbias.zero_()
        for s in reversed(range(t)):
            dh += grad_h[s]
            r, z = rz[s, ..., :h], rz[s, ..., h:]
            torch.sub(states[s], n[s], out=work).mul_(dh)  # dL/dz
            _sigmoid_backward(work, z, grad_input=dgi[:, s, :, h : 2 * h])
            torch.mul(dh, z, out=carry)  # the direct path to h_{t-1}
            torch.sub(dh, carry, out=work)  # dL/dn
            dn = _tanh_backward(work, n[s], grad_input=dgi[:, s, :, 2 * h :])  # the candidate's pre-activation
            torch.mul(dn, ghn[s], out=work)  # dL/dr
            _sigmoid_backward(work, r, grad_input=dgi[:, s, :, :h])
            dgh[:, s, :, : 2 * h].copy_(dgi[:, s, :, : 2 * h])
            torch.mul(dn, r, out=dgh[:, s, :, 2 * h :])
            dbias[:, : 3 * h] += dgh[:, s].sum(1, dtype=dbias.dtype)
            dbias[:, 3 * h :] += dn.sum(1, dtype=dbias.dtype)
            torch.add(carry, torch.bmm(dgh[:, s], w_hh), out=dh)
        _time_order(dgi, dgi_out)
        _time_order(dgh, dgh_out)


def _loops():
    return native.recurrent_ops() or _TorchLoops


class _GRULayer(torch.autograd.Function):
    """One (bi)directional GRU layer; x (T, B, F), weights stacked over directions (D, 3H, ·). The biases
    enter as (D, 4H) in the accumulation dtype, [b_ir + b_hr, b_iz + b_hz, b_hn, b_in], added in the gate
    passes (the products run without them)."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, dtype):
        t, b, _ = x.shape
        d, g, h = w_hh.shape
        ctx.input_shape, ctx.input_dtype, ctx.param_dtype = x.shape, x.dtype, w_hh.dtype
        w_ih, w_hh = w_ih.to(dtype), w_hh.to(dtype)
        accumulate = _accumulation_dtype(dtype)
        rows, gi = _input_projections(x, w_ih, dtype)
        b_ih, b_hh = b_ih.to(accumulate), b_hh.to(accumulate)
        bias = torch.cat([b_ih[:, : 2 * h] + b_hh[:, : 2 * h], b_hh[:, 2 * h :], b_ih[:, 2 * h :]], dim=1)
        states = torch.empty(t + 1, d, b, h, dtype=dtype)  # h_0 = 0, then h_1 .. h_T in loop order
        states[0].zero_()
        ghn = torch.empty(t, d, b, h, dtype=dtype)  # the candidate's h @ w_hn^T + b_hn
        rz = torch.empty(t, d, b, 2 * h, dtype=dtype)  # reset and update gates
        n = torch.empty(t, d, b, h, dtype=dtype)  # candidate state
        out = torch.empty(t, b, d * h, dtype=dtype)  # the output, in time order
        _loops().gru_forward(gi, w_hh.transpose(1, 2).contiguous(), bias, states, ghn, rz, n, out)
        ctx.save_for_backward(rows, w_ih, w_hh, ghn, rz, n, states, out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        rows, w_ih, w_hh, ghn, rz, n, states, out = ctx.saved_tensors
        t, d, b, h = n.shape
        dgi = torch.empty(t, b, d * 3 * h, dtype=n.dtype)
        dgh = torch.empty(t, b, d * 3 * h, dtype=n.dtype)
        dbias = torch.empty(d, 4 * h, dtype=_accumulation_dtype(n.dtype))
        grad_out = grad_out.to(n.dtype).contiguous()
        _loops().gru_backward(grad_out, w_hh, ghn, rz, n, states, dgi, dgh, dbias)
        dw_hh = _recurrent_weight_gradients(dgh, out, d, ctx.param_dtype)
        dx, dw_ih = _input_gradients(ctx, dgi, rows, w_ih)
        dbias = dbias.to(ctx.param_dtype)
        db_ih = torch.cat([dbias[:, : 2 * h], dbias[:, 3 * h :]], dim=1)
        return dx, dw_ih, dw_hh, db_ih, dbias[:, : 3 * h].clone(), None


class _LSTMLayer(torch.autograd.Function):
    """One (bi)directional LSTM layer (native kernels only); returns the output (T, B, D*H) and the
    last loop step's cell states (D, B, H): each direction's final c. Both biases enter as their sum,
    in the cell state's dtype, added in the kernel's gate pass (the products run without them)."""

    @staticmethod
    def forward(ctx, x, w_ih, w_hh, b_ih, b_hh, dtype):
        t, b, _ = x.shape
        d, g, h = w_hh.shape
        ctx.input_shape, ctx.input_dtype, ctx.param_dtype = x.shape, x.dtype, w_hh.dtype
        ctx.set_materialize_grads(False)
        w_ih, w_hh = w_ih.to(dtype), w_hh.to(dtype)
        accumulate = _accumulation_dtype(dtype)
        rows, gi = _input_projections(x, w_ih, dtype)
        bias = (b_ih.to(accumulate) + b_hh.to(accumulate)).contiguous()
        states = torch.empty(t + 1, d, b, h, dtype=dtype)
        states[0].zero_()
        cells = torch.empty(t + 1, d, b, h, dtype=accumulate)
        cells[0].zero_()
        gates = torch.empty(t, d, b, g, dtype=dtype)  # i, f, g, o after their activations
        out = torch.empty(t, b, d * h, dtype=dtype)  # the output, in time order
        native.recurrent_ops().lstm_forward(gi, w_hh.transpose(1, 2).contiguous(), bias, states, cells, gates, out)
        ctx.save_for_backward(rows, w_ih, w_hh, gates, cells, out)  # states: read back from out
        return out, cells[-1].to(dtype)

    @staticmethod
    def backward(ctx, grad_out, grad_cells):
        rows, w_ih, w_hh, gates, cells, out = ctx.saved_tensors
        t, d, b, g = gates.shape
        h = g // 4
        if grad_out is None:
            grad_out = torch.zeros(t, b, d * h, dtype=gates.dtype)
        dc = torch.zeros_like(cells[0]) if grad_cells is None else grad_cells.to(cells.dtype, copy=True)
        dgates = torch.empty(t, b, d * g, dtype=gates.dtype)
        db = torch.empty(d, g, dtype=cells.dtype)  # summed by the kernel, step by step
        native.recurrent_ops().lstm_backward(grad_out.to(gates.dtype).contiguous(), dc.contiguous(), w_hh, gates,
                                             cells, dgates, db)
        dw_hh = _recurrent_weight_gradients(dgates, out, d, ctx.param_dtype)
        dx, dw_ih = _input_gradients(ctx, dgates, rows, w_ih)
        db = db.to(ctx.param_dtype)
        return dx, dw_ih, dw_hh, db, db.clone(), None


def _fast_path_applies(rnn: nn.RNNBase, input, hx) -> bool:
    return (isinstance(input, torch.Tensor) and input.device.type == "cpu" and input.dim() == 3 and hx is None
            and rnn.bias and rnn.dropout == 0 and getattr(rnn, "proj_size", 0) == 0
            and input.dtype in (torch.float32, torch.float64, torch.bfloat16))


def _run_layers(rnn: nn.RNNBase, layer_fn, input):
    """Runs ``layer_fn`` layer by layer; returns the output, h_n and (LSTM) c_n as torch lays them out."""
    autocast = torch.is_autocast_enabled("cpu")
    dtype = torch.get_autocast_dtype("cpu") if autocast else rnn.weight_hh_l0.dtype
    suffixes = ["", "_reverse"] if rnn.bidirectional else [""]
    x = input.transpose(0, 1) if rnn.batch_first else input  # time first
    finals, cells = [], []
    with torch.autocast("cpu", enabled=False):  # dtypes are chosen here, not by autocast
        for layer in range(rnn.num_layers):
            weights = [torch.stack([getattr(rnn, f"{kind}_l{layer}{sfx}") for sfx in suffixes])
                       for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            x = layer_fn(x, *weights, dtype)
            if isinstance(x, tuple):
                x, c = x
                cells.append(c)
            # h_n: the forward direction's last time step, the reverse direction's first
            finals.append(x[-1, :, : rnn.hidden_size])
            if rnn.bidirectional:
                finals.append(x[0, :, rnn.hidden_size :])
    output = x.transpose(0, 1) if rnn.batch_first else x
    return output, torch.stack(finals), (torch.cat(cells) if cells else None)


class GRU(nn.GRU):
    """``nn.GRU``, computed by ``_GRULayer`` on the CPU (see the module)."""

    def forward(self, input, hx=None):
        if not _fast_path_applies(self, input, hx):
            return super().forward(input, hx)
        output, h_n, _ = _run_layers(self, _GRULayer.apply, input)
        return output, h_n


class LSTM(nn.LSTM):
    """``nn.LSTM``, computed by ``_LSTMLayer`` on the CPU when hwr's native kernels are available
    (else torch's own, oneDNN's fused kernel)."""

    def forward(self, input, hx=None):
        if not _fast_path_applies(self, input, hx) or native.recurrent_ops() is None:
            return super().forward(input, hx)
        output, h_n, c_n = _run_layers(self, _LSTMLayer.apply, input)
        return output, (h_n, c_n)
