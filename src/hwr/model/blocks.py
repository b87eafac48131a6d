"""Batch norm -> max-pool -> ReLU, the end of each of the CRNN's conv blocks, as one operation; for the
first block, whose convolution reads the one-channel image, the convolution too.

On the CPU, for channels_last activations, ``bn_pool_relu`` runs ``hwr.model.native``'s kernel: it pools the
block's input by the sign of batch norm's scale (the same elements max-pool would pick after batch
norm) and normalises only the pooled values, so the full-size activations are read twice forward and
once backward, against about eight passes for torch's three layers. Same function, same gradients,
same running statistics (momentum, unbiased variance, ``num_batches_tracked``); tests hold it to
``BatchNorm2d`` + ``MaxPool2d`` + ``ReLU`` in float64.

``conv_bn_pool_relu`` also computes the first block's 3x3 convolution of the image where its output is
used forward, so that output (32 values per pixel of the image, in training the largest activation) is
never stored. Its backward (the image needs no gradient) follows from the pooled positions and 54 sums
over the image's 3x3 patches: the convolution is linear in them (hwr/csrc/blocks.cpp).

Elsewhere (CUDA, another memory layout, no kernels, eval mode with gradients, a cumulative-average
BatchNorm; for the convolution, an image that needs a gradient or a convolution other than 3x3,
padding 1, stride 1 from one channel) it is torch's layers.
"""

from __future__ import annotations

import torch
from torch import nn

from hwr.model import native


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


class _ConvBNPoolReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, image, conv_weight, conv_bias, weight, bias, bn: nn.BatchNorm2d, kernel, out_dtype):
        accumulate = torch.float64 if out_dtype == torch.float64 else torch.float32
        channels = conv_weight.shape[0]
        image = image.to(accumulate).contiguous()
        taps = conv_weight.detach().reshape(channels, 9).t().to(accumulate).contiguous()  # (9, C)
        shift = conv_bias.detach().to(accumulate).contiguous()
        out, selected, x_selected, mean, invstd = native.block_ops().conv_bn_pool_relu_forward(
            image, taps, shift, weight, bias, bn.running_mean, bn.running_var, bn.training, bn.momentum, bn.eps,
            *kernel, out_dtype)
        if bn.training:
            ctx.save_for_backward(out, image, taps, shift, selected, x_selected, weight, mean, invstd)
            ctx.kernel, ctx.conv_dtype = kernel, conv_weight.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out):
        out, image, taps, shift, selected, x_selected, weight, mean, invstd = ctx.saved_tensors
        dtaps, dshift, dweight, dbias = native.block_ops().conv_bn_pool_relu_backward(
            grad_out, out, image, taps, shift, selected, x_selected, weight, mean, invstd, *ctx.kernel)
        dconv = dtaps.t().reshape(-1, 1, 3, 3).to(ctx.conv_dtype)
        return None, dconv, dshift.to(ctx.conv_dtype), dweight, dbias, None, None, None


def _pair(value) -> tuple:
    """A layer's size argument as a pair: 2 -> (2, 2)."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _kernel(pool: nn.MaxPool2d) -> tuple[int, int] | None:
    """(ph, pw) for a max-pool whose stride is its kernel, without padding or dilation; else None."""
    kernel, stride = _pair(pool.kernel_size), _pair(pool.stride)
    plain = (stride == kernel and _pair(pool.padding) == (0, 0) and _pair(pool.dilation) == (1, 1)
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


def _first_block_applies(image: torch.Tensor, conv: nn.Conv2d) -> bool:
    # the model is in channels_last: with one input channel only the weight's strides say so (channel
    # innermost); in the default layout the block stays torch's conv, in the layout it asks for
    return (image.dim() == 4 and image.shape[1] == 1 and not image.requires_grad and conv.in_channels == 1
            and conv.weight.stride(1) == 1 and conv.groups == 1 and conv.bias is not None
            and _pair(conv.kernel_size) == (3, 3) and _pair(conv.stride) == (1, 1)
            and _pair(conv.dilation) == (1, 1) and conv.padding_mode == "zeros"
            and (conv.padding == "same" or _pair(conv.padding) == (1, 1)))


def conv_bn_pool_relu(image: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d, pool: nn.MaxPool2d) -> torch.Tensor:
    """relu(pool(bn(conv(image)))) for a one-channel image; other inputs go to ``bn_pool_relu(conv(x))``.
    Under CPU autocast the result has the autocast dtype, as conv(image) would."""
    autocast = torch.is_autocast_enabled(image.device.type)
    out_dtype = torch.get_autocast_dtype(image.device.type) if autocast else image.dtype
    if not (_first_block_applies(image, conv) and out_dtype in (torch.float32, torch.float64, torch.bfloat16)
            and _applies(image, bn, pool)):  # the image's (N, 1, H, W) is also channels_last
        return bn_pool_relu(conv(image), bn, pool)
    if bn.training:
        bn.num_batches_tracked.add_(1)
    with torch.autocast(image.device.type, enabled=False):
        return _ConvBNPoolReLU.apply(image, conv.weight, conv.bias, bn.weight, bn.bias, bn, _kernel(pool), out_dtype)
