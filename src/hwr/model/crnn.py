"""The study's CRNN: three conv blocks, a 2-layer bidirectional GRU or LSTM, 64 steps x 30 classes.

Input: (N, 64, W) uint8 images (white background) or (N, 1, 64, W) floats already normalised; the
network reads their left ``width`` columns (256, the study's crop, unless the model was trained wider:
``train.runs.<name>.width``), so one store of wider crops feeds every model. Shapes through the
network (C x H x W) at the study's width:

    1 x 64 x 256 -> conv 3x3 (32) + BN + ReLU + maxpool 2x2  -> 32 x 32 x 128
                 -> conv 3x3 (64) + BN + ReLU + maxpool 2x2  -> 64 x 16 x 64
                 -> conv 3x3 (128) + BN + ReLU + maxpool 2x1 -> 128 x 8 x 64   (halves height only)
    -> 64 time steps (one per column) x 1024 features (128 x 8)
    -> Linear 1024->64 + ReLU -> 2-layer BiGRU/BiLSTM, hidden 512 -> Linear 1024->30

That is exactly 6,689,822 parameters with a GRU and 8,856,606 with an LSTM, the study's counts.
``CRNN(rnn, "wide")`` is a stronger variant (``ARCHITECTURES``, ``train.cnn``): four blocks of twice the
channels, 256 projected features, hidden size 256.

Three choices make it faster without changing the function or its gradients (a test compares both
against the study's network written plainly): each block max-pools before its ReLU (the two commute,
as ReLU is monotonic, and the ReLU then touches a 2-4x smaller tensor); the column features are read
in the order a channels_last tensor stores them, with the projection's weight columns reordered to
match, so its state_dict is the study's; on the CPU, each block's batch norm, max-pool and ReLU are
one operation (hwr.model.blocks; the first block's convolution included), and the GRU and LSTM are
hwr.model.recurrent's (their time loops in hwr's compiled kernels; the README gives their effect).
Every convolution has batch normalisation and He-normal initialisation, as in the study. The other
layers start as Keras would start them (Glorot-uniform weights, orthogonal recurrent weights, zero
biases, LSTM forget-gate bias 1), not with PyTorch's small uniform default: with PyTorch's default the
network emits only blanks for hundreds of steps longer before it learns its first characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hwr.core.alphabet import NUM_CLASSES
from hwr.core.layout import CNNS, RNNS
from hwr.data.images import HEIGHT, WIDTH
from hwr.model import blocks, recurrent

RECURRENT = dict(zip(RNNS, (recurrent.GRU, recurrent.LSTM)))  # layout.RNNS names the families


@dataclass(frozen=True)
class Architecture:
    """The sizes of a CRNN: conv blocks (output channels, max-pool), projected features, recurrent hidden size."""

    channels: tuple[int, ...]
    pools: tuple[tuple[int, int], ...]
    features: int
    hidden: int


# "study": the reference study's network. "wide": twice the channels and a fourth block, 256 projected
# features instead of 64 (the study's projection squeezes 1,024 column features through 64) and a
# smaller recurrent layer; it reads real scans better (docs/experiments.md), half the parameters, trained
# about as fast on the CPU (larger convolutions, smaller recurrent layers).
ARCHITECTURES = {
    "study": Architecture((32, 64, 128), ((2, 2), (2, 2), (2, 1)), features=64, hidden=512),
    "wide": Architecture((64, 128, 256, 256), ((2, 2), (2, 2), (2, 1), (2, 1)), features=256, hidden=256),
}
assert tuple(ARCHITECTURES) == CNNS


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W), white 255 -> float (N, 1, H, W) with ink 1 and background 0.

    Ink-positive input makes white padding exactly zero, so padding carries no signal."""
    return (1.0 - images.float() / 255.0).unsqueeze(1)


