"""Time courses and the nuisances common to every class: head drift, blinks, lighting and sensor noise.

A nuisance must not depend on the label, or a model could learn the class from it; everything here
is drawn from the clip's generator independently of the expression.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


def bump_curve(n: int, start: int, peak: int, end: int, hold: int = 0) -> np.ndarray:
    """0 outside [start, end], raised-cosine rise to 1 at ``peak``, held for ``hold`` more frames, and fall back."""
    t = np.arange(n, dtype=np.float64)
    a = np.zeros(n)
    top = peak + hold
    rise = (t >= start) & (t <= peak)
    fall = (t > top) & (t <= end)
    a[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - start) / max(peak - start, 1))
    a[(t > peak) & (t <= top)] = 1.0
    a[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - top) / max(end - top, 1))
    return a


def smooth_path(rng: np.random.Generator, n: int, fps: float, peak: float) -> np.ndarray:
    """A slow random path of n samples with largest magnitude ``peak``, starting at 0."""
    walk = np.cumsum(rng.normal(size=n))
    walk = gaussian_filter1d(walk, sigma=max(0.25 * fps, 1.0), mode="nearest")
    walk -= walk[0]
    m = np.abs(walk).max()
    return walk * (peak / m) if m > 0 else walk


def shake(rng: np.random.Generator, n: int, fps: float, sd: float) -> np.ndarray:
    """(n, 2) px of hand-held camera shake: white noise smoothed over ~15 ms, scaled to sd ``sd``."""
    walk = gaussian_filter1d(rng.normal(size=(n, 2)), sigma=max(0.015 * fps, 0.3), axis=0, mode="wrap")
    return walk * (sd / max(float(walk.std()), 1e-9))


@dataclass(frozen=True)
class Nuisance:
    """Per-frame nuisance parameters of one clip."""

    shift: np.ndarray  # (N, 2) px head translation
    angle: np.ndarray  # (N,) degrees head roll
    zoom: np.ndarray  # (N,) relative scale
    closure: np.ndarray  # (N,) blink closure 0..1
    blinks: tuple[tuple[int, int], ...]
    gain: np.ndarray  # (N,) global brightness gain
    gradient: np.ndarray  # (N, 2) brightness slope across the frame (x, y)
    noise: float  # sensor noise sigma in grey levels
    enabled: bool = True


def draw_nuisances(
    rng: np.random.Generator,
    n: int,
    fps: float,
    enabled: bool,
    *,
    drift_px: tuple[float, float] = (0.3, 3.0),
    roll_degrees: tuple[float, float] = (0.0, 0.8),
    lighting: float = 1.0,
    noise: tuple[float, float] = (0.5, 2.0),
    tilt_degrees: float = 0.0,
    shake_px: tuple[float, float] = (0.0, 0.0),
) -> Nuisance:
    """Draw one clip's nuisances (``enabled=False``: none, and no random numbers consumed).

    The keyword ranges default to the original generator's (same draws, same bytes); ``lighting``
    scales the brightness drift and gradient ranges; ``tilt_degrees`` adds a constant in-plane head
    rotation (drawn last, and only when above 0); ``shake_px`` adds frame-to-frame shake of a
    hand-held camera (sd drawn from the range; correlated over about 15 ms, so it is the same shake
    at any fps), drawn after the tilt and only when its upper bound is above 0.
    """
    if not enabled:
        z = np.zeros(n)
        return Nuisance(np.zeros((n, 2)), z, z, z, (), np.ones(n), np.zeros((n, 2)), 0.0, enabled=False)
    drift = rng.uniform(*drift_px)
    theta = rng.uniform(0, 2 * np.pi)
    shift = np.stack([smooth_path(rng, n, fps, drift * abs(math.cos(theta)) + 0.1),
                      smooth_path(rng, n, fps, drift * abs(math.sin(theta)) + 0.1)], 1)  # fmt: skip
    angle = smooth_path(rng, n, fps, rng.uniform(*roll_degrees))
    zoom = smooth_path(rng, n, fps, rng.uniform(0.0, 0.01))
    closure = np.zeros(n)
    blinks = []
    for _ in range(int(rng.choice([0, 1, 1, 2], p=[0.2, 0.4, 0.2, 0.2]))):
        length = max(3, round(rng.uniform(0.1, 0.25) * fps))
        start = int(rng.integers(0, max(n - length, 1)))
        peak = start + max(1, round(length * rng.uniform(0.35, 0.5)))
        end = min(start + length, n - 1)
        if end <= peak:
            continue
        closure = np.maximum(closure, rng.uniform(0.75, 1.0) * bump_curve(n, start, peak, end))
        blinks.append((start, end))
    ramp = np.linspace(-0.5, 0.5, n)
    L = lighting
    gain = 1.0 + rng.uniform(-0.08 * L, 0.08 * L) * ramp + rng.uniform(-0.05 * L, 0.05 * L)
    g0, g1 = rng.uniform(-0.04 * L, 0.04 * L, size=2), rng.uniform(-0.04 * L, 0.04 * L, size=2)
    gradient = g0 + (g1 - g0) * (ramp[:, None] + 0.5)
    sigma = float(rng.uniform(*noise))
    if tilt_degrees > 0:
        angle = angle + rng.uniform(-tilt_degrees, tilt_degrees)
    if shake_px[1] > 0:
        shift = shift + shake(rng, n, fps, rng.uniform(*shake_px))
    return Nuisance(shift, angle, zoom, closure, tuple(sorted(blinks)), gain, gradient, sigma)
