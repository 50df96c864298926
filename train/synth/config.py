"""The dataset configuration: everything that decides a synthetic dataset (same config, same bytes)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .aus import LABELS, RECIPES
from .photos import FACES_DIR
from .variety import Variety

# Columns of annotations.csv, in order.
COLUMNS = (
    "subject", "person", "clip", "onset", "apex", "offset", "label", "aus", "fps", "amplitude",
    "frames", "photo", "blinks", "width", "height",
)  # fmt: skip
# Extra columns written when a dataset draws a Variety other than the default (what each clip got).
STYLE_COLUMNS = ("quality", "warp_step", "warp_kernel", "blur", "asymmetry", "tilt", "occluder")
# The amplitude range of the varied preset (issue 16: 2-10 % of the inter-ocular distance).
VARIED_AMPLITUDE = (0.02, 0.10)


def head_problems(config) -> list[str]:
    """What is wrong with ``clips``, ``labels`` and ``fps`` of any generator config (synth, scenes)."""
    problems = []
    if config.clips < 1:
        problems.append(f"clips must be >= 1 (got {config.clips})")
    if not config.labels or any(lab not in RECIPES for lab in config.labels):
        problems.append(f"labels must be a non-empty subset of {list(RECIPES)} (got {list(config.labels)})")
    if not 1.0 <= config.fps <= 1000.0:
        problems.append(f"fps must be in [1, 1000] (got {config.fps})")
    return problems


def range_problems(config, ranges: tuple[tuple[str, float, float], ...]) -> list[str]:
    """Each ``(name, lo_bound, hi_bound)``: the (lo, hi) field must satisfy lo_bound <= lo <= hi <= hi_bound."""
    problems = []
    for name, lo_bound, hi_bound in ranges:
        lo, hi = getattr(config, name)
        if not lo_bound <= lo <= hi <= hi_bound:
            problems.append(f"{name} must be a range within [{lo_bound}, {hi_bound}] (got {lo}..{hi})")
    return problems


def probability_problems(config, names: tuple[str, ...]) -> list[str]:
    """Each named field must be a probability."""
    return [
        f"{name} must be a probability in [0, 1] (got {getattr(config, name)})"
        for name in names
        if not 0.0 <= getattr(config, name) <= 1.0
    ]


def tail_problems(config) -> list[str]:
    """What is wrong with ``size``, ``subjects_per_person`` and ``format`` of any generator config."""
    problems = []
    if not (64 <= config.size[0] <= 4096 and 64 <= config.size[1] <= 4096):
        problems.append(f"size must be between 64 and 4096 pixels per side (got {config.size})")
    if config.subjects_per_person < 1:
        problems.append("subjects_per_person must be >= 1")
    if getattr(config, "morphs", 0) < 0:
        problems.append("morphs must be >= 0")
    if config.format not in ("jpg", "mp4"):
        problems.append(f"format must be jpg or mp4 (got {config.format!r})")
    return problems


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides a synthetic dataset; same config (incl. seed) -> same bytes.

    Attributes:
        clips: number of clips.
        seed: master seed; clip ``i`` uses its own generator seeded by ``(seed, i)``.
        labels: classes to make (keys of :data:`RECIPES`); clips are balanced across them.
        fps: frame rate.
        seconds: (min, max) clip length in seconds.
        me_seconds: (min, max) onset-to-offset duration of the micro-expression.
        amplitude: (min, max) apex displacement, as the largest landmark displacement over the IOD.
        size: (width, height) of the frames.
        subjects_per_person: 1 = one subject per real person (honest LOSO); k > 1 adds procedural
            variants of each person as extra subjects (``train fit``'s LOSO groups them by person).
        nuisances: head drift, blinks, lighting change, sensor noise (off: the expression alone).
        format: ``jpg`` (frame folders) or ``mp4`` (H.264 files).
        jpeg_quality: JPEG quality of frame files.
        crf: x264 constant rate factor of mp4 files.
        faces_dir: folder of neutral face photographs (with an optional SOURCES.md table naming persons).
        morphs: this many blended identities (``train.synth.morph``: half-way between two people, one
            per pair) join the photographed ones as subjects of their own; protocols keep a morph out of
            training whenever one of its people is held out.
        variety: per-clip randomisation of everything the label does not depend on; the default
            reproduces the original generator, :meth:`varied` is the wide preset.
    """

    clips: int = 120
    seed: int = 0
    labels: tuple[str, ...] = LABELS
    fps: float = 30.0
    seconds: tuple[float, float] = (1.5, 2.5)
    me_seconds: tuple[float, float] = (0.2, 0.5)
    amplitude: tuple[float, float] = (0.035, 0.08)
    size: tuple[int, int] = (320, 240)
    subjects_per_person: int = 1
    nuisances: bool = True
    format: str = "jpg"
    jpeg_quality: int = 90
    crf: int = 18
    faces_dir: str = str(FACES_DIR)
    morphs: int = 0
    variety: Variety = field(default_factory=Variety)

    @classmethod
    def varied(cls, **overrides) -> SynthConfig:
        """The wide preset: :meth:`Variety.varied` and amplitudes of 2-10 % IOD (overridable)."""
        return cls(**({"amplitude": VARIED_AMPLITUDE, "variety": Variety.varied()} | overrides))

    def __post_init__(self) -> None:
        ranges = (("seconds", 0.1, 60.0), ("me_seconds", 0.01, 10.0), ("amplitude", 1e-4, 0.5))
        problems = head_problems(self) + range_problems(self, ranges)
        if self.me_seconds[1] + 0.2 > self.seconds[0]:
            problems.append("seconds must leave at least 0.2 s beside the longest micro-expression")
        problems += tail_problems(self)
        if not 1 <= self.jpeg_quality <= 100:
            problems.append("jpeg_quality must be in [1, 100]")
        for fps in (self.fps,) if self.variety.fps is None else self.variety.fps:
            if math.ceil(self.me_seconds[0] * fps - 1e-9) > math.floor(self.me_seconds[1] * fps + 1e-9):
                lo, hi = self.me_seconds
                problems.append(f"no whole number of frames at {fps:g} fps lasts {lo}-{hi} s (me_seconds)")
        if problems:
            raise ValueError("; ".join(problems))
