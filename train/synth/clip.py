"""One clip: a neutral face brought to life by one micro-expression under the common nuisances.

:func:`make_clip` draws the timing, recipe and amplitude, builds the expression's dense field once,
and :func:`render` inverse-maps every output pixel through head pose, expression and blink to the
neutral photo.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .aus import RECIPE_TABLES, RECIPES, landmark_displacement, parse_recipe
from .geometry import Geometry
from .nuisances import Nuisance, bump_curve, draw_nuisances
from .occlusion import Occluder, composite, draw_occluder
from .variety import ClipStyle, Variety, draw_timing, draw_uniform, pick
from .warp import blink_source, dense_field, unfolded_field


@dataclass(frozen=True)
class SynthClip:
    """One generated clip. Unpacks as ``frames, onset, apex, offset = clip``.

    Attributes:
        frames: (N, H, W, 3) uint8 RGB.
        onset, apex, offset: 0-based frame indices (the csv writes them 1-based).
        fps: frame rate.
        label: class label, or ``""`` when made from an explicit recipe.
        aus: the recipe actually used (``AU6+AU12``).
        amplitude: apex displacement / IOD of the most displaced landmark.
        blinks: (start, end) 0-based frame index pairs of each blink.
        landmark_shift: (478, 2) apex landmark displacement in pixels (the ground truth of the warp).
        style: what was drawn from the :class:`Variety` (warp, blur, asymmetry, tilt, occluder).
    """

    frames: np.ndarray
    onset: int
    apex: int
    offset: int
    fps: float
    label: str
    aus: str
    amplitude: float
    blinks: tuple[tuple[int, int], ...]
    landmark_shift: np.ndarray
    style: ClipStyle = dataclasses.field(default_factory=ClipStyle)

    def __iter__(self):
        return iter((self.frames, self.onset, self.apex, self.offset))


def _frames_range(rng: np.random.Generator, fps: float, lo: float, hi: float) -> int:
    a, b = math.ceil(lo * fps - 1e-9), math.floor(hi * fps + 1e-9)
    if b < a:
        raise ValueError(f"no whole number of frames at {fps} fps lasts between {lo} and {hi} s")
    return int(rng.integers(a, b + 1))


def make_clip(
    photo_rgb: np.ndarray,
    landmarks: np.ndarray,
    expression: str,
    rng: np.random.Generator | int | None = None,
    *,
    fps: float = 30.0,
    seconds: float | tuple[float, float] = (1.5, 2.5),
    me_seconds: tuple[float, float] = (0.2, 0.5),
    amplitude: float | tuple[float, float] = (0.035, 0.08),
    nuisances: bool = True,
    variety: Variety | None = None,
) -> SynthClip:
    """Animate one neutral face: a micro-expression at a random time, plus (optionally) nuisances.

    Args:
        photo_rgb: (H, W, 3) uint8 neutral face (see :func:`frame_face`); the frames have its size.
        landmarks: (478, 2+) its landmarks in pixels.
        expression: a class of :data:`RECIPES` (a recipe variant is drawn) or an explicit recipe
            such as ``"AU12"`` or ``"AU6+AU12"`` (used as given: no intensity jitter, no asymmetry).
        rng: generator or seed.
        fps: frame rate.
        seconds: clip length, or a (min, max) range to draw from.
        me_seconds: (min, max) onset-to-offset duration; whole frames within it are drawn.
        amplitude: largest apex landmark displacement / IOD, or a (min, max) range.
        nuisances: head drift, blinks, lighting change and sensor noise; off, the only change in
            the clip is the expression (first and last frames equal the photo), whatever ``variety`` says
            about them.
        variety: per-clip randomisation ranges; None (``Variety()``) draws what the original generator drew.

    Returns:
        A :class:`SynthClip`; ``frames, onset, apex, offset = clip`` (0-based indices).
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    variety = Variety() if variety is None else variety
    if expression in RECIPES:
        label = expression
        aus = str(rng.choice(RECIPE_TABLES[variety.recipes][expression]))
        au_rng = rng
    else:
        label, aus, au_rng = "", "+".join(f"AU{a}" for a in parse_recipe(expression)), None
    length = rng.uniform(*seconds) if isinstance(seconds, (tuple, list)) else float(seconds)
    amp = float(rng.uniform(*amplitude)) if isinstance(amplitude, (tuple, list)) else float(amplitude)
    n = max(3, round(length * fps))
    span = _frames_range(rng, fps, *me_seconds)
    margin = max(1, round(0.1 * fps))
    if span + 2 * margin >= n:
        raise ValueError(f"a {n}-frame clip is too short for a {span}-frame micro-expression")
    onset = int(rng.integers(margin, n - margin - span))
    offset = onset + span
    if variety.onset_seconds is None:
        rise, hold = max(1, min(span - 1, round(span * rng.uniform(0.3, 0.5)))), 0
    else:
        rise, hold, _ = draw_timing(rng, span, fps, variety.onset_seconds, variety.hold_seconds)
    apex = onset + rise + hold // 2  # the annotated apex: the middle of the held peak
    course = bump_curve(n, onset, onset + rise, offset, hold)
    h, w = photo_rgb.shape[:2]
    geo = Geometry(landmarks)
    asym = variety.asymmetry if au_rng is not None else 0.0
    shift = landmark_displacement(
        landmarks, aus, amp, au_rng, ratio=variety.au_ratio, asymmetry=asym,
        direction_degrees=variety.au_direction, magnitude_noise=variety.au_noise,
    )  # fmt: skip
    nz = draw_nuisances(
        rng, n, fps, nuisances, drift_px=variety.drift_px, roll_degrees=variety.roll_degrees,
        lighting=variety.lighting, noise=variety.noise, tilt_degrees=variety.tilt_degrees,
        shake_px=variety.shake_px,
    )  # fmt: skip
    # Drawn only when the variety asks for them, so the default keeps the original random stream.
    step, kernel = pick(rng, variety.warp_steps), pick(rng, variety.warp_kernels)
    blur = draw_uniform(rng, variety.blur) if nuisances else 0.0
    occluded = variety.occlusion > 0 and rng.random() < variety.occlusion
    occluder = draw_occluder(rng, photo_rgb, geo) if occluded else None
    if variety.unfold:
        field, step = unfolded_field(landmarks, shift, (w, h), step=step, kernel=kernel)
    else:
        field = dense_field(landmarks, shift, (w, h), step=step, kernel=kernel)
    frames = render(photo_rgb, geo, field, course, nz, rng, blur=blur, occluder=occluder)
    style = ClipStyle(
        warp_step=step, warp_kernel=kernel, blur=blur, asymmetry=_asymmetry_of(shift, geo) if asym else 0.0,
        tilt=float(nz.angle[0]) if variety.tilt_degrees > 0 and nuisances else 0.0,
        occluder=occluder.kind if occluder is not None else "",
    )  # fmt: skip
    return SynthClip(
        frames, onset, apex, offset, float(fps), label, aus, amp, nz.blinks, shift.astype(np.float32), style
    )


