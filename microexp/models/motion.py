"""The paper's networks on the ``frames+flow`` representation (frames and signed motion): STCNN and both FuseNets.

The frame models read WHERE the face moves (temporal-mean-removed grey frames carry the change but
not its direction clearly), the flow net reads WHICH WAY from one onset -> apex field; their errors
were complementary on the cross-generator probe (bench/README.md, "Signed optical flow against the
frames"). This model sees both in one input: per frame the normalised grey crop plus the signed DIS
flow (u, v) from the window's first frame, (3, T, 64, 64), through the unchanged STCNN layers (only
the first convolution has 3 input channels). The paper's STCNN itself (one grey channel) is untouched.
The FuseNet variants do the same per branch: the eye and the mouth crop each carry their own u, v, in percent
of ``inter_ocular`` x the crop's side (a region crop is scaled to its landmarks, so the unit is the region's,
the same for every face), each frame's median displacement over the crop removed.
"""

from __future__ import annotations

from ..spec import InputSpec
from .base import register
from .fusenet import MicroExpFuseNet
from .stcnn import MicroExpSTCNN


@register("stcnn-flow")
class MicroExpSTCNNFlow(MicroExpSTCNN):
    """``forward(face)`` takes (N, 3, T, H, W): grey, u, v per frame (``microexp.flow.signed_flow``)."""

    def __init__(
        self,
        input_spec: InputSpec | None = None,
        filters: int = 32,
        kernel: tuple[int, int, int] = (15, 3, 3),
        pool: int = 3,
        hidden: int = 128,
        dropout: float = 0.5,
    ) -> None:
        # every argument spelt out: the Hub mixin and config bounds read the signature, not **kwargs
        spec = InputSpec.from_dict(input_spec) if input_spec is not None else InputSpec(representation="frames+flow")
        if spec.representation != "frames+flow":
            raise ValueError(f"MicroExpSTCNNFlow takes the frames+flow representation, got {spec.representation!r}")
        super().__init__(spec, filters=filters, kernel=kernel, pool=pool, hidden=hidden, dropout=dropout)
        self.arch = "stcnn-flow"


@register("fusenet-intermediate-flow", "fusenet-late-flow")
class MicroExpFuseNetFlow(MicroExpFuseNet):
    """``forward(eyes, mouth)`` takes two (N, 3, T, H, W) tensors: grey, u, v per frame of each crop."""

    representations = ("frames+flow",)
    arch_suffix = "-flow"
