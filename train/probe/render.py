"""One probe clip: a framed face photo, one action-unit movement in time, and the probe's nuisances.

Everything here is drawn from a ``numpy.random.Generator`` so a clip is a pure function of its seed.
Timing: a raised-cosine rise, a hold, then an exponential decay that reaches exactly zero at the
offset; 0.2-0.45 s in all. Nuisances (all optional together): an Ornstein-Uhlenbeck head motion
(in-plane roll, yaw-like horizontal squash, translation), a directional light gradient that drifts,
and shot noise (signal-dependent, Poisson-like); compression is added when the clip is written (``generate``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import aus, warp


@dataclass(frozen=True)
class ProbeSettings:
    """How one clip is drawn (ranges are ``(low, high)``, drawn uniformly per clip).

    Attributes:
        size: frame (width, height).
        fps: frame-rate range; an integer rate is drawn per clip.
        seconds: clip length.
        me_seconds: onset-to-offset duration of the movement.
        amplitude: largest landmark displacement at the apex, as a fraction of the IOD.
        iod_fraction: inter-ocular distance as a fraction of the frame width (face size).
        nuisances: head motion, lighting gradient and shot noise.
    """

    size: tuple[int, int] = (352, 288)
    fps: tuple[int, int] = (25, 60)
    seconds: tuple[float, float] = (1.4, 2.2)
    me_seconds: tuple[float, float] = (0.2, 0.45)
    amplitude: tuple[float, float] = (0.02, 0.10)
    iod_fraction: tuple[float, float] = (0.16, 0.24)
    nuisances: bool = True

    def __post_init__(self) -> None:
        for name in ("fps", "seconds", "me_seconds", "amplitude", "iod_fraction"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"ProbeSettings.{name} must be 0 < low <= high, got {(lo, hi)}")
        if self.me_seconds[1] + 0.5 > self.seconds[0]:
            raise ValueError("ProbeSettings.seconds must leave 0.25 s of still face either side of the movement")


@dataclass(frozen=True)
class ProbeClip:
    """A rendered clip and its ground truth.

    Attributes:
        frames: (N, H, W, 3) uint8 RGB.
        fps: frame rate.
        onset, apex, offset: 0-based frame indices; the face is still outside ``onset..offset``.
        label: MEGC class.
        recipe: action units, e.g. ``AU6+AU12``.
        amplitude: apex displacement / IOD of the largest-moving landmark.
        profile: (N,) movement strength per frame, 0 outside onset..offset, 1 at the apex.
        landmarks: (478, 2) neutral landmarks in frame pixels (before head motion).
        shift: (478, 2) landmark displacement at full strength, pixels.
    """

    frames: np.ndarray
    fps: float
    onset: int
    apex: int
    offset: int
    label: str
    recipe: str
    amplitude: float
    profile: np.ndarray
    landmarks: np.ndarray
    shift: np.ndarray


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def frame_photo(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    iod_fraction: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Place the face in a ``size`` frame: random face size, position and a small roll."""
    w, h = size
    origin, rot, iod = aus.face_frame(landmarks)
    scale = _uniform(rng, iod_fraction) * w / iod
    roll = np.deg2rad(rng.uniform(-4.0, 4.0))
    target = np.array([w * (0.5 + rng.uniform(-0.07, 0.07)), h * (0.42 + rng.uniform(-0.04, 0.04))])
    c, s = np.cos(roll), np.sin(roll)
    # Rows of ``rot`` level the eye line; the roll tilts it back by a few degrees.
    linear = scale * np.array([[c, -s], [s, c]]) @ rot
    matrix = np.concatenate([linear, (target - linear @ origin)[:, None]], 1)
    framed = cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    points = landmarks[:, :2] @ linear.T + matrix[:, 2]
    return framed, points


def time_profile(
    n: int, fps: float, onset: int, duration: float, rng: np.random.Generator
) -> tuple[np.ndarray, int, int]:
    """(N,) strength per frame, the apex and the offset index. Rise: raised cosine; hold; decay: exponential."""
    rise = duration * rng.uniform(0.25, 0.45)
    hold = duration * rng.uniform(0.0, 0.2)
    decay = duration - rise - hold
    k = rng.uniform(2.5, 4.5)
    t = (np.arange(n) - onset) / fps
    f = np.zeros(n)
    up = (t > 0) & (t < rise)
    f[up] = 0.5 - 0.5 * np.cos(np.pi * t[up] / rise)
    f[(t >= rise) & (t <= rise + hold)] = 1.0
    down = (t > rise + hold) & (t < duration)
    v = (t[down] - rise - hold) / decay
    f[down] = (np.exp(-k * v) - np.exp(-k)) / (1.0 - np.exp(-k))
    offset = onset + int(np.ceil(duration * fps))
    offset = min(offset, n - 1)
    f[offset:] = 0.0
    apex = int(np.argmax(f))
    f = f / f[apex]  # the sampled apex is exactly full strength
    return f, apex, offset


