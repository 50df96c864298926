"""Hand-held camera shake: how a phone held in the hand moves the whole picture from frame to frame.

A hand holding a camera is never still. Two things move it (both well described for hand tremor
and for the motion that video stabilisers remove):

- sway: the arm, breathing and the body's balance drift the camera slowly, with most power under
  2-3 Hz and an amplitude of a few pixels; from one frame to the next it is smooth;
- tremor: physiological hand tremor, a narrow band around 8-12 Hz (lower, 5-8 Hz, for a tired arm)
  with sub-pixel to pixel amplitude; at 25-60 fps it changes direction every few frames, which is
  what makes hand-held video jittery.

The camera translates (x, y), rolls a little about the optical axis and moves a little towards and
away from the face (scale). All of it moves the whole frame, face and background alike: it is added
to the scene's rigid pose offsets. Its size is the RMS frame-to-frame step of the translation in
output pixels (``step_px``), the quantity a video's jitter is judged by.
"""

from __future__ import annotations

import numpy as np

POSE_DIMS = 6  # (roll deg, log scale, tx, ty, log squash u, log squash v) as train.scenes.motions


def _coloured(rng: np.random.Generator, n: int, fps: float, gain) -> np.ndarray:
    """(n,) zero-mean Gaussian noise whose amplitude spectrum is ``gain(frequency in Hz)``, unit frame-to-frame step RMS."""
    pad = n + int(2 * fps)  # a little longer, so the ends are not wrapped around
    spectrum = np.fft.rfft(rng.standard_normal(pad)) * gain(np.fft.rfftfreq(pad, 1.0 / fps))
    x = np.fft.irfft(spectrum, pad)[:n]
    x -= x.mean()
    step = float(np.sqrt(np.mean(np.diff(x) ** 2))) if n > 1 else 1.0
    return x / max(step, 1e-12)


def _hand_motion(rng: np.random.Generator, n: int, fps: float, tremor_share: float, tremor_hz: float) -> np.ndarray:
    """(n,) one axis of hand motion, unit frame-to-frame step RMS: sway plus a tremor band."""
    corner = rng.uniform(0.5, 2.5)  # sway: a first-order low-pass of white noise (Brownian-like below the corner)
    sway = _coloured(rng, n, fps, lambda f: 1.0 / (1.0 + (f / corner) ** 2))
    width = rng.uniform(1.0, 2.5)
    top = 0.95 * 0.5 * fps  # a tremor band above Nyquist folds onto lower frequencies; keep it below
    centre = min(tremor_hz, top - width)
    tremor = _coloured(rng, n, fps, lambda f: np.exp(-0.5 * ((f - centre) / width) ** 2))
    x = np.sqrt(1.0 - tremor_share) * sway + np.sqrt(tremor_share) * tremor
    step = float(np.sqrt(np.mean(np.diff(x) ** 2))) if n > 1 else 1.0
    return x / max(step, 1e-12)


def hand_shake(rng: np.random.Generator, n: int, fps: float, step_px: float, iod: float) -> np.ndarray:
    """(n, 6) pose offsets of a hand-held camera whose translation moves ``step_px`` per frame (RMS).

    Roll and scale are drawn so that they move a point one ``iod`` from the face centre by 20-60 %
    and 10-30 % of the translation's step: a hand turns the phone less than it shifts it.
    """
    pose = np.zeros((n, POSE_DIMS))
    if n < 2 or step_px <= 0:
        return pose
    share = rng.uniform(0.3, 0.8)  # how much of the frame-to-frame jitter is tremor rather than sway
    tremor_hz = rng.uniform(5.0, 12.0)
    xy = np.stack([_hand_motion(rng, n, fps, share, tremor_hz) for _ in range(2)], 1)
    xy *= step_px / max(float(np.sqrt(np.mean(np.sum(np.diff(xy, axis=0) ** 2, axis=1)))), 1e-12)
    pose[:, 2:4] = xy
    roll_px, zoom_px = rng.uniform(0.2, 0.6) * step_px, rng.uniform(0.1, 0.3) * step_px
    pose[:, 0] = np.degrees(_hand_motion(rng, n, fps, share, tremor_hz) * roll_px / max(iod, 1e-6))
    pose[:, 1] = _hand_motion(rng, n, fps, share, tremor_hz) * zoom_px / max(iod, 1e-6)
    return pose
