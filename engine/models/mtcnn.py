"""MTCNN face detector networks (Zhang et al. 2016): P-Net, R-Net, O-Net in plain PyTorch.

The layer stacks mirror the Keras models of the MIT-licensed ``mtcnn`` package v1.0.0 exactly, so its
trained weights (converted once by ``tools/convert_mtcnn.py``) reproduce its outputs:

- Keras ``MaxPooling2D(padding="same")`` pads asymmetrically (extra row/column at the end) with -inf;
  :func:`_pool_same` does the same, ``nn.MaxPool2d(ceil_mode=True)`` would not always.
- Keras flattens NHWC after ``Permute((2, 1, 3))``, i.e. in (W, H, C) order; :func:`_keras_flatten`
  reproduces that order so the dense weights are used unchanged (only transposed).

Inputs are images (B, 3, H, W) normalised as (x - 127.5) / 128. Outputs: box regression (and
landmarks, O-Net) plus the face probability (softmax over [not face, face]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_network


def _pool_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Max pooling with TensorFlow's "same" padding (output = ceil(in / stride), extra pad at the end)."""
    pads = []
    for size in (x.shape[3], x.shape[2]):  # F.pad order: last dim first
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    if any(pads):
        x = F.pad(x, pads, value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


def _keras_flatten(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, W*H*C) in the element order of Keras ``Permute((2, 1, 3))`` + ``Flatten``."""
    return x.permute(0, 3, 2, 1).flatten(1)


@register_network("mtcnn.PNet")
class PNet(nn.Module):
    """Proposal network: fully convolutional, a 12x12 window per output cell, stride 2."""

    @dataclass
    class Config:
        channels: tuple[int, int, int] = (10, 16, 32)

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = config = config or self.Config()
        c1, c2, c3 = config.channels
        self.conv1, self.prelu1 = nn.Conv2d(3, c1, 3), nn.PReLU(c1)
        self.conv2, self.prelu2 = nn.Conv2d(c1, c2, 3), nn.PReLU(c2)
        self.conv3, self.prelu3 = nn.Conv2d(c2, c3, 3), nn.PReLU(c3)
        self.box = nn.Conv2d(c3, 4, 1)
        self.cls = nn.Conv2d(c3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (box offsets (B, 4, h, w), face probability (B, h, w))."""
        x = _pool_same(self.prelu1(self.conv1(x)), 2, 2)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.box(x), F.softmax(self.cls(x), dim=1)[:, 1]


@register_network("mtcnn.RNet")
class RNet(nn.Module):
    """Refinement network on 24x24 crops."""

    @dataclass
    class Config:
        channels: tuple[int, int, int] = (28, 48, 64)
        hidden: int = 128

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = config = config or self.Config()
        c1, c2, c3 = config.channels
        self.conv1, self.prelu1 = nn.Conv2d(3, c1, 3), nn.PReLU(c1)
        self.conv2, self.prelu2 = nn.Conv2d(c1, c2, 3), nn.PReLU(c2)
        self.conv3, self.prelu3 = nn.Conv2d(c2, c3, 2), nn.PReLU(c3)
        self.fc4, self.prelu4 = nn.Linear(c3 * 3 * 3, config.hidden), nn.PReLU(config.hidden)
        self.box = nn.Linear(config.hidden, 4)
        self.cls = nn.Linear(config.hidden, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, 24, 24) -> (box offsets (B, 4), face probability (B,))."""
        if x.shape[-2:] != (24, 24):
            raise ValueError(f"RNet expects (B, 3, 24, 24) crops, got {tuple(x.shape)}")
        x = _pool_same(self.prelu1(self.conv1(x)), 3, 2)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2)
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.fc4(_keras_flatten(x)))
        return self.box(x), F.softmax(self.cls(x), dim=1)[:, 1]


@register_network("mtcnn.ONet")
class ONet(nn.Module):
    """Output network on 48x48 crops: box, 5 landmarks (x1..x5, y1..y5 relative to the crop) and score."""

    @dataclass
    class Config:
        channels: tuple[int, int, int, int] = (32, 64, 64, 128)
        hidden: int = 256

    def __init__(self, config: Config | None = None):
        super().__init__()
        self.config = config = config or self.Config()
        c1, c2, c3, c4 = config.channels
        self.conv1, self.prelu1 = nn.Conv2d(3, c1, 3), nn.PReLU(c1)
        self.conv2, self.prelu2 = nn.Conv2d(c1, c2, 3), nn.PReLU(c2)
        self.conv3, self.prelu3 = nn.Conv2d(c2, c3, 3), nn.PReLU(c3)
        self.conv4, self.prelu4 = nn.Conv2d(c3, c4, 2), nn.PReLU(c4)
        self.fc5, self.prelu5 = nn.Linear(c4 * 3 * 3, config.hidden), nn.PReLU(config.hidden)
        self.box = nn.Linear(config.hidden, 4)
        self.landmarks = nn.Linear(config.hidden, 10)
        self.cls = nn.Linear(config.hidden, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 3, 48, 48) -> (box offsets (B, 4), landmarks (B, 10), face probability (B,))."""
        if x.shape[-2:] != (48, 48):
            raise ValueError(f"ONet expects (B, 3, 48, 48) crops, got {tuple(x.shape)}")
        x = _pool_same(self.prelu1(self.conv1(x)), 3, 2)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2)
        x = _pool_same(self.prelu3(self.conv3(x)), 2, 2)
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.fc5(_keras_flatten(x)))
        return self.box(x), self.landmarks(x), F.softmax(self.cls(x), dim=1)[:, 1]
