"""Dense warps: landmark displacements -> a smooth per-pixel field, and the blink's inverse map.

Rendering inverse-maps every output pixel to a point of the neutral photo and samples it with
``cv2.remap``; these functions compute the pieces of that map.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator

from .geometry import FaceFrame, Geometry, parts_indices


def dense_field(
    landmarks: np.ndarray, shift: np.ndarray, size: tuple[int, int], step: int = 4, kernel: str = "thin_plate_spline"
) -> np.ndarray:
    """(H, W, 2) float32 displacement field in pixels interpolating landmark ``shift`` (478, 2).

    A radial basis interpolant (``kernel``, a thin-plate spline by default) through the landmarks
    and through zero-displacement anchors (two rings around the face oval and the frame border) is
    evaluated on a grid every ``step`` pixels inside the outer ring's box (zero beyond) and upsampled
    bicubically. The coarse grid smooths the
    steepest parts of the field a little (eyelids), which also keeps the warp free of folds.
    """
    w, h = size
    frame = FaceFrame.of(landmarks)
    P = frame.to_face(landmarks[:, :2])
    D = shift / frame.iod  # fit in IOD units: the same smoothing for every face size
    oval = P[list(parts_indices()["oval"])]
    centre = oval.mean(0)
    rings = [centre + (oval - centre) * k for k in (1.3, 1.6)]
    bx, by = np.linspace(0, w - 1, 9), np.linspace(0, h - 1, 7)
    border = np.concatenate([
        np.stack([bx, np.zeros_like(bx)], 1), np.stack([bx, np.full_like(bx, h - 1)], 1),
        np.stack([np.zeros_like(by), by], 1), np.stack([np.full_like(by, w - 1), by], 1),
    ])  # fmt: skip
    anchors = np.concatenate([*rings, frame.to_face(border)])
    pts = np.concatenate([P, anchors])
    vals = np.concatenate([D, np.zeros((len(anchors), 2))])
    # Landmarks can nearly coincide (inner lip contours): a little smoothing keeps the system tame.
    rbf = RBFInterpolator(pts, vals, kernel=kernel, smoothing=1e-6)
    # Coarse cell j covers pixels whose centres map to (j + 0.5) * W / gw - 0.5 (cv2.resize convention).
    gw, gh = math.ceil(w / step), math.ceil(h / step)
    gx = (np.arange(gw) + 0.5) * (w / gw) - 0.5
    gy = (np.arange(gh) + 0.5) * (h / gh) - 0.5
    box = frame.to_pixels(rings[-1])
    cols = np.flatnonzero((gx >= box[:, 0].min()) & (gx <= box[:, 0].max()))
    rows = np.flatnonzero((gy >= box[:, 1].min()) & (gy <= box[:, 1].max()))
    coarse = np.zeros((gh, gw, 2), np.float32)
    if len(cols) and len(rows):
        grid = np.stack(np.meshgrid(gx[cols], gy[rows]), -1).reshape(-1, 2)
        part = frame.vec_to_pixels(rbf(frame.to_face(grid))).reshape(len(rows), len(cols), 2)
        coarse[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = part
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)


def min_jacobian(field: np.ndarray) -> float:
    """Smallest Jacobian determinant of ``x -> x + field(x)`` over the frame (<= 0: the warp folds over itself).

    Args:
        field: (H, W, 2) displacement in pixels.
    """
    f = field.astype(np.float64)
    dux, duy = np.gradient(f[..., 0], axis=1), np.gradient(f[..., 0], axis=0)
    dvx, dvy = np.gradient(f[..., 1], axis=1), np.gradient(f[..., 1], axis=0)
    return float(((1 + dux) * (1 + dvy) - duy * dvx).min())


def unfolded_field(
    landmarks: np.ndarray,
    shift: np.ndarray,
    size: tuple[int, int],
    step: int = 4,
    kernel: str = "thin_plate_spline",
    min_det: float = 0.05,
    max_step: int = 16,
) -> tuple[np.ndarray, int]:
    """:func:`dense_field` made smoother (coarser grid, step x 1.5 at a time) until it no longer folds.

    Large displacements of nearly coinciding landmarks (lids pressed together, an open mouth's inner
    lips) can fold a fine-grid field; a coarser grid smooths them away. Returns the field and the
    step used (``max_step`` at most, even if that still folds).
    """
    while True:
        field = dense_field(landmarks, shift, size, step=step, kernel=kernel)
        if step >= max_step or min_jacobian(field) >= min_det:
            return field, step
        step = min(max_step, math.ceil(step * 1.5))


def blink_source(qx: np.ndarray, qy: np.ndarray, geo: Geometry, closure: float) -> tuple[np.ndarray, np.ndarray]:
    """Where a blinking face's pixels come from in the open-eyed face (inverse map, pixels in, pixels out).

    The skin above each upper lid slides down over the eyeball by ``closure`` times the eye opening:
    between a line ``L`` above the lid and the lowered lid edge the image is stretched from the
    original lid skin; below the lowered edge the visible eye is unchanged (an occlusion edge).
    """
    frame = geo.frame
    uv = frame.to_face(np.stack([qx, qy], -1))
    U, V = uv[..., 0], uv[..., 1]
    Vsrc = V.copy()
    lift = 0.22  # how far above the lid edge the lid skin stretches, in IOD
    for eye in geo.eyes:
        inside = (U > eye.u_range[0]) & (U < eye.u_range[1])
        if not inside.any():
            continue
        Ui = U[inside]
        vu = np.interp(Ui, eye.upper[:, 0], eye.upper[:, 1])
        vl = np.interp(Ui, eye.lower[:, 0], eye.lower[:, 1])
        s = closure * np.maximum(vl - vu, 0) * 0.97
        top = vu - lift
        Vi = V[inside]
        hit = (Vi >= top) & (Vi < vu + s)
        Vi_new = np.where(hit, top + (Vi - top) * (vu - top) / (vu + s - top), Vi)
        Vsrc[inside] = Vi_new
    xy = frame.to_pixels(np.stack([U, Vsrc], -1))
    return xy[..., 0].astype(np.float32), xy[..., 1].astype(np.float32)
