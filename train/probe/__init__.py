"""An independent probe generator, for cross-generator tests of models trained on ``train.synth``.

It shares only the face photographs (``train.synth.load_faces``) with ``train.synth`` and differs in
every rendering choice: a piecewise-affine warp on a Delaunay triangulation of the face mesh
(``warp``), its own action-unit handles and recipes with per-AU intensities and asymmetry (``aus``),
a raised-cosine / hold / exponential-decay time course and its own nuisances (``render``), and
random H.264 crf or JPEG quality per clip (``generate``). Output loads with ``--data synthetic=DIR``.
"""

from .aus import LABELS, RECIPES
from .generate import ProbeConfig, generate_probe, main
from .render import ProbeClip, ProbeSettings, make_probe_clip

__all__ = [
    "LABELS", "RECIPES", "ProbeClip", "ProbeConfig", "ProbeSettings", "generate_probe", "main", "make_probe_clip",
]  # fmt: skip
