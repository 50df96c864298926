"""Per-clip randomisation of everything the label does not depend on (issue 16, item 3).

A model should learn the action units, not the generator: the timing, intensity ratios, asymmetry,
warp, frame rate, optics, compression, lighting, head pose and occlusion vary from clip to clip and
never with the class. :class:`Variety` holds the ranges; its defaults reproduce the original
generator exactly (same seed, same bytes), and :meth:`Variety.varied` is the wide preset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .aus import RECIPE_TABLES

# Radial basis kernels of the dense field. "cubic" is left out: it folds the warp (negative Jacobian)
# at amplitudes the classes use, far more often than these two.
WARP_KERNELS = ("thin_plate_spline", "linear")
OCCLUDERS = ("glasses", "hand", "hair")


@dataclass(frozen=True)
class Variety:
    """Ranges drawn afresh for every clip. Defaults = the original generator.

    Attributes:
        au_ratio: (min, max) multiplier of each action unit's relative intensity inside a recipe.
        asymmetry: largest left/right gain difference: one side moves ``1 + a``, the other ``1 - a``
            times as much, ``a`` uniform in +-asymmetry (0 = symmetric).
        au_direction: each action unit's displacements turn (mirrored left/right) by an angle
            uniform in +-au_direction degrees (0 = the table's directions).
        au_noise: sd of the log of a smooth per-landmark gain of each action unit (0 = none).
        onset_seconds: (min, max) onset-to-apex duration; None = apex at 30-50 % of the span.
        hold_seconds: (min, max) time the apex is held (the annotated apex is the hold's middle).
        fps: (min, max) frame rate drawn per clip (log-uniform, whole frames per second);
            None = the dataset's fps.
        warp_steps: coarse-grid steps (pixels) of the dense field, one drawn per clip (larger = smoother).
        warp_kernels: radial basis kernels of the dense field, one drawn per clip.
        blur: (min, max) Gaussian blur sigma in pixels (defocus / soft optics).
        noise: (min, max) sensor noise sigma in grey levels.
        jpeg_quality: (min, max) JPEG quality per clip for frame folders; None = the dataset's.
        crf: (min, max) x264 CRF per clip for mp4 files; None = the dataset's.
        lighting: scale of the brightness drift and gradient ranges (1 = original).
        drift_px: (min, max) largest head translation in pixels over a clip.
        roll_degrees: (min, max) largest slow head roll over a clip.
        tilt_degrees: a constant in-plane head rotation uniform in +-tilt_degrees.
        shake_px: (min, max) sd in pixels of frame-to-frame camera shake (a hand-held phone).
        recipes: which action-unit table a class draws its recipe from: ``original``
            (:data:`~train.synth.aus.RECIPES`) or ``extended`` (:data:`~train.synth.aus.EXTENDED_RECIPES`).
        occlusion: probability that a clip has a partial occluder (glasses, a hand or hair at one side).
        unfold: smooth a clip's dense field further (coarser grid) until it does not fold over itself.
    """

    au_ratio: tuple[float, float] = (0.7, 1.3)
    asymmetry: float = 0.0
    au_direction: float = 0.0
    au_noise: float = 0.0
    onset_seconds: tuple[float, float] | None = None
    hold_seconds: tuple[float, float] = (0.0, 0.0)
    fps: tuple[float, float] | None = None
    warp_steps: tuple[int, ...] = (4,)
    warp_kernels: tuple[str, ...] = ("thin_plate_spline",)
    blur: tuple[float, float] = (0.0, 0.0)
    noise: tuple[float, float] = (0.5, 2.0)
    jpeg_quality: tuple[int, int] | None = None
    crf: tuple[int, int] | None = None
    lighting: float = 1.0
    drift_px: tuple[float, float] = (0.3, 3.0)
    roll_degrees: tuple[float, float] = (0.0, 0.8)
    tilt_degrees: float = 0.0
    shake_px: tuple[float, float] = (0.0, 0.0)
    recipes: str = "original"
    occlusion: float = 0.0
    unfold: bool = False

    def __post_init__(self) -> None:
        problems = []

        def check_range(name: str, lo_bound: float, hi_bound: float) -> None:
            value = getattr(self, name)
            if value is None:
                return
            lo, hi = value
            if not lo_bound <= lo <= hi <= hi_bound:
                problems.append(f"variety.{name} must be a range within [{lo_bound}, {hi_bound}] (got {lo}..{hi})")

        check_range("au_ratio", 0.0, 5.0)
        check_range("onset_seconds", 0.005, 5.0)
        check_range("hold_seconds", 0.0, 5.0)
        check_range("fps", 1.0, 1000.0)
        check_range("blur", 0.0, 10.0)
        check_range("noise", 0.0, 50.0)
        check_range("jpeg_quality", 1, 100)
        check_range("crf", 0, 51)
        check_range("drift_px", 0.0, 100.0)
        check_range("roll_degrees", 0.0, 45.0)
        check_range("shake_px", 0.0, 20.0)
        if self.recipes not in RECIPE_TABLES:
            problems.append(f"variety.recipes must be one of {sorted(RECIPE_TABLES)} (got {self.recipes!r})")
        if not 0.0 <= self.au_direction <= 45.0:
            problems.append(f"variety.au_direction must be in [0, 45] degrees (got {self.au_direction})")
        if not 0.0 <= self.au_noise <= 1.0:
            problems.append(f"variety.au_noise must be in [0, 1] (got {self.au_noise})")
        if not 0.0 <= self.asymmetry < 1.0:
            problems.append(f"variety.asymmetry must be in [0, 1) (got {self.asymmetry})")
        if not self.warp_steps or any(not 1 <= s <= 32 for s in self.warp_steps):
            problems.append(f"variety.warp_steps must be 1..32 pixels (got {self.warp_steps})")
        if not self.warp_kernels or any(k not in WARP_KERNELS for k in self.warp_kernels):
            problems.append(f"variety.warp_kernels must be some of {WARP_KERNELS} (got {self.warp_kernels})")
        if not 0.0 <= self.lighting <= 10.0:
            problems.append(f"variety.lighting must be in [0, 10] (got {self.lighting})")
        if not 0.0 <= self.tilt_degrees <= 45.0:
            problems.append(f"variety.tilt_degrees must be in [0, 45] (got {self.tilt_degrees})")
        if not 0.0 <= self.occlusion <= 1.0:
            problems.append(f"variety.occlusion must be a probability (got {self.occlusion})")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def varied(cls, **overrides) -> Variety:
        """The wide preset of issue 16 (onset 40-250 ms, 25-200 fps, asymmetry, occlusion, ...)."""
        ranges = {
            "au_ratio": (0.5, 1.5),
            "asymmetry": 0.35,
            "onset_seconds": (0.04, 0.25),
            "hold_seconds": (0.0, 0.1),
            "fps": (25.0, 200.0),
            "warp_steps": (3, 4, 6, 8),
            "warp_kernels": WARP_KERNELS,
            "blur": (0.0, 1.2),
            "noise": (0.3, 4.0),
            "jpeg_quality": (60, 95),
            "crf": (18, 30),
            "lighting": 2.0,
            "drift_px": (0.3, 6.0),
            "roll_degrees": (0.0, 3.0),
            "tilt_degrees": 10.0,
            "shake_px": (0.0, 0.8),
            "recipes": "extended",
            "occlusion": 0.3,
            "unfold": True,
        }
        return cls(**(ranges | overrides))


@dataclass(frozen=True)
class ClipStyle:
    """What was drawn for one clip from a :class:`Variety` (recorded beside the clip's annotation)."""

    warp_step: int = 4
    warp_kernel: str = "thin_plate_spline"
    blur: float = 0.0
    asymmetry: float = 0.0
    tilt: float = 0.0
    occluder: str = ""


def pick(rng: np.random.Generator, options: tuple):
    """One of ``options``; draws nothing when there is only one (so defaults keep old random streams)."""
    return options[0] if len(options) == 1 else options[int(rng.integers(len(options)))]


def draw_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Uniform in ``bounds``; draws nothing for a single value (so defaults keep old random streams)."""
    lo, hi = bounds
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


def draw_fps(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A whole frame rate, log-uniform in ``bounds`` (25, 30, 60, 120, 200 fps cameras all occur)."""
    lo, hi = bounds
    if lo == hi:
        return float(lo)
    return float(min(max(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))), math.ceil(lo)), math.floor(hi)))


def draw_timing(
    rng: np.random.Generator,
    span: int,
    fps: float,
    onset_seconds: tuple[float, float],
    hold_seconds: tuple[float, float],
) -> tuple[int, int, int]:
    """(rise, hold, fall) frame counts of a ``span``-frame expression: rise >= 1, fall >= 1, all summing to span."""
    rise = max(1, round(rng.uniform(*onset_seconds) * fps))
    rise = min(rise, span - 1)
    hold = round(draw_uniform(rng, hold_seconds) * fps)
    hold = max(0, min(hold, span - rise - 1))
    return rise, hold, span - rise - hold
