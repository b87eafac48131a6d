import math

import pytest
import torch
from torch import nn

from hwr.model import blocks, native
from hwr.model import crnn as model_module
from hwr.model.crnn import CRNN, StudyCRNN, count_parameters, normalise

STUDY_PARAMETERS = {"gru": 6_689_822, "lstm": 8_856_606}


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_parameter_count_is_the_studys(rnn):
    assert count_parameters(CRNN(rnn)) == STUDY_PARAMETERS[rnn]


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_output_shape_and_log_probabilities(rnn):
    torch.manual_seed(0)
    net = CRNN(rnn).eval()
    images = torch.randint(0, 256, (3, 64, 256), dtype=torch.uint8)
    with torch.no_grad():
        out = net(images)
    assert out.shape == (3, 64, 30) and out.dtype == torch.float32
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(3, 64))
    with torch.no_grad():  # already-normalised float input gives the same result
        torch.testing.assert_close(net(normalise(images)), out)


def test_unknown_rnn():
    with pytest.raises(ValueError, match="foo"):
        CRNN("foo")


def test_normalise_white_is_zero_ink_is_one():
    x = normalise(torch.tensor([[[255, 0]]], dtype=torch.uint8))
    assert x.shape == (1, 1, 1, 2)
    assert x.flatten().tolist() == [0.0, 1.0]


def test_every_conv_has_batch_norm_and_he_normal_init(monkeypatch):
    initialised = []
    real = nn.init.kaiming_normal_

    def spy(tensor, *args, **kwargs):
        initialised.append((tensor, args, kwargs))
        return real(tensor, *args, **kwargs)

    monkeypatch.setattr(model_module.nn.init, "kaiming_normal_", spy)
    torch.manual_seed(0)
    net = CRNN("gru")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3
    # He normal: kaiming_normal_ on each conv weight, for ReLU, fan-in (the default mode)
    for conv in convs:
        calls = [(a, k) for t, a, k in initialised if t is conv.weight]
        assert calls, "conv weight not He-normal initialised"
        args, kwargs = calls[-1]
        assert kwargs.get("nonlinearity", "leaky_relu") == "relu" and kwargs.get("mode", "fan_in") == "fan_in"
        assert not args or args[0] == 0  # a = 0
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        std = conv.weight.detach().std().item()
        assert abs(std - math.sqrt(2 / fan_in)) < 0.2 * math.sqrt(2 / fan_in)
    # each conv is followed directly by batch normalisation over its channels
    layers = list(net.cnn)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.Conv2d):
            assert isinstance(layers[i + 1], nn.BatchNorm2d)
            assert layers[i + 1].num_features == layer.out_channels
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == len(convs)


