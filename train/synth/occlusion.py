"""Partial occluders: glasses, a hand or hair at one side of the face, never the whole face.

An occluder is a colour layer with coverage (alpha) drawn once per clip in the neutral frame's
pixels; rendering moves it with the head (the same affine as the face) and lays it over the face
before blur, lighting and noise, so the camera sees it like the face. It is placed from the face's
own geometry (face units, see :mod:`.geometry`) and covers at most one side of the lower face or
forehead, or the eyes behind lenses, so the expression stays visible in most of the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .geometry import Geometry
from .variety import OCCLUDERS


@dataclass(frozen=True)
class Occluder:
    """Attributes: kind (``glasses``, ``hand``, ``hair``); layer (H, W, 4) float32: RGB 0..255 and alpha 0..1."""

    kind: str
    layer: np.ndarray

    @property
    def alpha(self) -> np.ndarray:
        return self.layer[..., 3]


def _face_grid(geo: Geometry, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    w, h = size
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    uv = geo.frame.to_face(np.stack([gx, gy], -1))
    return uv[..., 0], uv[..., 1]


def _soft(inside: np.ndarray, edge: float) -> np.ndarray:
    """A signed 'inside' measure (>0 inside, in face units) -> coverage with a soft edge ``edge`` wide."""
    return np.clip(0.5 + inside / max(edge, 1e-6), 0.0, 1.0)


def _skin_colour(photo: np.ndarray, geo: Geometry) -> np.ndarray:
    """Median RGB of the cheeks (below the eyes, beside the nose): the hand gets the face's own skin tone."""
    pts = geo.frame.to_pixels(np.array([[geo.eye_centres[0, 0], 0.55], [geo.eye_centres[1, 0], 0.55]]))
    r = max(2, int(0.08 * geo.frame.iod))
    h, w = photo.shape[:2]
    patches = []
    for x, y in pts.round().astype(int):
        x0, x1, y0, y1 = max(x - r, 0), min(x + r + 1, w), max(y - r, 0), min(y + r + 1, h)
        if x1 > x0 and y1 > y0:
            patches.append(photo[y0:y1, x0:x1].reshape(-1, 3))
    return np.median(np.concatenate(patches), 0) if patches else np.array([190.0, 150.0, 130.0])


