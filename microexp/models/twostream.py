"""Two-stream 3D-CNN: an appearance stream on the frames and a motion stream on frame differences.

Follows the two-stream idea of the second reference (appearance + motion, fused before the
classifier). The motion stream sees ``x[:, :, 1:] - x[:, :, :-1]`` (T-1 frames), computed inside
the model so both streams share one input spec and one preprocessing path.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import InputSpec
from .base import MicroExpModel, register
from .blocks import Dropout, SpatioTemporalBlock, keras_normal_


@register("twostream")
class MicroExpTwoStream(MicroExpModel):
    """``forward(face)`` -> logits; appearance and motion features concatenated before the dense layers."""

    def __init__(
        self,
        input_spec: InputSpec | None = None,
        filters: int = 16,
        kernel: tuple[int, int, int] = (9, 3, 3),
        pool: int = 3,
        hidden: int = 128,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.arch = "twostream"
        self.spec = InputSpec.from_dict(input_spec) if input_spec is not None else InputSpec()
        if len(self.spec.regions) != 1:
            raise ValueError(f"MicroExpTwoStream takes one region, got {self.spec.regions}")
        size = self.spec.size_of(self.spec.regions[0])
        kernel = tuple(kernel)
        self.appearance = SpatioTemporalBlock(self.spec.channels, filters, kernel, pool)
        self.motion = SpatioTemporalBlock(self.spec.channels, filters, kernel, pool)
        features = self.appearance.out_features(self.spec.frames, size) + self.motion.out_features(
            self.spec.frames - 1, size
        )
        self.dropout = Dropout(dropout)
        self.fc1 = keras_normal_(nn.Linear(features, hidden))
        self.fc2 = keras_normal_(nn.Linear(hidden, self.spec.num_classes))

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        motion = face[:, :, 1:] - face[:, :, :-1]
        feats = torch.cat(
            [self.dropout(self.appearance(face)).flatten(1), self.dropout(self.motion(motion)).flatten(1)], dim=1
        )
        return self.fc2(self.dropout(torch.relu(self.fc1(feats))))
