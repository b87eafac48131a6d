"""Batch norm -> max-pool -> ReLU, the end of each of the CRNN's conv blocks, as one operation.

On the CPU, for channels_last activations, ``bn_pool_relu`` runs ``hwr.native``'s kernel: it pools the
block's input by the sign of batch norm's scale (the same elements max-pool would pick after batch
norm) and normalises only the pooled values, so the full-size activations are read twice forward and
once backward, against about eight passes for torch's three layers. Same function, same gradients,
same running statistics (momentum, unbiased variance, ``num_batches_tracked``); tests hold it to
``BatchNorm2d`` + ``MaxPool2d`` + ``ReLU`` in float64.

Elsewhere (CUDA, another memory layout, no kernels, eval mode with gradients, a cumulative-average
BatchNorm) it is torch's three layers.
"""

from __future__ import annotations

import torch
from torch import nn

from hwr import native


class _BNPoolReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, bn: nn.BatchNorm2d, kernel: tuple[int, int]):
        out, selected, x_selected, mean, invstd = native.block_ops().bn_pool_relu_forward(
            x, weight, bias, bn.running_mean, bn.running_var, bn.training, bn.momentum, bn.eps, *kernel)
        if bn.training:
            ctx.save_for_backward(out, x, selected, x_selected, weight, mean, invstd)
            ctx.kernel = kernel
        return out

    @staticmethod
    def backward(ctx, grad_out):
        out, x, selected, x_selected, weight, mean, invstd = ctx.saved_tensors
        dx, dweight, dbias = native.block_ops().bn_pool_relu_backward(
            grad_out, out, x, selected, x_selected, weight, mean, invstd, *ctx.kernel)
        return dx, dweight, dbias, None, None


def _kernel(pool: nn.MaxPool2d) -> tuple[int, int] | None:
    """(ph, pw) for a max-pool whose stride is its kernel, without padding or dilation; else None."""
    pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
    kernel, stride = pair(pool.kernel_size), pair(pool.stride)
    plain = (stride == kernel and pair(pool.padding) == (0, 0) and pair(pool.dilation) == (1, 1)
             and not pool.ceil_mode and not pool.return_indices)
    return kernel if plain else None


def _applies(x: torch.Tensor, bn: nn.BatchNorm2d, pool: nn.MaxPool2d) -> bool:
    if not (x.device.type == "cpu" and x.dim() == 4 and x.dtype in (torch.float32, torch.float64, torch.bfloat16)
            and x.is_contiguous(memory_format=torch.channels_last) and bn.affine and bn.track_running_stats
            and _kernel(pool) is not None):
        return False
    if bn.training:
        if bn.momentum is None:  # cumulative moving average: leave it to torch
            return False
    elif torch.is_grad_enabled() and (x.requires_grad or bn.weight.requires_grad):
        return False  # eval-mode batch norm's gradient is another function; torch has it
    return native.block_ops() is not None


def bn_pool_relu(x: torch.Tensor, bn: nn.BatchNorm2d, pool: nn.MaxPool2d) -> torch.Tensor:
    """relu(pool(bn(x))), with ``bn``'s running statistics updated as ``bn(x)`` would in training."""
    if not _applies(x, bn, pool):
        return torch.relu(pool(bn(x)))
    if bn.training:
        bn.num_batches_tracked.add_(1)
    with torch.autocast(x.device.type, enabled=False):
        return _BNPoolReLU.apply(x, bn.weight, bn.bias, bn, _kernel(pool))
