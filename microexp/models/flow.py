"""MicroExpFlowNet: an STSTNet-like shallow 2D CNN on onset -> apex optical flow and strain.

After STSTNet (Liong et al. 2019): three parallel 3x3 convolutions (3, 5 and 8 filters) over the
(u, v, strain) maps, ReLU, 3x3 max-pool with stride 3, 2x2 average pool, then a dense layer. Flow
already is the motion, so a few thousand parameters suffice, and few parameters leave little room
to memorise one generator's rendering.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import FLOW_SIZE, InputSpec
from .base import MicroExpModel, register
from .blocks import Dropout


@register("flow")
class MicroExpFlowNet(MicroExpModel):
    """``forward(face)`` takes (N, 3, 1, 28, 28), the flow layout of :mod:`microexp.flow` (T = 1 keeps the
    (N, C, T, H, W) convention of every model), and returns logits (N, classes).

    Args:
        input_spec: preprocessing contract; must name one region and ``representation="flow"``.
        filters: output channels of the three parallel 3x3 branches.
        dropout: dropout rate before the dense layer.
    """

    def __init__(
        self, input_spec: InputSpec | None = None, filters: tuple[int, ...] = (3, 5, 8), dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.arch = "flow"
        self.spec = InputSpec.from_dict(input_spec) if input_spec is not None else InputSpec(representation="flow")
        if len(self.spec.regions) != 1 or self.spec.representation != "flow":
            raise ValueError(
                f"MicroExpFlowNet takes one region as flow, got {self.spec.regions} as {self.spec.representation!r}"
            )
        channels = self.spec.input_shapes()[0][0]
        self.branches = nn.ModuleList(nn.Conv2d(channels, f, 3, padding=1) for f in filters)
        pooled = -(-FLOW_SIZE // 3) // 2  # max-pool 3/3 with padding 1 (28 -> 10), then avg-pool 2 (-> 5)
        self.dropout = Dropout(dropout)
        self.fc = nn.Linear(sum(filters) * pooled * pooled, self.spec.num_classes)

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        x = face[:, :, 0]  # (N, C, 1, H, W) -> (N, C, H, W)
        feats = [nn.functional.max_pool2d(torch.relu(conv(x)), 3, stride=3, padding=1) for conv in self.branches]
        x = nn.functional.avg_pool2d(torch.cat(feats, dim=1), 2)
        return self.fc(self.dropout(x.flatten(1)))
