"""Synthetic micro-expressions: labelled clips made from public-domain face photographs.

Real micro-expression datasets are licence-restricted, so the project's embedded default data and
its test media come from here. One clip is one still photograph brought to life:

1. MediaPipe finds the 478 landmarks of the neutral face once per photograph (``photos``).
2. An action-unit recipe (FACS-inspired, e.g. ``AU6+AU12`` for *positive*) displaces landmarks in
   face coordinates (``geometry``: x along the eye line, y towards the chin, unit = inter-ocular
   distance, IOD). The displacement is normalised so that its largest landmark displacement is
   ``amplitude * IOD`` (``aus``).
3. A smooth dense field is interpolated from those landmark displacements with a thin-plate spline
   on a coarse grid, pinned to zero on rings around the face and on the frame border (``warp``).
4. The field follows an onset-apex-offset time course of 0.2-0.5 s placed at a random time in a
   longer clip, under nuisances common to every class: slow head drift, blinks, global lighting
   change and sensor noise (``nuisances``, rendered by ``clip``); compression comes from writing
   JPEG frames or H.264 (``writer``, ``cli``: ``python -m train synth``).
5. Optionally (``variety``: ``SynthConfig.varied()``, ``--varied``) everything the label does not
   depend on is drawn per clip: AU ratios, left/right asymmetry, onset/hold/offset timing, fps,
   warp kernel and smoothness, blur, noise, compression, lighting, head drift and tilt, and a
   partial occluder (``occlusion``). The default draws exactly what the original generator drew.

Identities: 5 photos of 4 people. Procedural variants (flip, face width, skin tone, gamma, crop and
scale) can multiply the subjects, but variants of one person share that person's identity, so a
leave-one-subject-out split over variants alone would leak identity; every row of ``annotations.csv``
names its ``person``, and ``train fit``'s LOSO holds out every clip of the held-out subject's person
(``train.protocols.loso``). Blended identities (``morphs``, :mod:`train.synth.morph`) are persons
``a+b`` of their own. The default is one subject per person (``subjects_per_person=1``), no morphs.
Same seed, same bytes.

``media`` makes small real video files (face clips, rotated, VFR, audio-only, broken uploads) from
the same photos for tests and benchmarks.

Every name below is importable from ``train.synth``; other packages should import from here, not
from the modules, so the modules can be rearranged. The underscore aliases keep the names that
existed when this was one module.
"""

from __future__ import annotations

from train.generated import write_frames as _write_frames
from train.generated import write_mp4 as _write_mp4

from .aus import AU_FIELDS, AU_INTENSITY, EXTENDED_RECIPES, LABELS, RECIPES, au_field, landmark_displacement, parse_recipe, side_gain
from .aus import _bump as _bump
from .cli import _range as _range
from .cli import _size as _size
from .cli import build_parser, main
from .clip import SynthClip, make_clip, render
from .clip import _frames_range as _frames_range
from .config import (
    COLUMNS,
    STYLE_COLUMNS,
    VARIED_AMPLITUDE,
    SynthConfig,
    head_problems,
    probability_problems,
    range_problems,
    tail_problems,
)
from .geometry import Eye, FaceFrame, Geometry, parts_indices
from .geometry import _eye as _eye
from .nuisances import Nuisance, bump_curve, draw_nuisances, smooth_path
from .occlusion import Occluder, composite, draw_occluder, face_coverage
from .photos import (
    FACES_DIR,
    PHOTO_SUFFIXES,
    FacePhoto,
    Variant,
    frame_face,
    jitter,
    load_faces,
    persons_from_sources,
    random_variant,
    sources_table,
)
from .photos import _slug as _slug
from .variety import OCCLUDERS, WARP_KERNELS, ClipStyle, Variety, draw_fps, draw_timing
from .warp import blink_source, dense_field, min_jacobian, unfolded_field
from .writer import Subject, generate, make_subjects, subject_clips

# Names from when the generator was one module (train/synth.py); other branches still use them.
_au_field = au_field
_blink_source = blink_source
_bump_curve = bump_curve
_Eye = Eye
_FaceFrame = FaceFrame
_Geometry = Geometry
_jitter = jitter
_Nuisance = Nuisance
_nuisances = draw_nuisances
_parts_indices = parts_indices
_persons_from_sources = persons_from_sources
_render = render
_smooth_path = smooth_path
_Subject = Subject
_subjects = make_subjects

__all__ = [
    "AU_FIELDS",
    "AU_INTENSITY",
    "COLUMNS",
    "FACES_DIR",
    "LABELS",
    "OCCLUDERS",
    "PHOTO_SUFFIXES",
    "RECIPES",
    "EXTENDED_RECIPES",
    "STYLE_COLUMNS",
    "VARIED_AMPLITUDE",
    "WARP_KERNELS",
    "ClipStyle",
    "Eye",
    "FaceFrame",
    "FacePhoto",
    "Geometry",
    "Nuisance",
    "Occluder",
    "Subject",
    "SynthClip",
    "SynthConfig",
    "Variant",
    "Variety",
    "au_field",
    "blink_source",
    "build_parser",
    "bump_curve",
    "composite",
    "dense_field",
    "draw_fps",
    "draw_nuisances",
    "draw_occluder",
    "draw_timing",
    "face_coverage",
    "frame_face",
    "generate",
    "head_problems",
    "jitter",
    "landmark_displacement",
    "load_faces",
    "main",
    "make_clip",
    "make_subjects",
    "min_jacobian",
    "parse_recipe",
    "parts_indices",
    "persons_from_sources",
    "probability_problems",
    "random_variant",
    "range_problems",
    "render",
    "side_gain",
    "smooth_path",
    "sources_table",
    "subject_clips",
    "tail_problems",
    "unfolded_field",
]
