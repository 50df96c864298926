"""Render a :class:`~train.scenes.motions.Scene` on one framed photo: one photo remap per frame.

Per frame the output pixel grid is mapped back to the neutral photo in three steps, as synth does:
the inverse rigid pose (an affine map), the inverse of the summed non-rigid field (fixed-point steps
on the pre-computed dense fields, one per layer, combined with that frame's strengths), and synth's
blink model. Then the photo is sampled once. Where the jaw opens the lips further apart, a dark
cavity is painted into the new gap (a warp can stretch the lips, not show the inside of the mouth).
Optional nuisances add slow drift, lighting change and sensor noise over the whole clip.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from train.synth import _blink_source, _Geometry, dense_field

from .motions import INNER_LOWER, INNER_UPPER, Scene

CAVITY_RGB = np.float32([48, 20, 22])  # a shadowed mouth interior
NEWTON_STEPS = 2


def pose_matrix(pose: np.ndarray, geo: _Geometry) -> np.ndarray:
    """2x3 forward affine (neutral photo -> output) of one frame's pose offsets (roll, log scale, tx, ty,
    log squash along u, log squash along v), about the point between the eyes."""
    roll, log_scale, tx, ty, su, sv = (float(x) for x in pose)
    u, v, c = geo.frame.u, geo.frame.v, geo.frame.origin
    squash = np.eye(2) + (math.exp(su) - 1) * np.outer(u, u) + (math.exp(sv) - 1) * np.outer(v, v)
    a = math.radians(roll)
    rot = math.exp(log_scale) * np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    lin = rot @ squash
    return np.hstack([lin, (c - lin @ c + (tx, ty))[:, None]])


def _drift(rng: np.random.Generator, n: int, fps: float, iod: float) -> np.ndarray:
    """Slow background head drift (N, 6) present in every frame: about 1-4 % IOD, under a degree."""
    pose = np.zeros((n, 6))
    peaks = (rng.uniform(0, 0.8), rng.uniform(0, 0.01), rng.uniform(0.005, 0.04) * iod, rng.uniform(0.005, 0.04) * iod)
    for k, peak in enumerate(peaks):
        walk = gaussian_filter1d(np.cumsum(rng.normal(size=n)), sigma=max(0.5 * fps, 1.0), mode="nearest")
        walk -= walk[0]
        m = np.abs(walk).max()
        pose[:, k] = walk * (peak / m) if m > 0 else 0.0
    return pose


def render_frames(
    photo: np.ndarray,
    landmarks: np.ndarray,
    scene: Scene,
    fps: float,
    rng: np.random.Generator,
    nuisances: bool = True,
) -> Iterator[np.ndarray]:
    """Yield the (H, W, 3) uint8 RGB frames of ``scene`` on ``photo`` (its landmarks in pixels).

    Without nuisances a frame where nothing moves is the photo itself, bit for bit.
    """
    n = scene.frames
    h, w = photo.shape[:2]
    geo = _Geometry(landmarks)
    iod = geo.frame.iod
    fields = [dense_field(landmarks, ly.shift, (w, h)) if ly.field is None else ly.field for ly in scene.layers]
    # Work only where some layer moves the face: fields are cropped to their joint support box.
    support = np.zeros((h, w), bool)
    for f in fields:
        support |= np.abs(f).max(-1) > 0.01
    rows, cols = np.nonzero(support) if support.any() else (np.array([0]), np.array([0]))
    box = (max(int(cols.min()) - 2, 0), max(int(rows.min()) - 2, 0),
           min(int(cols.max()) + 3, w), min(int(rows.max()) + 3, h))  # fmt: skip
    jacobians = [_jacobian(f)[box[1] : box[3], box[0] : box[2]] for f in fields]
    reach = [float(np.abs(f).max()) if f.size else 0.0 for f in fields]
    fields = [np.ascontiguousarray(f[box[1] : box[3], box[0] : box[2]]) for f in fields]
    courses = np.array([layer.course for layer in scene.layers]).reshape(len(fields), n)
    pose = scene.pose + (_drift(rng, n, fps, iod) if nuisances else 0.0)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))

    # Mouth cavity: the strip that opens at the line midway between the inner lips, between that line
    # moved with the upper lip and moved with the lower lip. A closed mouth opens into dark; an open
    # one keeps its teeth, upper ones up and lower ones down, with a dark gap between them.
    seam0 = (landmarks[list(INNER_UPPER), :2].astype(np.float64) + landmarks[list(INNER_LOWER), :2]) / 2
    up_shift = np.array([layer.shift[list(INNER_UPPER)] for layer in scene.layers]).reshape(-1, len(INNER_UPPER), 2)
    low_shift = np.array([layer.shift[list(INNER_LOWER)] for layer in scene.layers]).reshape(-1, len(INNER_LOWER), 2)

    if nuisances:
        ramp = np.linspace(-0.5, 0.5, n)
        gain = 1.0 + rng.uniform(-0.08, 0.08) * ramp + rng.uniform(-0.05, 0.05)
        g0, g1 = rng.uniform(-0.04, 0.04, size=2), rng.uniform(-0.04, 0.04, size=2)
        gradient = g0 + (g1 - g0) * (ramp[:, None] + 0.5)
        pad = 32
        bank = rng.standard_normal((2, h + pad, w + pad, 3), dtype=np.float32) * np.float32(rng.uniform(0.5, 2.0))
        xs = ((np.arange(w, dtype=np.float32) - (w - 1) / 2) / w)[None, :]
        ys = ((np.arange(h, dtype=np.float32) - (h - 1) / 2) / h)[:, None]

    for i in range(n):
        m = pose_matrix(pose[i], geo)
        strengths = courses[:, i]
        active = np.flatnonzero(strengths != 0)
        closure = float(scene.closure[i])
        if not len(active) and closure == 0:
            if not pose[i].any():
                img = photo.copy()
            else:
                img = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        else:
            inv = cv2.invertAffineTransform(m).astype(np.float32)
            qx = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
            qy = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
            if len(active):
                # Output pixels whose neutral point can land in the box: the box grown by the largest
                # displacement, carried through the pose.
                grow = 2 + sum(abs(strengths[k]) * reach[k] for k in active)
                corners = np.array([[box[0] - grow, box[1] - grow], [box[2] + grow, box[1] - grow],
                                    [box[0] - grow, box[3] + grow], [box[2] + grow, box[3] + grow]])  # fmt: skip
                out = corners @ m[:, :2].T + m[:, 2]
                ox0, oy0 = np.maximum(np.floor(out.min(0)).astype(int), 0)
                ox1, oy1 = np.minimum(np.ceil(out.max(0)).astype(int) + 1, (w, h))
                if ox1 > ox0 and oy1 > oy0:
                    roi = np.s_[oy0:oy1, ox0:ox1]
                    rx, ry = _invert(qx[roi] - box[0], qy[roi] - box[1], strengths, active, fields, jacobians)
                    qx[roi], qy[roi] = rx + box[0], ry + box[1]
            if closure > 0:
                qx, qy = _blink_source(qx, qy, geo, closure)
            img = cv2.remap(photo, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
            if len(active):
                top = seam0 + np.tensordot(strengths[active], up_shift[active], axes=1)
                bottom = seam0 + np.tensordot(strengths[active], low_shift[active], axes=1)
                opening = float(((bottom - top)[1:-1] @ geo.frame.v).mean())
                if opening > 0.005 * iod:
                    strip = np.concatenate([top, bottom[::-1]]) @ m[:, :2].T + m[:, 2]
                    _paint_cavity(img, strip, min(1.0, opening / (0.02 * iod)))
        if nuisances:
            light = (gain[i] + gradient[i, 0] * xs) + gradient[i, 1] * ys
            dy, dx = rng.integers(0, pad + 1, size=2)
            noisy = img.astype(np.float32) * light[..., None] + bank[i % 2, dy : dy + h, dx : dx + w]
            noisy += 0.5  # round to nearest on the truncating cast below
            img = np.clip(noisy, 0, 255, out=noisy).astype(np.uint8)
        yield img


def _jacobian(field: np.ndarray) -> np.ndarray:
    """(H, W, 4) float32 derivatives (dFx/dx, dFx/dy, dFy/dx, dFy/dy) of an (H, W, 2) field."""
    fx_y, fx_x = np.gradient(field[..., 0])
    fy_y, fy_x = np.gradient(field[..., 1])
    return np.stack([fx_x, fx_y, fy_x, fy_y], -1).astype(np.float32)


def _invert(
    qx: np.ndarray, qy: np.ndarray, strengths: np.ndarray, active: np.ndarray, fields: list, jacobians: list
) -> tuple[np.ndarray, np.ndarray]:
    """Solve q = r + F(r) for r, F = sum of strength x field, by Newton steps from a fixed-point guess.

    Plain fixed-point steps (synth's way) diverge where the field stretches the face by more than its
    own size (the lip seam of an opening jaw); Newton steps with the field's Jacobian do not.
    """
    field = sum(np.float32(strengths[k]) * fields[k] for k in active)
    jac = sum(np.float32(strengths[k]) * jacobians[k] for k in active)
    f = cv2.remap(field, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    rx, ry = qx - f[..., 0], qy - f[..., 1]
    for _ in range(NEWTON_STEPS):
        f = cv2.remap(field, rx, ry, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        j = cv2.remap(jac, rx, ry, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        ex, ey = rx + f[..., 0] - qx, ry + f[..., 1] - qy
        a, b, c, d = 1 + j[..., 0], j[..., 1], j[..., 2], 1 + j[..., 3]
        det = np.maximum(a * d - b * c, np.float32(0.05))  # the warp never folds; guard flat spots
        rx = rx - (d * ex - b * ey) / det
        ry = ry - (a * ey - c * ex) / det
    return rx, ry


def _paint_cavity(img: np.ndarray, polygon: np.ndarray, alpha: float) -> None:
    """Darken the inside of the inner-lip ``polygon`` (K, 2 output pixels) in place, soft-edged."""
    h, w = img.shape[:2]
    x0, y0 = np.floor(polygon.min(0)).astype(int) - 2
    x1, y1 = np.ceil(polygon.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    shift = 4  # fixed-point sub-pixel polygon vertices for an anti-aliased fill
    pts = np.round((polygon - (x0, y0)) * (1 << shift)).astype(np.int32)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=shift)
    a = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[..., None] * np.float32(alpha / 255.0)
    roi = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = (roi * (1 - a) + CAVITY_RGB * a + 0.5).astype(np.uint8)
