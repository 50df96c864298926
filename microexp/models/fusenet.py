"""MicroExpFuseNet: two 3D-CNN branches on the eye and mouth crops, fused early or late.

Intermediate: per branch Conv3D(32, 3x3x15) -> ReLU -> MaxPool3D(3) -> Dropout -> Flatten;
concatenate -> Dense(1024) -> Dropout -> Dense(128) -> Dropout -> Dense(n).
Late: per branch block -> Dropout -> Flatten -> Dense(1024) -> Dropout -> Dense(128) -> Dropout;
concatenate (256) -> Dense(n).
In the original both Dense(1024) and Dense(128) have **no activation**; ``dense_activation=None``
keeps that (the default), ``"relu"`` is offered as a deliberate deviation.
32x32 regions, 3 classes: intermediate 6,694,915 (T=18) / 177,088,515 (T=96); late 6,827,523 /
177,221,123.
"""

from __future__ import annotations

import torch
from torch import nn

from ..spec import InputSpec
from .base import MicroExpModel, register
from .blocks import Dropout, SpatioTemporalBlock, keras_glorot_

FUSIONS = ("intermediate", "late")


def _head(in_features: int, widths: tuple[int, ...], dropout: float, activation: str | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(keras_glorot_(nn.Linear(in_features, width)))
        if activation == "relu":
            layers.append(nn.ReLU())
        layers.append(Dropout(dropout))
        in_features = width
    return nn.Sequential(*layers)


@register("fusenet-intermediate", "fusenet-late")
class MicroExpFuseNet(MicroExpModel):
    """Eyes + mouth 3D-CNN. ``forward(eyes, mouth)`` takes two (N, C, T, H, W) tensors.

    Args:
        input_spec: must name exactly two regions (``eyes``, ``mouth`` by default).
        fusion: ``intermediate`` (features concatenated before the dense layers) or ``late``
            (each branch has its own dense layers; their 128-d outputs are concatenated).
        filters, kernel, pool, dropout: as in :class:`~microexp.models.MicroExpSTCNN`.
        widths: dense layer widths after the block (per branch for late fusion).
        dense_activation: ``None`` (original, linear) or ``"relu"``.
    """

    # what the input spec may name, the first being the default, and the registry name's ending: a subclass changes
    # only these (MicroExpFuseNetFlow), so the constructor, which the Hub mixin reads for config.json, stays one
    representations: tuple[str, ...] = ("frames",)
    arch_suffix: str = ""

    def __init__(
        self,
        input_spec: InputSpec | None = None,
        fusion: str = "intermediate",
        filters: int = 32,
        kernel: tuple[int, int, int] = (15, 3, 3),
        pool: int = 3,
        widths: tuple[int, ...] = (1024, 128),
        dropout: float = 0.5,
        dense_activation: str | None = None,
    ) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if dense_activation not in (None, "relu"):
            raise ValueError("dense_activation must be None (original) or 'relu'")
        self.spec = (
            InputSpec.from_dict(input_spec)
            if input_spec is not None
            else InputSpec(regions=("eyes", "mouth"), representation=self.representations[0])
        )
        if len(self.spec.regions) != 2:
            raise ValueError(f"MicroExpFuseNet takes two regions, got {self.spec.regions}")
        if self.spec.representation not in self.representations:
            raise ValueError(f"{type(self).__name__} takes {self.representations}, got {self.spec.representation!r}")
        self.fusion = fusion
        self.arch = f"fusenet-{fusion}{self.arch_suffix}"
        widths = tuple(widths)
        self.branches = nn.ModuleList(  # C = spec.channels for frames; + u, v for frames+flow
            SpatioTemporalBlock(shape[0], filters, tuple(kernel), pool) for shape in self.spec.input_shapes()
        )
        self.dropout = Dropout(dropout)
        flat = [b.out_features(self.spec.frames, self.spec.size_of(r)) for b, r in zip(self.branches, self.spec.regions)]
        if fusion == "intermediate":
            self.head = _head(sum(flat), widths, dropout, dense_activation)
            self.classifier = keras_glorot_(nn.Linear(widths[-1], self.spec.num_classes))
        else:
            self.heads = nn.ModuleList(_head(f, widths, dropout, dense_activation) for f in flat)
            self.classifier = keras_glorot_(nn.Linear(widths[-1] * len(flat), self.spec.num_classes))

    def forward(self, *regions: torch.Tensor) -> torch.Tensor:
        if len(regions) != len(self.branches):
            raise ValueError(f"expected {len(self.branches)} region tensors {self.spec.regions}, got {len(regions)}")
        feats = [self.dropout(block(x)).flatten(1) for block, x in zip(self.branches, regions)]
        if self.fusion == "intermediate":
            return self.classifier(self.head(torch.cat(feats, dim=1)))
        return self.classifier(torch.cat([head(f) for head, f in zip(self.heads, feats)], dim=1))
