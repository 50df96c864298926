"""Distractor and expression motions as per-frame time courses, on one face.

Every motion is one of three kinds of per-frame signal, so motions compose by simple addition:

- a *non-rigid layer*: a landmark displacement (478, 2) in pixels at unit strength times a course
  (N,) of strengths; speech (jaw, lip rounding, lip stretching), macro- and micro-expressions;
- eyelid *closure* (N,) in 0..1, rendered by synth's blink model;
- rigid *pose* (N, 6): roll in degrees, log scale, translation (x, y) in pixels, and log squash along
  the eye line (a yaw proxy) and across it (a pitch proxy), about the point between the eyes.

Strength units: the speech and expression bases are normalised so that their most displaced landmark
moves by one inter-ocular distance (IOD) at strength 1; a course value of 0.1 is therefore a 10 % IOD
movement. Frame numbers here are 0-based and inclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from train.synth import EXTENDED_RECIPES, _bump_curve, _Geometry, landmark_displacement

# FACS head-movement codes for the ``aus`` column of head events.
HEAD_CODES = {"turn": "AU51+AU52", "nod": "AU53+AU54", "tilt": "AU55+AU56", "shift": "AU57+AU58"}
SPEECH_AUS = "AU25+AU26"  # lips part, jaw drop
BLINK_AUS = "AU45"
POSE_DIMS = 6  # roll deg, log scale, tx px, ty px, log squash along u, log squash along v
# MediaPipe lip contours, corner to corner. Named explicitly: with the mouth closed the inner
# contours touch, and a split by the line through the corners would put some on the wrong lip.
INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)


@dataclass(frozen=True)
class Event:
    """One annotated motion of a clip (0-based inclusive frames), as ``intervals.csv`` lists it.

    Attributes:
        kind: ``micro``, ``macro``, ``blink``, ``speech`` or ``head``.
        onset, apex, offset: frames where it starts, peaks and ends.
        label: MEGC class of ``micro`` and ``macro`` events, ``""`` otherwise.
        aus: the action units (FACS head codes for ``head``, AU45 for blinks).
    """

    kind: str
    onset: int
    apex: int
    offset: int
    label: str = ""
    aus: str = ""


@dataclass(frozen=True)
class Layer:
    """A non-rigid motion: ``shift * course[i]`` is its landmark displacement at frame ``i``.

    ``field`` is its dense (H, W, 2) pixel displacement at strength 1 when built directly; None
    means the renderer interpolates one from ``shift`` (synth's thin-plate ``dense_field``).
    """

    shift: np.ndarray  # (478, 2) px at strength 1
    course: np.ndarray  # (N,) strength per frame
    field: np.ndarray | None = None


@dataclass(frozen=True)
class Scene:
    """Everything that moves in one clip, before rendering.

    Attributes:
        layers: non-rigid layers (their displacements add).
        closure: (N,) blink closure 0..1.
        pose: (N, 6) rigid pose offsets (see module docstring), 0 = as photographed.
        events: the annotated motions, time order.
    """

    layers: tuple[Layer, ...]
    closure: np.ndarray
    pose: np.ndarray
    events: tuple[Event, ...]

    @property
    def frames(self) -> int:
        return len(self.closure)


# --------------------------------------------------------------------------------------------
# Speech bases
# --------------------------------------------------------------------------------------------


def jaw_field(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 2) pixel displacement of the jaw opening at strength 1 (the chin moves one IOD).

    Built directly, not by a spline through landmarks: opening the mouth moves the lower lip away
    from the upper one that touches it, a jump no smooth spline can follow without ringing (and
    ringing folds the warp). Everything below the line midway between the inner lip contours moves
    down (75 % at the lips, 100 % at the chin, fading out below the chin and away from the midline);
    the step happens over a band of 0.04 IOD just above that line, and the renderer paints the gap
    it opens as the mouth's inside.
    """
    w, h = size
    geo = _Geometry(landmarks)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    U, V = np.moveaxis(geo.frame.to_face(np.stack([gx, gy], -1)), -1, 0)
    seam = (geo.P[list(INNER_UPPER)] + geo.P[list(INNER_LOWER)]) / 2  # the lips' meeting line, or the open
    seam = seam[np.argsort(seam[:, 0])]  # mouth's middle (then the lower teeth go down with the jaw)
    edge = np.interp(U, seam[:, 0], seam[:, 1])  # constant beyond the corners
    half = (seam[-1, 0] - seam[0, 0]) / 2
    mid = (seam[-1, 0] + seam[0, 0]) / 2
    band = 0.04 + 0.6 * np.maximum(np.abs(U - mid) - half, 0)  # softer beside the mouth
    step = _smoothstep((V - edge + band) / band)
    depth = np.clip((V - edge) / max(geo.chin_v - geo.mouth_v, 1e-3), 0, 1)
    fade = 1 - _smoothstep((V - geo.chin_v) / 0.4)
    lateral = np.exp(-((U - mid) ** 2) / (2 * 0.5**2))
    amount = step * (0.75 + 0.25 * depth) * fade * lateral
    amount[amount < 0.005] = 0.0  # a compact support keeps the per-frame work near the mouth
    return (amount[..., None] * geo.frame.iod * geo.frame.v).astype(np.float32)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def sample_field(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(K, 2) bilinear samples of an (H, W, 2) field at (K, 2+) pixel positions."""
    import cv2

    xy = np.ascontiguousarray(points[:, :2], dtype=np.float32)
    return cv2.remap(field, xy[:, :1], xy[:, 1:2], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[:, 0].astype(
        np.float64
    )


def corner_field(landmarks: np.ndarray, size: tuple[int, int], outward: float, down: float) -> np.ndarray:
    """(H, W, 2) pixel field moving both mouth corners by one IOD at strength 1 (Gaussian falloff, 0.15 IOD).

    ``outward`` > 0 spreads the lips (away from the midline), < 0 rounds them; ``down`` moves the
    corners towards the chin. Built directly (a sum of two smooth bumps) because a spline per
    gesture costs more than all the frames of a short clip.
    """
    w, h = size
    geo = _Geometry(landmarks)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    U, V = np.moveaxis(geo.frame.to_face(np.stack([gx, gy], -1)), -1, 0)
    du, dv = np.zeros_like(U), np.zeros_like(U)
    for c in geo.corners:
        bump = np.exp(-((U - c[0]) ** 2 + (V - c[1]) ** 2) / (2 * 0.15**2))
        bump[bump < 0.005] = 0.0
        du += bump * outward * np.sign(c[0] - geo.midline)
        dv += bump * down
    norm = math.hypot(outward, down)
    return geo.frame.vec_to_pixels(np.stack([du, dv], -1) / norm).astype(np.float32)


def speech_bases(landmarks: np.ndarray, size: tuple[int, int]) -> dict[str, Layer]:
    """The three speech gestures of this face as unit layers (courses still zero).

    ``jaw``: the jaw opens (see :func:`jaw_field`). ``round``: lips rounded (corners towards the
    midline). ``stretch``: lips spread (corners outwards, a little down).
    """
    geo = _Geometry(landmarks)
    jaw = jaw_field(landmarks, size)
    jaw_shift = sample_field(jaw, landmarks)
    # The upper lip sits on the step's upper side: it stays where the face above the band stays.
    upper = list(INNER_UPPER[1:-1] + OUTER_UPPER[1:-1])
    jaw_shift[upper] = sample_field(jaw, landmarks[upper, :2] - 0.06 * geo.frame.iod * geo.frame.v)
    corners_idx = [INNER_UPPER[0], INNER_UPPER[-1], OUTER_UPPER[0], OUTER_UPPER[-1]]
    jaw_shift[corners_idx] *= 0.5  # the corners stretch between the two lips
    zero = np.zeros(0)
    layers = {"jaw": Layer(jaw_shift, zero, jaw)}
    for name, outward, down in (("round", -1.0, 0.0), ("stretch", 1.0, 0.15)):
        field = corner_field(landmarks, size, outward, down)
        layers[name] = Layer(sample_field(field, landmarks), zero, field)
    return layers


# --------------------------------------------------------------------------------------------
# Courses
# --------------------------------------------------------------------------------------------


def _frames(seconds: float, fps: float) -> int:
    return max(1, round(seconds * fps))


def speech_courses(
    rng: np.random.Generator, n: int, fps: float, start: int, end: int, jaw: float
) -> tuple[dict[str, np.ndarray], list[Event]]:
    """Talking between frames ``start`` and ``end``: phrases of syllables at 3-6 Hz with pauses.

    Each syllable opens the jaw to 40-100 % of ``jaw`` (strength in IOD) and closes it again; a
    third of the syllables round the lips, a third spread them. One ``speech`` event per phrase.

    Returns:
        ({"jaw", "round", "stretch"} -> (N,) strength courses, the phrase events).
    """
    courses = {k: np.zeros(n) for k in ("jaw", "round", "stretch")}
    talking = np.zeros(n, bool)
    events: list[Event] = []
    t = start
    while t < end - _frames(0.3, fps):
        phrase_end = min(end, t + _frames(rng.uniform(0.8, 3.0), fps))
        rate = rng.uniform(3.0, 6.0)
        first = t
        while t < phrase_end:
            period = max(3, _frames(rng.uniform(0.8, 1.2) / rate, fps))
            stop = min(t + period, n - 1)
            if stop - t < 2:
                break
            pulse = _bump_curve(n, t, t + (stop - t) // 2, stop)
            courses["jaw"] += rng.uniform(0.4, 1.0) * jaw * pulse
            vowel = rng.random()
            if vowel < 1 / 3:
                courses["round"] += rng.uniform(0.02, 0.05) * pulse
            elif vowel < 2 / 3:
                courses["stretch"] += rng.uniform(0.02, 0.05) * pulse
            t = stop
        if t - first >= 2:
            apex = first + int(np.argmax(courses["jaw"][first : t + 1]))
            events.append(Event("speech", first, apex, t, aus=SPEECH_AUS))
            talking[first : t + 1] = True
        t += _frames(rng.uniform(0.15, 0.7), fps)  # pause between phrases
    # Coarticulation: neighbouring syllables blend a little (no instant lip changes).
    sigma = max(0.015 * fps, 0.5)
    for k, c in courses.items():
        courses[k] = np.clip(gaussian_filter1d(c, sigma, mode="constant"), 0, None)
        courses[k][~talking] = 0.0  # keep the pauses exactly still
    return courses, events


def blink_course(rng: np.random.Generator, n: int, fps: float, start: int, double: bool) -> tuple[np.ndarray, Event]:
    """Closure (N,) of one blink (0.1-0.3 s) starting at ``start``, or two in quick succession."""
    closure = np.zeros(n)
    first_peak = None
    t = start
    end = start
    for _ in range(2 if double else 1):
        length = max(3, _frames(rng.uniform(0.1, 0.3), fps))
        peak = t + max(1, round(length * rng.uniform(0.35, 0.5)))
        stop = min(t + length, n - 1)
        if stop <= peak:
            break
        closure = np.maximum(closure, rng.uniform(0.8, 1.0) * _bump_curve(n, t, peak, stop))
        first_peak = peak if first_peak is None else first_peak
        end = stop
        t = stop + _frames(rng.uniform(0.04, 0.12), fps)
    first_peak = start + 1 if first_peak is None else first_peak
    return closure, Event("blink", start, first_peak, max(end, first_peak), aus=BLINK_AUS)


def head_course(
    rng: np.random.Generator, n: int, fps: float, start: int, end: int, iod: float, kind: str | None = None
) -> tuple[np.ndarray, Event]:
    """Pose offsets (N, 6) of one rigid head movement from ``start`` to ``end`` (it returns to rest).

    ``turn``: a yaw proxy (squash along the eye line to cos 12-30 degrees, shifted sideways);
    ``nod``: one or two pitch cycles (vertical squash and shift); ``tilt``: roll of 3-10 degrees;
    ``shift``: translation by 0.1-0.4 IOD with a scale change of up to 6 %. Each also carries a
    little of the others, as real heads do.
    """
    kind = kind or str(rng.choice(list(HEAD_CODES)))
    pose = np.zeros((n, POSE_DIMS))
    t = np.arange(n)
    span = max(end - start, 2)
    phase = np.clip((t - start) / span, 0, 1)
    if kind == "nod":
        cycles = int(rng.integers(1, 3))
        course = np.sin(np.pi * phase) ** 2 * np.sin(np.pi * cycles * phase) * np.sign(rng.normal())
    else:
        hold = rng.uniform(0.0, 0.5)  # part of the span held at the turned pose
        rise = (1 - hold) / 2
        course = np.where(
            phase < rise,
            0.5 - 0.5 * np.cos(np.pi * phase / rise),
            np.where(phase > 1 - rise, 0.5 - 0.5 * np.cos(np.pi * (1 - phase) / rise), 1.0),
        )
    course = np.where((t >= start) & (t <= end), course, 0.0)
    side = 1.0 if rng.random() < 0.5 else -1.0
    small = rng.uniform(-0.25, 0.25, POSE_DIMS)  # the other components, as fractions of their ranges
    amp = np.array([
        rng.uniform(3, 10) * side if kind == "tilt" else 3 * small[0],
        rng.uniform(-0.06, 0.06) if kind == "shift" else 0.02 * small[1],
        (rng.uniform(0.1, 0.4) * side if kind in ("shift", "turn") else 0.1 * small[2]) * iod,
        (rng.uniform(0.1, 0.3) if kind in ("shift", "nod") else 0.1 * small[3]) * iod,
        math.log(math.cos(math.radians(rng.uniform(12, 30)))) if kind == "turn" else 0.0,
        math.log(math.cos(math.radians(rng.uniform(10, 25)))) if kind == "nod" else 0.0,
    ])  # fmt: skip
    pose += course[:, None] * amp[None, :]
    apex = start + int(np.argmax(np.abs(course[start : end + 1])))
    return pose, Event("head", start, apex, end, aus=HEAD_CODES[kind])


def expression_course(n: int, onset: int, apex: int, hold_end: int, offset: int) -> np.ndarray:
    """Raised-cosine rise from ``onset`` to ``apex``, held at 1 until ``hold_end``, fall to 0 at ``offset``."""
    t = np.arange(n, dtype=np.float64)
    c = np.zeros(n)
    rise = (t >= onset) & (t <= apex)
    fall = (t > hold_end) & (t <= offset)
    c[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - onset) / max(apex - onset, 1))
    c[(t > apex) & (t <= hold_end)] = 1.0
    c[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - hold_end) / max(offset - hold_end, 1))
    return c


def expression_shift(
    landmarks: np.ndarray, label: str, rng: np.random.Generator
) -> tuple[str, np.ndarray]:
    """A recipe variant of class ``label`` and its unit landmark displacement (strength 1 = 1 IOD)."""
    aus = str(rng.choice(EXTENDED_RECIPES[label]))
    return aus, landmark_displacement(landmarks, aus, 1.0, rng)