def _ou(rng: np.random.Generator, n: int, fps: float, sd: float, tau: float = 0.6) -> np.ndarray:
    """Ornstein-Uhlenbeck path (stationary sd ``sd``, time constant ``tau`` s), started at rest."""
    a = np.exp(-1.0 / (fps * tau))
    steps = rng.normal(0.0, sd * np.sqrt(1 - a * a), n)
    out = np.zeros(n)
    for i in range(1, n):
        out[i] = a * out[i - 1] + steps[i]
    return out


@dataclass(frozen=True)
class _Nuisance:
    roll: np.ndarray  # radians per frame
    squash: np.ndarray  # horizontal scale per frame (yaw-like), <= 1
    shift: np.ndarray  # (N, 2) pixels
    light_angle: float
    light: np.ndarray  # gradient strength per frame
    photons: float  # shot-noise scale: counts per grey level


def _nuisance(rng: np.random.Generator, n: int, fps: float, iod_px: float) -> _Nuisance:
    roll = np.deg2rad(_ou(rng, n, fps, rng.uniform(0.3, 1.5)))
    squash = 1.0 - np.abs(_ou(rng, n, fps, rng.uniform(0.005, 0.025)))
    shift = np.stack([_ou(rng, n, fps, rng.uniform(0.01, 0.05) * iod_px) for _ in range(2)], 1)
    strength = rng.uniform(0.05, 0.35)
    period, phase = rng.uniform(1.5, 4.0), rng.uniform(0, 2 * np.pi)
    light = strength * (1 + 0.15 * np.sin(2 * np.pi * np.arange(n) / fps / period + phase))
    return _Nuisance(roll, squash, shift, float(rng.uniform(0, 2 * np.pi)), light, float(rng.uniform(2.0, 10.0)))


def _light_field(size: tuple[int, int], angle: float) -> np.ndarray:
    """(H, W) position along the light direction, -1..1 across the frame width."""
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return ((xs - w / 2) * np.cos(angle) + (ys - h / 2) * np.sin(angle)) / (w / 2)


def _disturb(
    img: np.ndarray, i: int, nz: _Nuisance, centre: np.ndarray, along: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    h, w = img.shape[:2]
    c, s = np.cos(nz.roll[i]), np.sin(nz.roll[i])
    linear = np.array([[c, -s], [s, c]]) @ np.diag([nz.squash[i], 1.0])
    matrix = np.concatenate([linear, (centre + nz.shift[i] - linear @ centre)[:, None]], 1)
    moved = cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    gain = np.clip(1.0 + np.float32(nz.light[i]) * along, 0.3, 1.7)[..., None]
    lit = moved.astype(np.float32) * gain
    # Shot noise: Poisson counts at ``photons`` per grey level, in its Gaussian form (variance = mean).
    noise = rng.standard_normal(lit.shape, dtype=np.float32) * np.sqrt(np.maximum(lit, 0.0) / np.float32(nz.photons))
    return np.clip(np.rint(lit + noise), 0, 255).astype(np.uint8)


def make_probe_clip(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    label: str,
    rng: np.random.Generator,
    settings: ProbeSettings = ProbeSettings(),
    *,
    recipe: str | None = None,
    amplitude: float | None = None,
) -> ProbeClip:
    """Render one clip of ``label`` from a neutral photo and its (478, 2+) pixel landmarks.

    Args:
        recipe, amplitude: fixed instead of drawn (tests, figures).
    """
    if label not in aus.RECIPES:
        raise ValueError(f"unknown label {label!r}; choose from {aus.LABELS}")
    fps = float(rng.integers(settings.fps[0], settings.fps[1] + 1))
    n = int(round(_uniform(rng, settings.seconds) * fps))
    base, points = frame_photo(rgb, landmarks, settings.size, rng, settings.iod_fraction)

    options = aus.RECIPES[label]
    pick = options[int(rng.integers(len(options)))]
    chosen, weight = (recipe, 1.0) if recipe is not None else pick
    action_units = aus.parse_aus(chosen)
    intensities = {au: float(rng.uniform(0.45, 1.0)) for au in action_units}
    unit = aus.unit_displacement(points, intensities, asymmetry=float(rng.uniform(-0.3, 0.3)))
    amp = amplitude if amplitude is not None else _uniform(rng, settings.amplitude) * weight
    shift = aus.pixel_displacement(points, unit, amp)
    inverse = warp.backward_map(warp.displacement_field(points, shift, settings.size))

    duration = _uniform(rng, settings.me_seconds)
    margin = 0.25
    onset = int(round(rng.uniform(margin, n / fps - duration - margin) * fps))
    profile, apex, offset = time_profile(n, fps, onset, duration, rng)

    _, _, iod_px = aus.face_frame(points)
    nz = _nuisance(rng, n, fps, iod_px) if settings.nuisances else None
    centre = points.mean(0)
    along = _light_field(settings.size, nz.light_angle) if nz is not None else None
    frames = np.empty((n, settings.size[1], settings.size[0], 3), np.uint8)
    for i in range(n):
        img = warp.apply(base, inverse, float(profile[i]))
        frames[i] = img if nz is None else _disturb(img, i, nz, centre, along, rng)
    return ProbeClip(frames, fps, onset, apex, offset, label, chosen, float(amp), profile, points, shift)
