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

from .base import register
from .fusenet import MicroExpFuseNet
from .stcnn import MicroExpSTCNN


@register("stcnn-flow")
class MicroExpSTCNNFlow(MicroExpSTCNN):
    """``forward(face)`` takes (N, 3, T, H, W): grey, u, v per frame (``microexp.flow.signed_flow``)."""

    representation = "frames+flow"
    arch_name = "stcnn-flow"


@register("fusenet-intermediate-flow", "fusenet-late-flow")
class MicroExpFuseNetFlow(MicroExpFuseNet):
    """``forward(eyes, mouth)`` takes two (N, 3, T, H, W) tensors: grey, u, v per frame of each crop."""

    representations = ("frames+flow",)
    arch_suffix = "-flow"
