"""MicroExpSTCNN: the paper's single-stream 3D-CNN on the whole (aligned) face.

Original (Keras, time last): Conv3D(32, 3x3x15, relu) -> MaxPool3D(3) -> Dropout(0.5) -> Flatten
-> Dense(128, relu) -> Dropout(0.5) -> Dense(n) -> softmax. Dense weights ~ N(0, 0.05).
64x64, 3 classes: 1,643,267 parameters at T=18 and 44,241,667 at T=96.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import InputSpec
from .base import MicroExpModel, register
from .blocks import Dropout, SpatioTemporalBlock, keras_normal_


@register("stcnn")
class MicroExpSTCNN(MicroExpModel):
    """Single-region 3D-CNN. ``forward(face)`` takes (N, C, T, H, W) and returns logits (N, classes).

    Args:
        input_spec: preprocessing contract; must name exactly one region (``face`` by default).
        filters, kernel, pool: the spatiotemporal block; ``kernel`` is (T, H, W) for Table IX ablations.
        hidden: width of the dense layer.
        dropout: dropout rate after the block and after the dense layer.

    The same layers on another representation of the face are a subclass that sets :attr:`representation` (the
    one its spec must name, and its default spec's) and :attr:`arch_name` (its registry name); only the first
    convolution's input channels follow the spec. Plain STCNN names none and checks none.
    """

    representation: str | None = None
    arch_name: str = "stcnn"

    def __init__(
        self,
        input_spec: InputSpec | None = None,
        filters: int = 32,
        kernel: tuple[int, int, int] = (15, 3, 3),
        pool: int = 3,
        hidden: int = 128,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.arch = self.arch_name
        default = InputSpec() if self.representation is None else InputSpec(representation=self.representation)
        self.spec = InputSpec.from_dict(input_spec) if input_spec is not None else default
        if self.representation is not None and self.spec.representation != self.representation:
            raise ValueError(f"{type(self).__name__} takes the {self.representation} representation, "
                             f"got {self.spec.representation!r}")
        if len(self.spec.regions) != 1:
            raise ValueError(f"MicroExpSTCNN takes one region, got {self.spec.regions}")
        size = self.spec.size_of(self.spec.regions[0])
        channels = self.spec.input_shapes()[0][0]  # spec.channels for frames; + u, v for frames+flow
        self.block = SpatioTemporalBlock(channels, filters, tuple(kernel), pool)
        self.dropout = Dropout(dropout)
        self.fc1 = keras_normal_(nn.Linear(self.block.out_features(self.spec.frames, size), hidden))
        self.fc2 = keras_normal_(nn.Linear(hidden, self.spec.num_classes))

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.block(face)).flatten(1)
        x = self.dropout(torch.relu(self.fc1(x)))
        return self.fc2(x)