def _glasses(rng: np.random.Generator, geo: Geometry, U: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two lenses over the eyes (tinted, from clear to sunglasses), rims, a bridge and temple arms."""
    a, b = rng.uniform(0.3, 0.4), rng.uniform(0.17, 0.25)  # lens half-width/height (IOD)
    rim = rng.uniform(0.02, 0.05)
    tint = rng.uniform(0.1, 0.75)
    lens_rgb = rng.uniform(10, 70) * np.array([1.0, 1.0, 1.0]) + rng.uniform(0, 30, size=3)
    rim_rgb = rng.uniform(5, 60) * np.ones(3) + rng.uniform(0, 40, size=3)
    lens_cov = np.zeros_like(U)
    rim_cov = np.zeros_like(U)
    dv = rng.uniform(-0.05, 0.05)
    for cu, cv in geo.eye_centres:
        # Superellipse |x|^4 + |y|^4 = 1: a rounded rectangle, the usual lens shape.
        r = ((np.abs(U - cu) / a) ** 4 + (np.abs(V - cv - dv) / b) ** 4) ** 0.25
        lens_cov = np.maximum(lens_cov, _soft((1 - r) * b, 0.01))
        rim_cov = np.maximum(rim_cov, _soft(rim / 2 - np.abs(r - 1) * b, 0.01))
    left, right = geo.eye_centres[:, 0].min() + a * 0.9, geo.eye_centres[:, 0].max() - a * 0.9
    cv_mid = geo.eye_centres[:, 1].mean() + dv - 0.3 * b
    bridge = _soft(np.minimum(rim / 2 - np.abs(V - cv_mid), np.minimum(U - left, right - U)), 0.01)
    outer = geo.eye_centres[:, 0].max() + a, geo.eye_centres[:, 0].min() - a
    face_half = np.abs(geo.oval[:, 0] - geo.midline).max()
    arm_v = geo.eye_centres[:, 1].mean() + dv - 0.5 * b
    arm_span = np.minimum(np.abs(U - geo.midline) - (outer[0] - geo.midline), face_half - np.abs(U - geo.midline))
    arms = _soft(np.minimum(rim / 2 - np.abs(V - arm_v), arm_span), 0.01)
    rim_cov = np.maximum.reduce([rim_cov, bridge, arms])
    alpha = np.maximum(rim_cov, tint * lens_cov)
    colour = np.where((rim_cov >= tint * lens_cov)[..., None], rim_rgb, lens_rgb)
    return alpha, colour


def _side_patch(
    rng: np.random.Generator,
    geo: Geometry,
    U: np.ndarray,
    V: np.ndarray,
    u_offset: tuple[float, float],
    centre_v: tuple[float, float],
    radii: tuple[tuple[float, float], tuple[float, float]],
) -> np.ndarray:
    """Coverage of an ellipse entering the face from one side (left or right at random).

    The centre sits ``u_offset`` (face units) outside the face's widest point on that side, so the
    ellipse reaches at most ``ra - offset`` into the face: never across it.
    """
    side = 1.0 if rng.random() < 0.5 else -1.0
    face_half = float(np.abs(geo.oval[:, 0] - geo.midline).max())
    ra, rb = rng.uniform(*radii[0]), rng.uniform(*radii[1])
    cu = geo.midline + side * (face_half + rng.uniform(*u_offset))
    cv = rng.uniform(*centre_v)
    angle = rng.uniform(-0.5, 0.5)
    du, dv = U - cu, V - cv
    x = du * np.cos(angle) + dv * np.sin(angle)
    y = -du * np.sin(angle) + dv * np.cos(angle)
    r = np.sqrt((x / ra) ** 2 + (y / rb) ** 2)
    return _soft((1 - r) * min(ra, rb), 0.03)


def _hand(rng, geo, U, V, photo) -> tuple[np.ndarray, np.ndarray]:
    """A hand resting on one cheek / jaw side: the face's skin tone, a little darker, with finger shading."""
    cov = _side_patch(rng, geo, U, V, (-0.2, 0.1), (0.8, 1.4), ((0.45, 0.7), (0.7, 1.1)))
    skin = _skin_colour(photo, geo) * rng.uniform(0.8, 1.05)
    fingers = 1 + 0.08 * np.sin(2 * np.pi * V / rng.uniform(0.15, 0.25) + rng.uniform(0, 2 * np.pi))
    return cov, np.clip(skin[None, None, :] * fingers[..., None], 0, 255)


def _hair(rng, geo, U, V, photo) -> tuple[np.ndarray, np.ndarray]:
    """A lock of hair over one side of the forehead: dark to blond, with fine strands."""
    cov = _side_patch(rng, geo, U, V, (-0.4, -0.1), (-1.1, -0.6), ((0.35, 0.6), (0.7, 1.1)))
    base = np.array([rng.uniform(20, 160)] * 3) * np.array([1.0, 0.85, 0.65])
    freq = rng.uniform(25, 45)
    strands = 1 + 0.25 * np.sin(freq * (U + 0.3 * V) + rng.uniform(0, 2 * np.pi))
    return cov * rng.uniform(0.85, 1.0), np.clip(base[None, None, :] * strands[..., None], 0, 255)


def draw_occluder(
    rng: np.random.Generator, photo: np.ndarray, geo: Geometry, kinds: tuple[str, ...] = OCCLUDERS
) -> Occluder:
    """One occluder of a kind drawn from ``kinds``, in the pixels of the (H, W, 3) neutral ``photo``."""
    h, w = photo.shape[:2]
    kind = kinds[int(rng.integers(len(kinds)))]
    U, V = _face_grid(geo, (w, h))
    alpha, colour = {"glasses": _glasses, "hand": _hand, "hair": _hair}[kind](*(
        (rng, geo, U, V) if kind == "glasses" else (rng, geo, U, V, photo)))  # fmt: skip
    layer = np.dstack([np.broadcast_to(colour, (h, w, 3)), alpha]).astype(np.float32)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.6)  # anti-aliased edges
    return Occluder(kind, layer)


def composite(img: np.ndarray, occluder: Occluder, m: np.ndarray | None = None) -> np.ndarray:
    """``img`` (H, W, 3) uint8 with the occluder laid over it, moved by the 2x3 head affine ``m`` if given."""
    h, w = img.shape[:2]
    layer = occluder.layer
    if m is not None:
        layer = cv2.warpAffine(layer, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    a = layer[..., 3:4]
    out = img.astype(np.float32) * (1 - a) + layer[..., :3] * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def face_coverage(occluder: Occluder, geo: Geometry) -> float:
    """Fraction of the face oval's area that the occluder hides (alpha > 0.5), in the neutral frame."""
    h, w = occluder.alpha.shape
    hull = cv2.convexHull(geo.frame.to_pixels(geo.oval).astype(np.float32)).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, hull, 1)
    inside = mask.astype(bool)
    return float((occluder.alpha[inside] > 0.5).mean()) if inside.any() else 0.0
