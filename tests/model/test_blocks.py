"""hwr.model.blocks.bn_pool_relu computes relu(pool(bn(x))) exactly as torch's three layers do, and
conv_bn_pool_relu relu(pool(bn(conv(image)))) as torch's four."""

import pytest
import torch
from torch import nn

from hwr.model import blocks, native

pytestmark = pytest.mark.skipif(native.block_ops() is None,
                                reason="hwr's native kernels are unavailable here (no C++ compiler?)")


def _layers(channels, kernel, scale_sign=1.0, dtype=torch.float64):
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(channels).to(dtype)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(channels) + 0.5).mul_(scale_sign)
        bn.weight[0] = -bn.weight[0]  # both signs of batch norm's scale in every case
        bn.bias.copy_(torch.randn(channels))
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2)
    twin = nn.BatchNorm2d(channels).to(dtype)
    twin.load_state_dict(bn.state_dict())
    return bn, twin, nn.MaxPool2d(kernel)


def _forward_backward(x, fn, grad):
    x = x.detach().clone().requires_grad_()
    y = fn(x)
    (y * grad).sum().backward()
    return y, x.grad


@pytest.mark.parametrize("shape, kernel", [((3, 4, 6, 8), (2, 2)), ((2, 5, 7, 9), (2, 1)),  # 7, 9: rows/cols
                                           ((4, 37, 4, 6), (2, 2)), ((2, 3, 5, 5), (3, 2)),    # past the windows
                                           ((2, 3, 5, 37), (2, 2))])  # 37 columns: backward's tiles of 16
