"""Scenes: real-looking motion around the expressions, on the same photos as ``train.synth``.

On real video, talking, blinking, head motion and held macro-expressions move the face far more than
a micro-expression does. This package synthesises those motions (``motions``), renders them with
synth's warps (``render``), and writes two datasets: long clips for spotting (``long``,
``python -m train synth-long``) and short recognition clips with the micro-expression among the
distractors (``short``, ``python -m train synth-scenes``). Everything here is synthetic.
"""

from .long import COLUMNS, LongClip, LongConfig, generate_long, make_long_clip, plan_long
from .motions import Event, Layer, Scene
from .plan import KINDS
from .short import SceneClip, SceneConfig, generate_scenes, make_scene_clip, plan_short

__all__ = [
    "COLUMNS",
    "KINDS",
    "Event",
    "Layer",
    "LongClip",
    "LongConfig",
    "Scene",
    "SceneClip",
    "SceneConfig",
    "generate_scenes",
    "make_scene_clip",
    "plan_short",
    "generate_long",
    "make_long_clip",
    "plan_long",
]
