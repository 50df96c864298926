"""The paper's STCNN on motion-magnified frames (the ``magnified`` representation).

The plain-frame networks read where the face moves more than which way: a 2-6 % IOD movement is half a pixel
to a pixel and a half on a 64 px crop, a faint intensity change after ``temporal_mean_zscore``. Geometric
motion magnification before the CNN (as in CASME II / SMIC / MEGC pipelines) turns it into a visible change of
shape (:func:`microexp.flow.magnify`). The input stays one grey channel, (1, T, S, S), so this class is the
paper's layers unchanged, with the same parameter count; only the input spec it accepts and the registry
name differ.
"""

from __future__ import annotations

from .base import register
from .stcnn import MicroExpSTCNN


@register("stcnn-mag")
class MicroExpSTCNNMag(MicroExpSTCNN):
    """``forward(face)`` takes (N, 1, T, H, W): the magnified, normalised grey frames."""

    representation = "magnified"
    arch_name = "stcnn-mag"