def test_time_steps_follow_image_columns():
    """Step t sees only columns near 4t (3 small convs, pooling 4 wide): ink at the right end must
    not change the CNN features of the first steps."""
    torch.manual_seed(0)
    net = CRNN("gru").eval()
    blank = torch.full((1, 64, 256), 255, dtype=torch.uint8)
    inked = blank.clone()
    inked[0, :, 200:] = 0
    with torch.no_grad():
        a, b = net.cnn(normalise(blank)), net.cnn(normalise(inked))
    assert a.shape == (1, 128, 8, 64)
    torch.testing.assert_close(a[..., :40], b[..., :40])
    assert not torch.allclose(a[..., 55:], b[..., 55:])


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_recurrent_and_dense_layers_start_as_keras_would(rnn):
    """Orthogonal recurrent weights per gate, Glorot-uniform input and dense weights, zero biases
    (LSTM: forget-gate bias 1). PyTorch's default start stays in CTC's all-blank phase far longer."""
    torch.manual_seed(0)
    net = CRNN(rnn)
    hidden = net.rnn.hidden_size
    for name, weight in net.rnn.named_parameters():
        if name.startswith("weight_hh"):
            for gate in weight.detach().split(hidden):
                torch.testing.assert_close(gate @ gate.T, torch.eye(hidden), atol=1e-4, rtol=0)
        elif name.startswith("weight_ih"):
            fan_out, fan_in = weight.shape
            assert weight.abs().max() <= math.sqrt(6 / (fan_in + fan_out)) + 1e-6
        else:
            expected = torch.zeros_like(weight)
            if rnn == "lstm" and name.startswith("bias_ih"):
                expected[hidden : 2 * hidden] = 1.0
            assert torch.equal(weight.detach(), expected), name
    for layer in (net.project[0], net.classify):
        assert torch.equal(layer.bias.detach(), torch.zeros_like(layer.bias))
        fan_out, fan_in = layer.weight.shape
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert layer.weight.abs().max() <= bound + 1e-6 and layer.weight.abs().max() > 0.9 * bound


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_same_function_and_gradients_as_the_study_written_plainly(rnn, layout, monkeypatch):
    """CRNN's reordering (pool before ReLU, channels_last feature order, hwr.model.recurrent's layers, and in
    channels_last hwr.model.blocks' fused (conv +) batch norm + pool + ReLU) changes nothing: in training mode (batch
    statistics), float64 up to the float32 log-probabilities, outputs, every parameter's gradient
    and the running statistics agree with StudyCRNN's."""
    fused = []
    for function in (blocks._BNPoolReLU, blocks._ConvBNPoolReLU):
        monkeypatch.setattr(function, "apply",
                            lambda *a, name=function.__name__, apply=function.apply: fused.append(name) or apply(*a))
    torch.manual_seed(0)
    memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    net = CRNN(rnn).double().train().to(memory_format=memory_format)
    images = normalise(torch.randint(0, 256, (2, 64, 256), dtype=torch.uint8)).double()
    target = torch.randn(2, 64, 30)
    study = StudyCRNN(rnn).double().train()
    assert type(study.rnn) in (nn.GRU, nn.LSTM)
    study.load_state_dict(net.state_dict())
    expected = study(images)
    (expected * target).sum().backward()
    reference_grads = {name: p.grad for name, p in study.named_parameters()}
    got = net(images)
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    (got * target).sum().backward()
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.grad, reference_grads[name], rtol=1e-5, atol=1e-7, msg=name)
    for name, buffer in net.state_dict().items():
        torch.testing.assert_close(buffer, study.state_dict()[name], msg=name)
    if layout == "channels_last" and native.block_ops() is not None:
        # the fused path ran, once per block: the first with its convolution
        assert fused == ["_ConvBNPoolReLU", "_BNPoolReLU", "_BNPoolReLU"]
    else:
        assert not fused


@pytest.mark.parametrize("rnn", ["gru", "lstm"])
def test_study_crnn_is_the_same_network(rnn):
    torch.manual_seed(0)
    study, net = StudyCRNN(rnn), CRNN(rnn)
    assert count_parameters(study) == STUDY_PARAMETERS[rnn]
    assert list(study.state_dict()) == list(net.state_dict())
    assert [type(m) for m in study.cnn[:4]] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]


def test_the_wide_architecture_has_four_blocks_256_features_and_the_same_output():
    torch.manual_seed(0)
    net = CRNN("gru", "wide").eval()
    assert [m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 256]
    assert net.project[0].out_features == 256 and net.rnn.hidden_size == 256
    images = torch.randint(0, 256, (2, 64, 256), dtype=torch.uint8)
    with torch.no_grad():
        out = net(images)
    assert out.shape == (2, 64, 30)
    study = StudyCRNN("gru", "wide").eval()
    study.load_state_dict(net.state_dict())  # the same keys and shapes, written plainly
    with torch.no_grad():
        torch.testing.assert_close(study(images), out, rtol=1e-4, atol=1e-4)


def test_unknown_cnn():
    with pytest.raises(ValueError, match="deep"):
        CRNN("gru", "deep")


@pytest.mark.parametrize("cnn", ["study", "wide"])
def test_a_model_reads_the_left_width_columns_of_wider_images(cnn):
    """One store of wide crops feeds every model: a 256-px model given 384-px images reads their
    left 256 columns, exactly as if given those; a 384-px model reads them all (96 frames)."""
    torch.manual_seed(0)
    images = torch.randint(0, 256, (2, 64, 384), dtype=torch.uint8)
    study_width, wide = CRNN("gru", cnn).eval(), CRNN("gru", cnn, width=384).eval()
    wide.load_state_dict(study_width.state_dict())  # the width is not in the weights
    with torch.no_grad():
        torch.testing.assert_close(study_width(images), study_width(images[..., :256]))
        assert wide(images).shape == (2, 96, 30)
        assert not torch.allclose(wide(images)[:, :64], study_width(images))  # the BiGRU saw the rest
    plain = StudyCRNN("gru", cnn, width=256).eval()
    plain.load_state_dict(study_width.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(plain(images), study_width(images), rtol=1e-4, atol=1e-4)
