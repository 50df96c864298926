"""The spatiotemporal block every paper network is built from: Conv3d -> ReLU -> MaxPool3d.

Layout is PyTorch's (N, C, T, H, W). The paper's "3x3x15" kernel is Keras (H, W, T) with time
last, i.e. ``kernel=(15, 3, 3)`` here. ReLU and max-pool commute, so the order inside the
block does not change the result.

``SpatioTemporalBlock.forward`` dispatches to :mod:`microexp.models.fast` (same parameters, same
numbers, several times faster on CPU); ``reference_forward`` is the plain PyTorch path, also chosen by
``fast.set_mode("reference")`` or ``with fast.fast_mode("reference"):``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import fast


class SpatioTemporalBlock(nn.Module):
    """``relu(maxpool(conv3d(x)))`` with Keras-style glorot-uniform weights and zero bias."""

    def __init__(self, in_channels: int, filters: int, kernel: tuple[int, int, int], pool: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, filters, kernel_size=tuple(kernel))
        self.pool = pool
        self.precision: str | None = None  # fast-path precision; None follows fast.get_config()
        nn.init.xavier_uniform_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def out_shape(self, frames: int, size: int) -> tuple[int, int, int, int]:
        """(C, T, H, W) after conv ('valid') and pool (stride = size, 'valid')."""
        kt, kh, kw = self.conv.kernel_size
        t, h, w = frames - kt + 1, size - kh + 1, size - kw + 1
        if min(t, h, w) < self.pool:
            raise ValueError(f"input {frames}x{size}x{size} too small for kernel {self.conv.kernel_size} and pool {self.pool}")
        return (self.conv.out_channels, t // self.pool, h // self.pool, w // self.pool)

    def out_features(self, frames: int, size: int) -> int:
        return math.prod(self.out_shape(frames, size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fast.should_use(self.conv, self.pool, x):
            return fast.spatiotemporal_block(x, self.conv.weight, self.conv.bias, self.pool, self.precision)
        return self.reference_forward(x)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Plain ``Conv3d -> max_pool3d -> ReLU`` (any device, dtype and conv settings)."""
        return torch.relu(nn.functional.max_pool3d(self.conv(x), self.pool))


class Dropout(nn.Dropout):
    """``nn.Dropout`` with the mask drawn as ``uniform >= p``: the same distribution and scaling, several
    times faster on CPU, where ``bernoulli_`` draws element by element (bench/README.md). Seeded runs draw
    other masks than ``nn.Dropout``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p >= 1.0:
            return x * 0.0
        keep = (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * keep


def keras_normal_(layer: nn.Linear, std: float = 0.05) -> nn.Linear:
    """Keras ``RandomNormal(0, 0.05)`` weights and zero bias, as the original dense layers."""
    nn.init.normal_(layer.weight, 0.0, std)
    nn.init.zeros_(layer.bias)
    return layer


def keras_glorot_(layer: nn.Linear) -> nn.Linear:
    """Keras default dense initialisation: glorot-uniform weights, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer
