"""Face coordinates and the named landmark subsets that the action units, warps and blinks act on.

Face coordinates: origin between the eyes, u along the eye line (image left -> right), v
perpendicular towards the chin, both in units of the inter-ocular distance (IOD). Working in these
units gives every face size and head roll the same recipe and the same smoothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def parts_indices() -> dict[str, tuple[int, ...]]:
    """MediaPipe landmark indices of each named face part (imported late: MediaPipe is heavy)."""
    from microexp.face import landmark_groups

    return landmark_groups()


@dataclass(frozen=True)
class FaceFrame:
    """Face coordinates of one face: ``origin`` between the eyes, unit vectors ``u`` and ``v``, ``iod`` pixels."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    iod: float

    @classmethod
    def of(cls, landmarks: np.ndarray) -> FaceFrame:
        g = parts_indices()
        a = landmarks[list(g["right_eye"]), :2].mean(0).astype(np.float64)
        b = landmarks[list(g["left_eye"]), :2].mean(0).astype(np.float64)
        if a[0] > b[0]:  # mirrored photo: keep u pointing image-right
            a, b = b, a
        d = b - a
        iod = float(np.hypot(*d))
        u = d / iod
        return cls((a + b) / 2, u, np.array([-u[1], u[0]]), iod)

    def to_face(self, xy: np.ndarray) -> np.ndarray:
        rel = np.asarray(xy, dtype=np.float64) - self.origin
        return np.stack([rel @ self.u, rel @ self.v], axis=-1) / self.iod

    def to_pixels(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, dtype=np.float64) * self.iod
        return self.origin + uv[..., :1] * self.u + uv[..., 1:2] * self.v

    def vec_to_pixels(self, duv: np.ndarray) -> np.ndarray:
        duv = np.asarray(duv, dtype=np.float64) * self.iod
        return duv[..., :1] * self.u + duv[..., 1:2] * self.v


@dataclass(frozen=True)
class Eye:
    """One eye in face coordinates: corner range and upper/lower lid curves as (u, v) polylines."""

    u_range: tuple[float, float]
    upper: np.ndarray  # (K, 2) sorted by u, corners included
    lower: np.ndarray
    upper_idx: tuple[int, ...]
    lower_idx: tuple[int, ...]


def _eye(P: np.ndarray, idx: Sequence[int]) -> Eye:
    idx = np.asarray(sorted(idx))
    pts = P[idx]
    c0, c1 = idx[np.argmin(pts[:, 0])], idx[np.argmax(pts[:, 0])]
    p0, p1 = P[c0], P[c1]
    line_v = p0[1] + (pts[:, 0] - p0[0]) * (p1[1] - p0[1]) / max(p1[0] - p0[0], 1e-6)
    corner = (idx == c0) | (idx == c1)
    up = idx[(pts[:, 1] < line_v) & ~corner]
    low = idx[(pts[:, 1] >= line_v) & ~corner]

    def curve(sel: np.ndarray) -> np.ndarray:
        c = np.concatenate([[p0], P[sel], [p1]])
        return c[np.argsort(c[:, 0], kind="stable")]

    return Eye((float(p0[0]), float(p1[0])), curve(up), curve(low), tuple(up.tolist()), tuple(low.tolist()))


class Geometry:
    """Named landmark subsets of one face, in face coordinates, for the action-unit recipes.

    ``P`` is (478, 2) landmarks in face units; boolean masks (``brows``, ``upper_lid``, ...) are (478,);
    point sets (``inner_brows``, ``corners``, ``alae``) are (2, 2), image-left first.
    """

    def __init__(self, landmarks: np.ndarray) -> None:
        g = parts_indices()
        self.frame = FaceFrame.of(landmarks)
        P = self.frame.to_face(landmarks[:, :2])
        self.P = P
        n = len(P)

        def mask(idx) -> np.ndarray:
            m = np.zeros(n, bool)
            m[list(idx)] = True
            return m

        eyes = sorted((_eye(P, g["right_eye"]), _eye(P, g["left_eye"])), key=lambda e: e.u_range[0])
        self.eyes = tuple(eyes)
        self.upper_lid = mask([i for e in eyes for i in e.upper_idx])
        self.lower_lid = mask([i for e in eyes for i in e.lower_idx])
        self.eye_centres = np.array([P[list(g[k])].mean(0) for k in ("right_eye", "left_eye")])
        brow_idx = [i for k in ("right_brow", "left_brow") for i in g[k]]
        self.brows = mask(brow_idx)
        brow_pts = P[brow_idx]
        # Inner/outer brow ends: per side, the brow point nearest to / farthest from the midline.
        self.inner_brows, self.outer_brows = [], []
        for side in (-1, 1):
            sp = brow_pts[np.sign(brow_pts[:, 0]) == side]
            self.inner_brows.append(sp[np.argmin(np.abs(sp[:, 0]))])
            self.outer_brows.append(sp[np.argmax(np.abs(sp[:, 0]))])
        self.inner_brows, self.outer_brows = np.array(self.inner_brows), np.array(self.outer_brows)
        lips = np.asarray(g["lips"])
        lp = P[lips]
        self.corners = np.array([lp[np.argmin(lp[:, 0])], lp[np.argmax(lp[:, 0])]])
        self.mouth_v = float(self.corners[:, 1].mean())
        centre_u = float(self.corners[:, 0].mean())
        # Upper vs lower lip: above/below the line through the corners, judged near the middle.
        c0, c1 = self.corners
        line_v = c0[1] + (lp[:, 0] - c0[0]) * (c1[1] - c0[1]) / max(c1[0] - c0[0], 1e-6)
        self.upper_lip = mask(lips[lp[:, 1] < line_v])
        self.lower_lip = mask(lips[lp[:, 1] >= line_v])
        self.lower_lip_v = float(P[self.lower_lip, 1].max())
        self.nose = mask(g["nose"])
        nose_pts = P[list(g["nose"])]
        self.alae = np.array([nose_pts[np.argmin(nose_pts[:, 0])], nose_pts[np.argmax(nose_pts[:, 0])]])
        self.midline = centre_u
        self.side = np.sign(P[:, 0] - centre_u)
        self.eye_top = float(min(e.upper[:, 1].min() for e in eyes))
        oval = P[list(g["oval"])]
        self.oval = oval
        self.chin_v = float(oval[:, 1].max())