@pytest.mark.parametrize("scale_sign", [1.0, -1.0])
def test_training_matches_torch(shape, kernel, scale_sign):
    reference, fused, pool = _layers(shape[1], kernel, scale_sign)
    x = torch.randn(*shape, dtype=torch.float64).to(memory_format=torch.channels_last)
    grad = torch.randn(reference(x).shape[0:2] + (shape[2] // kernel[0], shape[3] // kernel[1]), dtype=torch.float64)
    reference.load_state_dict(fused.state_dict())  # undo the statistics update of the line above
    expected, expected_dx = _forward_backward(x, lambda v: torch.relu(pool(reference(v))), grad)
    got, got_dx = _forward_backward(x, lambda v: blocks.bn_pool_relu(v, fused, pool), grad)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got_dx, expected_dx, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused.weight.grad, reference.weight.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fused.bias.grad, reference.bias.grad, rtol=1e-10, atol=1e-12)
    for name, value in reference.state_dict().items():  # running statistics, num_batches_tracked
        torch.testing.assert_close(fused.state_dict()[name], value, rtol=1e-12, atol=1e-12, msg=name)


def test_eval_without_gradients_matches_torch():
    reference, fused, pool = _layers(8, (2, 2))
    reference.eval(), fused.eval()
    x = torch.randn(3, 8, 6, 10, dtype=torch.float64).to(memory_format=torch.channels_last)
    with torch.no_grad():
        torch.testing.assert_close(blocks.bn_pool_relu(x, fused, pool), torch.relu(pool(reference(x))),
                                   rtol=1e-12, atol=1e-12)


def test_bf16_stays_close_to_torch():
    reference, fused, pool = _layers(32, (2, 2), dtype=torch.float32)
    x = (torch.randn(4, 32, 16, 16) * 3 + 1).bfloat16().to(memory_format=torch.channels_last)
    expected = torch.relu(pool(reference(x)))
    got = blocks.bn_pool_relu(x, fused, pool)
    assert got.dtype == torch.bfloat16
    assert (got.float() - expected.float()).abs().max() < 0.05
    torch.testing.assert_close(fused.running_mean, reference.running_mean, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("case", ["contiguous", "eval with gradients", "no kernels", "padded pool"])
def test_torch_layers_where_the_kernel_does_not_apply(case, monkeypatch):
    reference, fused, pool = _layers(4, (2, 2), dtype=torch.float32)
    x = torch.randn(2, 4, 6, 6).to(memory_format=torch.channels_last)
    if case == "contiguous":
        x = x.contiguous()
    elif case == "eval with gradients":
        reference.eval(), fused.eval()
    elif case == "no kernels":
        monkeypatch.setattr(native, "block_ops", lambda: None)
    else:
        pool = nn.MaxPool2d(2, padding=1)
    called = []
    monkeypatch.setattr(blocks._BNPoolReLU, "apply", lambda *a: called.append(1))
    torch.testing.assert_close(blocks.bn_pool_relu(x, fused, pool), torch.relu(pool(reference(x))), rtol=0, atol=0)
    assert not called


# ---- the first block, convolution included


def _conv(out_channels, dtype=torch.float64, **options):
    torch.manual_seed(1)
    conv = nn.Conv2d(1, out_channels, 3, padding=1, **options).to(dtype)
    twin = nn.Conv2d(1, out_channels, 3, padding=1, **options).to(dtype)
    twin.load_state_dict(conv.state_dict())
    return conv, twin.to(memory_format=torch.channels_last)  # the fused path is for channels_last models


@pytest.mark.parametrize("shape, kernel", [((3, 1, 6, 8), (2, 2)), ((2, 1, 7, 37), (2, 2)),  # 7 x 37: past the
                                           ((2, 1, 5, 9), (2, 1)), ((2, 1, 5, 7), (3, 2))])   # windows; tiles
@pytest.mark.parametrize("channels", [5, 37])
@pytest.mark.parametrize("scale_sign", [1.0, -1.0])
def test_first_block_matches_torch(shape, kernel, channels, scale_sign, monkeypatch):
    reference, fused, pool = _layers(channels, kernel, scale_sign)
    conv, fused_conv = _conv(channels)
    image = torch.rand(*shape, dtype=torch.float64)
    grad = torch.randn(shape[0], channels, shape[2] // kernel[0], shape[3] // kernel[1], dtype=torch.float64)
    called = []
    apply = blocks._ConvBNPoolReLU.apply
    monkeypatch.setattr(blocks._ConvBNPoolReLU, "apply", lambda *a: called.append(1) or apply(*a))
    expected = torch.relu(pool(reference(conv(image))))
    got = blocks.conv_bn_pool_relu(image, fused_conv, fused, pool)
    assert called and got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    (expected * grad).sum().backward()
    (got * grad).sum().backward()
    for mine, theirs in [(fused_conv.weight, conv.weight), (fused_conv.bias, conv.bias), (fused.weight, reference.weight),
                         (fused.bias, reference.bias)]:
        torch.testing.assert_close(mine.grad, theirs.grad, rtol=1e-10, atol=1e-10)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(fused.state_dict()[name], value, rtol=1e-12, atol=1e-12, msg=name)


def test_first_block_in_eval_mode_and_in_bf16():
    reference, fused, pool = _layers(8, (2, 2))
    conv, fused_conv = _conv(8)
    reference.eval(), fused.eval()
    image = torch.rand(3, 1, 6, 10, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(blocks.conv_bn_pool_relu(image, fused_conv, fused, pool),
                                   torch.relu(pool(reference(conv(image)))), rtol=1e-12, atol=1e-12)
    reference, fused, pool = _layers(32, (2, 2), dtype=torch.float32)
    conv, fused_conv = _conv(32, dtype=torch.float32)
    image = torch.rand(4, 1, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = torch.relu(pool(reference(conv(image))))
        got = blocks.conv_bn_pool_relu(image, fused_conv, fused, pool)
    assert got.dtype == expected.dtype == torch.bfloat16
    assert (got.float() - expected.float()).abs().max() < 0.05
    torch.testing.assert_close(fused.running_var, reference.running_var, rtol=1e-2, atol=1e-3)


def test_first_block_gradients_in_bf16_stay_close_to_float64():
    # bf16 activations, float sums: the convolution's gradient from the image's patch sums as accurate
    # as from the full-size activations (relative error ~1e-2, the bf16 rounding of the activations)
    reference, fused, pool = _layers(32, (2, 2), dtype=torch.float32)
    conv, fused_conv = _conv(32, dtype=torch.float32)
    image = (torch.rand(8, 1, 32, 64) < 0.2).float() * torch.rand(8, 1, 32, 64)  # sparse ink, as scans
    grad = torch.randn(8, 32, 16, 32)
    exact = torch.relu(pool(reference.double()(conv.double()(image.double()))))
    (exact * grad.double()).sum().backward()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = blocks.conv_bn_pool_relu(image, fused_conv, fused, pool)
    (got.float() * grad).sum().backward()
    error = (fused_conv.weight.grad.double() - conv.weight.grad).norm() / conv.weight.grad.norm()
    assert error < 0.05, error
    assert fused_conv.bias.grad.abs().max() < 0.05 * fused_conv.weight.grad.abs().max()  # exactly 0 in exact arithmetic
    error = (fused.weight.grad.double() - reference.weight.grad).norm() / reference.weight.grad.norm()
    assert error < 0.05, error


@pytest.mark.parametrize("case", ["default layout", "image needs a gradient", "two channels", "no padding",
                                  "eval with gradients", "no kernels"])
def test_first_block_torch_layers_where_the_kernel_does_not_apply(case, monkeypatch):
    reference, fused, pool = _layers(4, (2, 2), dtype=torch.float32)
    conv, fused_conv = _conv(4, dtype=torch.float32, **({"stride": 1} if case != "no padding" else {}))
    image = torch.rand(2, 1, 6, 6)
    if case == "default layout":
        fused_conv = fused_conv.to(memory_format=torch.contiguous_format)
    elif case == "image needs a gradient":
        image.requires_grad_()
    elif case == "two channels":
        image = torch.rand(2, 2, 6, 6)
        conv = nn.Conv2d(2, 4, 3, padding=1)
        fused_conv = nn.Conv2d(2, 4, 3, padding=1).to(memory_format=torch.channels_last)
        fused_conv.load_state_dict(conv.state_dict())
    elif case == "no padding":
        conv.padding = fused_conv.padding = (0, 0)
    elif case == "eval with gradients":
        reference.eval(), fused.eval()
    else:
        monkeypatch.setattr(native, "block_ops", lambda: None)
    called = []
    monkeypatch.setattr(blocks._ConvBNPoolReLU, "apply", lambda *a: called.append(1))
    torch.testing.assert_close(blocks.conv_bn_pool_relu(image, fused_conv, fused, pool),
                               torch.relu(pool(reference(conv(image)))))
    assert not called
