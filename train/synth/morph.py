"""Identity morphs: new faces blended from two photographed people (issue 16, item 3).

Four people are too few identities for a model to learn the movement rather than the faces. Few
clearly licensed portraits exist in the package registries, so new identities are made from the ones
there are: both photos are warped onto their mean landmark shape and cross-dissolved inside the face;
outside it (hair, neck, background) the first photo stays, so the frame has one background.

A morph shows both people. Its ``person`` is their names joined by :data:`BLEND` (``a+b``), and every
protocol that holds a person out (:mod:`train.protocols`) also keeps the morphs showing that person
out of training.
"""

from __future__ import annotations

import argparse
from itertools import combinations

import cv2
import numpy as np

from train.protocols import BLEND

from .geometry import parts_indices
from .photos import FacePhoto
from .warp import dense_field


def _onto(rgb: np.ndarray, landmarks: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """``rgb`` warped so that its ``landmarks`` (478, 2) land on ``shape`` (478, 2): a dense
    thin-plate field fitted at the target points, sampled backwards (each output pixel reads its source)."""
    h, w = rgb.shape[:2]
    field = dense_field(shape, landmarks - shape, (w, h), step=4)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(rgb, gx + field[..., 0], gy + field[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _face_mask(shape: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 weight: 1 inside the face oval, fading to 0 over a tenth of the face's height."""
    w, h = size
    oval = shape[list(parts_indices()["oval"])].astype(np.float32)
    hull = cv2.convexHull(oval).astype(np.int32)
    mask = np.zeros((h, w), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0)
    feather = max(1.0, 0.05 * float(np.ptp(oval[:, 1])))
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=max(1, round(feather / 2)))
    return cv2.GaussianBlur(mask, (0, 0), feather)


def morph(a: FacePhoto, b: FacePhoto, t: float = 0.5) -> FacePhoto:
    """A new face, ``t`` of the way from ``a`` to ``b``, in ``a``'s frame.

    ``b`` is first brought onto ``a`` by the similarity that best maps its landmarks onto ``a``'s (size,
    roll, position). The landmarks of the result are the blended shape (the points the warps put the
    two faces' landmarks on), so no landmarker pass is needed; ``tests/train/test_morph.py`` checks that
    MediaPipe finds them there.

    Raises:
        ValueError: ``t`` outside (0, 1), or the two landmark sets admit no similarity.
    """
    if not 0.0 < t < 1.0:
        raise ValueError(f"a morph needs 0 < t < 1, got {t}")
    h, w = a.rgb.shape[:2]
    src, dst = (np.ascontiguousarray(x.landmarks[:, :2], np.float32) for x in (b, a))
    m, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
    if m is None:
        raise ValueError(f"cannot align {b.name} onto {a.name}")
    b_rgb = cv2.warpAffine(b.rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    b_xy = b.landmarks[:, :2].astype(np.float64) @ m[:, :2].T + m[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    shape = (1 - t) * a.landmarks[:, :2].astype(np.float64) + t * b_xy
    warped_a = _onto(a.rgb, a.landmarks[:, :2].astype(np.float64), shape).astype(np.float32)
    warped_b = _onto(b_rgb, b_xy, shape).astype(np.float32)
    weight = _face_mask(shape, (w, h))[..., None]
    blend = (1 - t) * warped_a + t * warped_b
    rgb = np.clip(weight * blend + (1 - weight) * warped_a + 0.5, 0, 255).astype(np.uint8)
    depth = (1 - t) * a.landmarks[:, 2] + t * scale * b.landmarks[:, 2]
    landmarks = np.column_stack([shape, depth]).astype(np.float32)
    return FacePhoto(f"morph_{a.name}_{b.name}", f"{a.person}{BLEND}{b.person}", rgb, landmarks)


def morph_photos(photos: tuple[FacePhoto, ...] | list[FacePhoto], count: int) -> tuple[FacePhoto, ...]:
    """Up to ``count`` half-way morphs, one per pair of different people (pairs in sorted order, the
    first photo of each person); ``count`` 0 makes none. Deterministic: no random draw."""
    if count < 0:
        raise ValueError(f"morph count must be >= 0, got {count}")
    first: dict[str, FacePhoto] = {}
    for p in photos:
        first.setdefault(p.person, p)
    pairs = list(combinations(sorted(first), 2))[:count]
    return tuple(morph(first[x], first[y]) for x, y in pairs)


def with_morphs(photos: tuple[FacePhoto, ...], count: int) -> tuple[FacePhoto, ...]:
    """``photos`` followed by :func:`morph_photos` of them (``count`` 0: ``photos`` unchanged)."""
    return photos + morph_photos(photos, count) if count else photos


def add_morph_argument(parser: argparse.ArgumentParser) -> None:
    """``--morphs N`` of the generators that accept blended identities."""
    parser.add_argument("--morphs", type=int, default=0, metavar="N",
                        help="add N blended identities (half-way between two people, one per pair; "
                        "protocols keep a blend out of training when one of its people is held out)")  # fmt: skip
