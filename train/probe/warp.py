"""Piecewise-affine warp on a Delaunay triangulation of the face mesh.

Every triangle of the (478 landmarks + a still anchor ring) triangulation moves affinely, so the
displacement inside a triangle is the barycentric blend of its three corners' displacements: a
field that is continuous, exact at the landmarks, and zero outside the anchor ring. This is the
probe generator's deformation model (``train.synth`` uses a thin-plate spline instead).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy.spatial import Delaunay

ANCHOR_SCALE = 1.35  # anchor ring: the face hull scaled about its centre, displacement pinned to 0
ANCHORS = 48


def anchor_ring(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(ANCHORS + 4, 2) still points: an ellipse around the face plus the frame corners."""
    centre = points.mean(0)
    half = (points.max(0) - points.min(0)) / 2.0 * ANCHOR_SCALE
    angle = np.linspace(0.0, 2.0 * np.pi, ANCHORS, endpoint=False)
    ring = centre + np.stack([np.cos(angle), np.sin(angle)], 1) * half
    w, h = size
    corners = np.array([[-1.0, -1.0], [w, -1.0], [w, h], [-1.0, h]])
    return np.concatenate([ring, corners])


def displacement_field(points: np.ndarray, shift: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Dense forward displacement (H, W, 2) float32 of a piecewise-affine mesh warp.

    Args:
        points: (K, 2) pixel landmarks of the neutral face.
        shift: (K, 2) where each landmark moves to, minus where it is (pixels).
        size: (width, height) of the frame.
    """
    w, h = size
    anchors = anchor_ring(points, size)
    verts = np.concatenate([points, anchors]).astype(np.float64)
    moves = np.concatenate([shift, np.zeros((len(anchors), 2))])
    tri = Delaunay(verts)
    ys, xs = np.mgrid[0:h, 0:w]
    q = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)
    simplex = tri.find_simplex(q)
    inside = simplex >= 0
    # Barycentric coordinates from qhull's affine transforms (T^-1 and the reference corner).
    T = tri.transform[simplex[inside]]
    b2 = np.einsum("nij,nj->ni", T[:, :2], q[inside] - T[:, 2])
    bary = np.concatenate([b2, 1.0 - b2.sum(1, keepdims=True)], 1)
    corner_moves = moves[tri.simplices[simplex[inside]]]  # (n, 3, 2)
    field = np.zeros((h * w, 2))
    field[inside] = np.einsum("nk,nkd->nd", bary, corner_moves)
    return field.reshape(h, w, 2).astype(np.float32)


@lru_cache(maxsize=4)
def _grid(h: int, w: int) -> np.ndarray:
    """(H, W, 2) pixel coordinates (x, y), float32; shared, never written to."""
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    grid.flags.writeable = False
    return grid


def backward_map(field: np.ndarray) -> np.ndarray:
    """Approximate inverse of a small forward field, for ``cv2.remap``: source = q - d(q - d(q)).

    One fixed-point step is enough for displacements of a few percent of the face: the error is
    second order in the field's gradient.
    """
    h, w = field.shape[:2]
    grid = _grid(h, w)
    first = grid - field
    resampled = cv2.remap(field, first[..., 0], first[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return resampled


def apply(image: np.ndarray, inverse: np.ndarray, scale: float) -> np.ndarray:
    """Warp ``image`` by ``scale`` times the inverse field (0 returns the image unchanged)."""
    if scale == 0.0:
        return image.copy()
    h, w = image.shape[:2]
    grid = _grid(h, w)
    src = grid - np.float32(scale) * inverse
    return cv2.remap(image, src[..., 0], src[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT101)