class CRNN(nn.Module):
    def __init__(self, rnn: str = "gru", cnn: str = "study", classes: int = NUM_CLASSES, width: int = WIDTH):
        super().__init__()
        if rnn not in RECURRENT:
            raise ValueError(f"unknown rnn {rnn!r}; choose gru or lstm")
        if cnn not in ARCHITECTURES:
            raise ValueError(f"unknown cnn {cnn!r}; choose one of {', '.join(ARCHITECTURES)}")
        self.rnn_type, self.cnn_type, self.width = rnn, cnn, width
        arch = ARCHITECTURES[cnn]

        def block(cin, cout, pool):
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # He normal
            nn.init.zeros_(conv.bias)
            # max-pool before ReLU: the same function and gradient (ReLU is monotonic), on a 2-4x smaller tensor
            return [conv, nn.BatchNorm2d(cout), nn.MaxPool2d(pool), nn.ReLU(inplace=True)]

        layers, height = [], HEIGHT
        for cin, cout, pool in zip((1, *arch.channels), arch.channels, arch.pools):
            layers += block(cin, cout, pool)
            height //= pool[0]
        self.cnn = nn.Sequential(*layers)
        self.project = nn.Sequential(nn.Linear(arch.channels[-1] * height, arch.features), nn.ReLU(inplace=True))
        self.rnn = RECURRENT[rnn](arch.features, arch.hidden, num_layers=2, bidirectional=True, batch_first=True)
        self.classify = nn.Linear(2 * arch.hidden, classes)
        self._init_dense_and_recurrent()

    def _init_dense_and_recurrent(self) -> None:
        for layer in (self.project[0], self.classify):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        hidden = self.rnn.hidden_size
        for name, weight in self.rnn.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(weight)
            elif name.startswith("weight_hh"):
                for gate in weight.data.split(hidden):  # one orthogonal matrix per gate
                    nn.init.orthogonal_(gate)
            else:
                nn.init.zeros_(weight)
        if self.rnn_type == "lstm":
            set_forget_bias(self, 1.0)  # as Keras does: the cell remembers by default at the start

    def forward(self, images: torch.Tensor, features: bool = False):
        """Images -> log-probabilities (N, width / 4, 30), (N, 64, 30) at the study's width (batch first;
        transpose to (T, N, C) for CTC).

        ``features=True`` also returns the projected column features (N, 64, 64) the recurrent
        layers read, for the training-only auxiliary head (hwr.training.trainer)."""
        images = images[..., : self.width]  # wider crops (a store or an ensemble's input): this model's left part
        x = normalise(images) if images.dtype == torch.uint8 else images
        layers = list(self.cnn)
        for conv, bn, pool in zip(layers[0::4], layers[1::4], layers[2::4]):  # (conv, BN, pool, ReLU) per block
            x = blocks.conv_bn_pool_relu(x, conv, bn, pool)  # the first block's conv included, on the CPU
        n, c, h, w = x.shape  # (N, 128, 8, 64) in the study's network
        # one step per column: (N, 64, 1024); features ordered (row, channel), the order a channels_last
        # tensor stores them in, so the copy moves whole rows of 128 channels
        x = x.permute(0, 3, 2, 1).reshape(n, w, h * c)
        linear = self.project[0]  # its weight's columns are ordered (channel, row), as in the study
        weight = linear.weight.view(-1, c, h).transpose(1, 2).reshape(-1, h * c)
        projected = torch.relu(nn.functional.linear(x, weight, linear.bias))
        x, _ = self.rnn(projected)
        # log_softmax over the class dimension (the study's fix for NaN weights); float32 for CTC
        log_probs = torch.log_softmax(self.classify(x).float(), dim=-1)
        return (log_probs, projected) if features else log_probs


class StudyCRNN(CRNN):
    """The same network written plainly, as the study describes it: conv -> BN -> ReLU -> max-pool,
    column features ordered (channel, row), torch's own GRU/LSTM. Same parameters and state_dict as
    CRNN; the reference the tests hold CRNN to, and the benchmarks' naive baseline."""

    def __init__(self, rnn: str = "gru", cnn: str = "study", width: int = WIDTH):
        super().__init__(rnn, cnn, width=width)
        layers = list(self.cnn)
        for i in range(0, len(layers), 4):  # (conv, BN, pool, ReLU) -> (conv, BN, ReLU, pool)
            layers[i + 2], layers[i + 3] = layers[i + 3], layers[i + 2]
        self.cnn = nn.Sequential(*layers)
        plain = {"gru": nn.GRU, "lstm": nn.LSTM}[rnn]
        self.rnn = plain(self.rnn.input_size, self.rnn.hidden_size, num_layers=2, bidirectional=True,
                         batch_first=True).to(self.rnn.weight_hh_l0.dtype)
        self._init_dense_and_recurrent()

    def forward(self, images: torch.Tensor, features: bool = False):
        images = images[..., : self.width]
        x = normalise(images) if images.dtype == torch.uint8 else images
        x = self.cnn(x)
        n, c, h, w = x.shape
        projected = self.project(x.permute(0, 3, 1, 2).reshape(n, w, c * h))
        x, _ = self.rnn(projected)
        log_probs = torch.log_softmax(self.classify(x).float(), dim=-1)
        return (log_probs, projected) if features else log_probs


def set_forget_bias(model: CRNN, value: float) -> None:
    """An LSTM CRNN's initial forget-gate bias (the second of the gates i, f, g, o in each bias_ih)."""
    hidden = model.rnn.hidden_size
    for name, weight in model.rnn.named_parameters():
        if name.startswith("bias_ih"):
            weight.data[hidden : 2 * hidden] = value


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