def _asymmetry_of(shift: np.ndarray, geo: Geometry) -> float:
    """(right - left) / (right + left) of the summed landmark displacement magnitudes (0 = symmetric)."""
    mag = np.linalg.norm(shift, axis=1)
    right, left = mag[geo.side > 0].sum(), mag[geo.side < 0].sum()
    return float((right - left) / max(right + left, 1e-9))


def render(
    photo: np.ndarray,
    geo: Geometry,
    field: np.ndarray,
    course: np.ndarray,
    nz: Nuisance,
    rng: np.random.Generator,
    *,
    blur: float = 0.0,
    occluder: Occluder | None = None,
) -> np.ndarray:
    """Frames of one clip: inverse-map each output pixel to the neutral photo and sample it.

    Per frame: head pose, expression and blink warps; then the occluder (moved with the head), blur,
    lighting and sensor noise, in the order a camera sees them.
    """
    n = len(course)
    h, w = photo.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xs = ((np.arange(w, dtype=np.float32) - (w - 1) / 2) / w)[None, :]  # -0.5..0.5, lighting gradient
    ys = ((np.arange(h, dtype=np.float32) - (h - 1) / 2) / h)[:, None]
    centre = (float(geo.frame.origin[0]), float(geo.frame.origin[1]))
    # Sensor noise: a small bank of Gaussian frames, read at random offsets (drawing a fresh
    # normal frame for every frame would cost more than all the warping).
    pad = 32
    bank = rng.standard_normal((2, h + pad, w + pad, 3), dtype=np.float32) * np.float32(nz.noise)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        a = np.float32(course[i])
        m = cv2.getRotationMatrix2D(centre, float(nz.angle[i]), 1.0 + float(nz.zoom[i]))
        m[:, 2] += nz.shift[i]
        if a == 0 and nz.closure[i] == 0:
            if nz.enabled:
                img = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
            else:
                img = photo
        else:
            # Head pose: output pixel p -> neutral-face point q = A^-1 p (A rotates/scales about the eyes).
            inv = cv2.invertAffineTransform(m).astype(np.float32)
            qx = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
            qy = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
            if a > 0:
                # Expression: solve q = r + a*F(r) for r by fixed-point steps (F is smooth and small).
                rx, ry = qx, qy
                for _ in range(2):
                    f = cv2.remap(field, rx, ry, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                    rx, ry = qx - a * f[..., 0], qy - a * f[..., 1]
                qx, qy = rx, ry
            if nz.closure[i] > 0:
                qx, qy = blink_source(qx, qy, geo, float(nz.closure[i]))
            img = cv2.remap(photo, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        if occluder is not None:
            img = composite(img, occluder, m if nz.enabled else None)
        if blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), blur)
        if nz.enabled:
            g = np.float32([nz.gain[i], *nz.gradient[i]])
            light = (g[0] + g[1] * xs) + g[2] * ys  # (H, W) by broadcasting
            dy, dx = rng.integers(0, pad + 1, size=2)
            noisy = img.astype(np.float32) * light[..., None] + bank[i % 2, dy : dy + h, dx : dx + w]
            noisy += 0.5  # round to nearest on the truncating cast below
            out[i] = np.clip(noisy, 0, 255, out=noisy)
        else:
            out[i] = img
    return out
