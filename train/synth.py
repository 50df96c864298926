"""Synthetic micro-expressions: labelled clips made from public-domain face photographs.

Real micro-expression datasets are licence-restricted, so the project's embedded default data and
its test fixtures come from here. One clip is one still photograph brought to life:

1. MediaPipe finds the 478 landmarks of the neutral face once per photograph (IMAGE mode).
2. An action-unit recipe (FACS-inspired, e.g. ``AU6+AU12`` for *positive*) displaces landmarks in
   face coordinates (x along the eye line, y towards the chin, unit = inter-ocular distance, IOD).
   The displacement is normalised so that its largest landmark displacement is ``amplitude * IOD``.
3. A smooth dense field is interpolated from those landmark displacements with a thin-plate spline
   (``scipy.interpolate.RBFInterpolator``) on a coarse grid, pinned to zero on rings around the face
   and on the frame border, upsampled and applied with ``cv2.remap``.
4. The field follows an onset-apex-offset time course of 0.2-0.5 s placed at a random time in a
   longer clip, under nuisances common to every class: slow head drift (translation, rotation,
   scale), blinks, global lighting change and sensor noise; compression comes from writing JPEG
   frames or H.264.

Identities: 5 photos of 4 people. Procedural variants (flip, face width, skin tone, gamma, crop and
scale) can multiply the subjects, but variants of one person share that person's identity, so a
leave-one-subject-out split over variants leaks identity. The default is honest: one subject per
person (``subjects_per_person=1``, 4 subjects); every row of ``annotations.csv`` also names its
``person`` so that variants can be grouped.

Output (CASME II-like): ``DIR/sub01/clip_0001/img1.jpg ...`` or ``DIR/sub01/clip_0001.mp4``, plus
``DIR/annotations.csv`` (subject, person, clip, onset, apex, offset, label, aus, fps, amplitude, ...;
frame numbers 1-based as CASME II counts) and ``DIR/synth_config.json``. A run writes into a
temporary sibling folder that is renamed into place at the end, so an interrupted run never
leaves an ``annotations.csv`` pointing to missing clips. Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator
from scipy.ndimage import gaussian_filter1d

from microexp.errors import NoFaceError

FACES_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "faces"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
COLUMNS = (
    "subject", "person", "clip", "onset", "apex", "offset", "label", "aus", "fps", "amplitude",
    "frames", "photo", "blinks", "width", "height",
)  # fmt: skip

# MEGC three classes -> recipe variants (one is drawn per clip). Negative gathers several
# emotions' action units (disgust, sadness, anger, repression), as the MEGC composite does.
RECIPES: dict[str, tuple[str, ...]] = {
    "negative": ("AU4+AU7", "AU9+AU10", "AU14", "AU15+AU17", "AU1+AU4+AU15", "AU4"),
    "positive": ("AU6+AU12", "AU12"),
    "surprise": ("AU1+AU2+AU5+AU26", "AU1+AU2", "AU1+AU2+AU26"),
}
LABELS = tuple(RECIPES)
# Relative intensity of each action unit inside a recipe (before the recipe's overall normalisation).
AU_INTENSITY = {
    1: 1.0,
    2: 1.0,
    4: 1.0,
    5: 0.5,
    6: 0.6,
    7: 0.7,
    9: 1.0,
    10: 0.9,
    12: 1.0,
    14: 0.8,
    15: 1.0,
    17: 0.8,
    26: 1.0,
}


# --------------------------------------------------------------------------------------------
# Configuration and records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthConfig:
    """Everything that decides a synthetic dataset; same config (incl. seed) -> same bytes.

    Attributes:
        clips: number of clips.
        seed: master seed; clip ``i`` uses its own generator seeded by ``(seed, i)``.
        labels: classes to make (keys of :data:`RECIPES`); clips are balanced across them.
        fps: frame rate.
        seconds: (min, max) clip length in seconds.
        me_seconds: (min, max) onset-to-offset duration of the micro-expression.
        amplitude: (min, max) apex displacement, as the largest landmark displacement over the IOD.
        size: (width, height) of the frames.
        subjects_per_person: 1 = one subject per real person (honest LOSO); k > 1 adds procedural
            variants of each person as extra subjects (LOSO over them leaks identity: group by person).
        nuisances: head drift, blinks, lighting change, sensor noise (off: the expression alone).
        format: ``jpg`` (frame folders) or ``mp4`` (H.264 files).
        jpeg_quality: JPEG quality of frame files.
        crf: x264 constant rate factor of mp4 files.
        faces_dir: folder of neutral face photographs (with an optional SOURCES.md table naming persons).
    """

    clips: int = 120
    seed: int = 0
    labels: tuple[str, ...] = LABELS
    fps: float = 30.0
    seconds: tuple[float, float] = (1.5, 2.5)
    me_seconds: tuple[float, float] = (0.2, 0.5)
    amplitude: tuple[float, float] = (0.035, 0.08)
    size: tuple[int, int] = (320, 240)
    subjects_per_person: int = 1
    nuisances: bool = True
    format: str = "jpg"
    jpeg_quality: int = 90
    crf: int = 18
    faces_dir: str = str(FACES_DIR)

    def __post_init__(self) -> None:
        problems = []
        if self.clips < 1:
            problems.append(f"clips must be >= 1 (got {self.clips})")
        unknown = [lab for lab in self.labels if lab not in RECIPES]
        if unknown or not self.labels:
            problems.append(f"labels must be a non-empty subset of {list(RECIPES)} (got {list(self.labels)})")
        if not 1.0 <= self.fps <= 1000.0:
            problems.append(f"fps must be in [1, 1000] (got {self.fps})")
        for name, lo_bound, hi_bound in (("seconds", 0.1, 60.0), ("me_seconds", 0.01, 10.0), ("amplitude", 1e-4, 0.5)):
            lo, hi = getattr(self, name)
            if not lo_bound <= lo <= hi <= hi_bound:
                problems.append(f"{name} must be a range within [{lo_bound}, {hi_bound}] (got {lo}..{hi})")
        if self.me_seconds[1] + 0.2 > self.seconds[0]:
            problems.append("seconds must leave at least 0.2 s beside the longest micro-expression")
        if not (64 <= self.size[0] <= 4096 and 64 <= self.size[1] <= 4096):
            problems.append(f"size must be between 64 and 4096 pixels per side (got {self.size})")
        if self.subjects_per_person < 1:
            problems.append("subjects_per_person must be >= 1")
        if self.format not in ("jpg", "mp4"):
            problems.append(f"format must be jpg or mp4 (got {self.format!r})")
        if not 1 <= self.jpeg_quality <= 100:
            problems.append("jpeg_quality must be in [1, 100]")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class FacePhoto:
    """A neutral face photograph and its landmarks.

    Attributes:
        name: file stem (``obama_2012_official``).
        person: who it shows (``barack_obama``); several photos may share one person.
        rgb: (H, W, 3) uint8.
        landmarks: (478, 3) float32 MediaPipe landmarks in pixels of ``rgb``.
    """

    name: str
    person: str
    rgb: np.ndarray
    landmarks: np.ndarray


@dataclass(frozen=True)
class Variant:
    """How a photo is framed and recoloured to make a subject (identity variants) or a clip (jitter).

    Attributes:
        flip: mirror horizontally.
        width_scale: horizontal stretch of the face (1 = as photographed).
        face_height: face-oval height as a fraction of the frame height.
        offset: face centre offset from the frame centre, as fractions of (width, height).
        gains: per-channel RGB gains (skin tone / white balance).
        gamma: tone curve exponent applied to 0..1 intensities.
    """

    flip: bool = False
    width_scale: float = 1.0
    face_height: float = 0.7
    offset: tuple[float, float] = (0.0, 0.0)
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0


@dataclass(frozen=True)
class SynthClip:
    """One generated clip. Unpacks as ``frames, onset, apex, offset = clip``.

    Attributes:
        frames: (N, H, W, 3) uint8 RGB.
        onset, apex, offset: 0-based frame indices (the csv writes them 1-based).
        fps: frame rate.
        label: class label, or ``""`` when made from an explicit recipe.
        aus: the recipe actually used (``AU6+AU12``).
        amplitude: apex displacement / IOD of the most displaced landmark.
        blinks: (start, end) 0-based frame index pairs of each blink.
        landmark_shift: (478, 2) apex landmark displacement in pixels (the ground truth of the warp).
    """

    frames: np.ndarray
    onset: int
    apex: int
    offset: int
    fps: float
    label: str
    aus: str
    amplitude: float
    blinks: tuple[tuple[int, int], ...]
    landmark_shift: np.ndarray

    def __iter__(self):
        return iter((self.frames, self.onset, self.apex, self.offset))


# --------------------------------------------------------------------------------------------
# Photos and framing
# --------------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def _persons_from_sources(folder: Path) -> dict[str, str]:
    """file name -> person slug from a markdown table ``| file | person | ...`` in SOURCES.md."""
    table: dict[str, str] = {}
    sources = folder / "SOURCES.md"
    if sources.is_file():
        for line in sources.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and cells[0].lower().endswith(PHOTO_SUFFIXES):
                table[cells[0]] = _slug(cells[1])
    return table


def load_faces(faces_dir: str | os.PathLike[str] = FACES_DIR, landmarker=None) -> tuple[FacePhoto, ...]:
    """Read the photographs of ``faces_dir`` (sorted by name) and find each one's face landmarks.

    Args:
        faces_dir: folder of photos; a SOURCES.md table maps file -> person (else person = file stem).
        landmarker: a :class:`microexp.face.FaceLandmarker` to reuse (one is made and closed otherwise).

    Raises:
        NoFaceError: a photo has no detectable face, or the folder has no photos.
    """
    from PIL import Image

    from microexp.face import FaceLandmarker

    folder = Path(faces_dir)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES) if folder.is_dir() else []
    if not files:
        raise NoFaceError(f"no face photographs (.jpg/.png) in {folder}")
    persons = _persons_from_sources(folder)
    own = landmarker is None
    landmarker = landmarker or FaceLandmarker()
    try:
        photos = []
        for path in files:
            rgb = np.array(Image.open(path).convert("RGB"))
            faces = landmarker.detect(rgb)
            if not faces:
                raise NoFaceError(f"no face found in {path}; use a frontal, neutral, well-lit portrait")
            photos.append(FacePhoto(path.stem, persons.get(path.name, _slug(path.stem)), rgb, faces[0]))
    finally:
        if own:
            landmarker.close()
    return tuple(photos)


def frame_face(
    photo: FacePhoto, size: tuple[int, int] = (320, 240), variant: Variant = Variant()
) -> tuple[np.ndarray, np.ndarray]:
    """Crop, scale, flip and recolour a photo into a (H, W) frame; return it and its moved landmarks.

    Returns:
        (H, W, 3) uint8 RGB frame and (478, 3) float32 landmarks in its pixels.
    """
    w, h = size
    lm = photo.landmarks
    oval = lm[list(_parts_indices()["oval"]), :2]
    lo, hi = oval.min(0), oval.max(0)
    scale = variant.face_height * h / float(hi[1] - lo[1])
    sx, sy = scale * variant.width_scale, scale
    # Downscale with area averaging first (warpAffine would alias), then place with a small warp.
    ph, pw = photo.rgb.shape[:2]
    rw, rh = max(1, round(pw * sx)), max(1, round(ph * sy))
    interp = cv2.INTER_AREA if sx < 1 and sy < 1 else cv2.INTER_CUBIC
    small = cv2.resize(photo.rgb, (rw, rh), interpolation=interp)
    kx, ky = rw / pw, rh / ph
    centre = (lo + hi) / 2 * (kx, ky)
    target = (w / 2 + variant.offset[0] * w, h / 2 + variant.offset[1] * h)
    flip = -1.0 if variant.flip else 1.0
    m = np.array([[flip, 0, target[0] - flip * centre[0]], [0, 1, target[1] - centre[1]]], dtype=np.float64)
    out = cv2.warpAffine(small, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    if variant.gains != (1.0, 1.0, 1.0) or variant.gamma != 1.0:
        x = np.arange(256, dtype=np.float64) / 255.0
        luts = [np.clip(255.0 * g * x**variant.gamma + 0.5, 0, 255).astype(np.uint8) for g in variant.gains]
        out = np.dstack([cv2.LUT(out[..., c], luts[c]) for c in range(3)])
    pts = lm.astype(np.float64).copy()
    pts[:, 0] *= kx
    pts[:, 1] *= ky
    pts[:, 2] *= kx
    xy = pts[:, :2] @ m[:, :2].T + m[:, 2]
    pts[:, :2] = xy
    return np.ascontiguousarray(out), pts.astype(np.float32)


def random_variant(rng: np.random.Generator) -> Variant:
    """A procedural identity variant: mirror, face width, framing, skin tone and gamma."""
    tone = rng.uniform(-0.12, 0.12)  # warmer/darker (>0) or cooler/lighter (<0)
    return Variant(
        flip=bool(rng.random() < 0.5),
        width_scale=float(rng.uniform(0.9, 1.1)),
        face_height=float(rng.uniform(0.6, 0.8)),
        offset=(float(rng.uniform(-0.06, 0.06)), float(rng.uniform(-0.04, 0.04))),
        gains=(float(1 + tone / 2), float(1 - tone / 4), float(1 - tone)),
        gamma=float(rng.uniform(0.85, 1.2)),
    )


def _jitter(variant: Variant, rng: np.random.Generator) -> Variant:
    """Per-clip framing jitter of a subject's variant (the camera is never placed twice the same)."""
    return replace(
        variant,
        face_height=float(np.clip(variant.face_height * rng.uniform(0.95, 1.05), 0.5, 0.85)),
        offset=(
            variant.offset[0] + float(rng.uniform(-0.02, 0.02)),
            variant.offset[1] + float(rng.uniform(-0.02, 0.02)),
        ),
    )


# --------------------------------------------------------------------------------------------
# Face geometry and action units
# --------------------------------------------------------------------------------------------


def _parts_indices() -> dict[str, tuple[int, ...]]:
    from microexp.face import landmark_groups

    return landmark_groups()


@dataclass(frozen=True)
class _FaceFrame:
    """Face coordinates: origin between the eyes, u along the eye line (image left -> right),
    v perpendicular towards the chin, both in units of the inter-ocular distance (IOD)."""

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    iod: float

    @classmethod
    def of(cls, landmarks: np.ndarray) -> _FaceFrame:
        g = _parts_indices()
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
class _Eye:
    """One eye in face coordinates: corner range and upper/lower lid curves as (u, v) polylines."""

    u_range: tuple[float, float]
    upper: np.ndarray  # (K, 2) sorted by u, corners included
    lower: np.ndarray
    upper_idx: tuple[int, ...]
    lower_idx: tuple[int, ...]


def _eye(P: np.ndarray, idx: Sequence[int]) -> _Eye:
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

    return _Eye((float(p0[0]), float(p1[0])), curve(up), curve(low), tuple(up.tolist()), tuple(low.tolist()))


class _Geometry:
    """Named landmark subsets of one face, in face coordinates, for the action-unit recipes."""

    def __init__(self, landmarks: np.ndarray) -> None:
        g = _parts_indices()
        self.frame = _FaceFrame.of(landmarks)
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


def _bump(P: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """Largest Gaussian weight of each point over the centres ((K, 2), face units)."""
    d2 = ((P[:, None, :] - np.asarray(centres)[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2.min(1) / (2 * sigma**2))


def _au_field(au: int, geo: _Geometry) -> np.ndarray:
    """(478, 2) displacement of one action unit in face units (unnormalised, up = -v)."""
    P, s = geo.P, geo.side
    d = np.zeros_like(P)
    above_eyes = P[:, 1] < geo.eye_top - 0.02
    lid_profile = np.maximum(*[np.exp(-((P[:, 0] - c[0]) ** 2) / (2 * 0.12**2)) for c in geo.eye_centres])
    if au == 1:  # inner brow raiser
        w = _bump(P, geo.inner_brows, 0.18) * above_eyes
        d[:, 1] -= w
    elif au == 2:  # outer brow raiser
        w = _bump(P, geo.outer_brows, 0.18) * above_eyes
        d[:, 1] -= w
    elif au == 4:  # brow lowerer: brows down and together
        w = _bump(P, geo.inner_brows, 0.22) * above_eyes
        d[:, 1] += 0.8 * w
        d[:, 0] -= 0.5 * s * w
    elif au == 5:  # upper lid raiser
        d[:, 1] -= geo.upper_lid * lid_profile
    elif au == 6:  # cheek raiser: cheeks and lower lids up
        cheeks = np.array([[geo.eye_centres[0, 0] - 0.05, 0.5], [geo.eye_centres[1, 0] + 0.05, 0.5]])
        d[:, 1] -= _bump(P, cheeks, 0.2) + 0.6 * geo.lower_lid * lid_profile
    elif au == 7:  # lid tightener: lower lids up, upper lids a little down
        d[:, 1] -= geo.lower_lid * lid_profile
        d[:, 1] += 0.3 * geo.upper_lid * lid_profile
    elif au == 9:  # nose wrinkler: nose and alae up, inner brows down
        bridge = np.array([[geo.midline, 0.3]])
        d[:, 1] -= np.maximum(_bump(P, bridge, 0.18), 0.8 * _bump(P, geo.alae, 0.1))
        d[:, 1] += 0.4 * _bump(P, geo.inner_brows, 0.15) * above_eyes
    elif au == 10:  # upper lip raiser: upper lip up (less at the corners), alae follow a little
        d[:, 1] -= geo.upper_lip * (1 - 0.7 * _bump(P, geo.corners, 0.1))
        d[:, 1] -= 0.4 * _bump(P, geo.alae, 0.1)
    elif au == 12:  # lip corner puller: corners out and up
        w = _bump(P, geo.corners, 0.15)
        d[:, 0] += 0.7 * s * w
        d[:, 1] -= 0.7 * w
    elif au == 14:  # dimpler: corners tightened inwards
        w = _bump(P, geo.corners, 0.12)
        d[:, 0] -= 0.8 * s * w
        d[:, 1] -= 0.15 * w
    elif au == 15:  # lip corner depressor
        w = _bump(P, geo.corners, 0.15)
        d[:, 1] += w
        d[:, 0] += 0.2 * s * w
    elif au == 17:  # chin raiser: chin boss and lower lip up
        boss = np.array([[geo.midline, (geo.lower_lip_v + geo.chin_v) / 2]])
        w = np.maximum(_bump(P, boss, 0.22), 0.6 * geo.lower_lip) * (P[:, 1] > geo.mouth_v)
        d[:, 1] -= w
    elif au == 26:  # jaw drop: everything below the mouth line down, ramping in (lips stretch, no fold)
        ramp = np.clip((P[:, 1] - geo.mouth_v) / 0.35, 0, 1) * (P[:, 1] > geo.mouth_v)
        d[:, 1] += ramp * np.exp(-((P[:, 0] - geo.midline) ** 2) / (2 * 0.8**2))
    else:
        raise ValueError(f"action unit AU{au} has no recipe; known: {sorted(AU_INTENSITY)}")
    return d


def parse_recipe(recipe: str) -> tuple[int, ...]:
    """``"AU6+AU12"`` (or ``"6+12"``) -> (6, 12).

    Raises:
        ValueError: an unknown or malformed action unit.
    """
    aus = []
    for part in recipe.replace(" ", "").split("+"):
        m = re.fullmatch(r"(?:AU)?(\d+)", part, flags=re.IGNORECASE)
        if not m or int(m.group(1)) not in AU_INTENSITY:
            raise ValueError(f"bad action unit {part!r} in recipe {recipe!r}; known: {sorted(AU_INTENSITY)}")
        aus.append(int(m.group(1)))
    return tuple(aus)


def landmark_displacement(
    landmarks: np.ndarray, recipe: str, amplitude: float, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Apex displacement (478, 2) in pixels of a recipe; its largest landmark displacement is ``amplitude * IOD``.

    Args:
        landmarks: (478, 2+) neutral landmarks in pixels.
        recipe: ``"AU6+AU12"`` etc.
        amplitude: largest displacement as a fraction of the inter-ocular distance.
        rng: if given, each action unit's relative intensity is varied by +-30 %.
    """
    geo = _Geometry(landmarks)
    total = np.zeros_like(geo.P)
    for au in parse_recipe(recipe):
        k = AU_INTENSITY[au] * (rng.uniform(0.7, 1.3) if rng is not None else 1.0)
        total += k * _au_field(au, geo)
    peak = float(np.linalg.norm(total, axis=1).max())
    if peak <= 0:
        raise ValueError(f"recipe {recipe!r} moves no landmark of this face")
    return geo.frame.vec_to_pixels(total * (amplitude / peak))


# --------------------------------------------------------------------------------------------
# Dense warps
# --------------------------------------------------------------------------------------------


def dense_field(landmarks: np.ndarray, shift: np.ndarray, size: tuple[int, int], step: int = 4) -> np.ndarray:
    """(H, W, 2) float32 displacement field in pixels interpolating landmark ``shift`` (478, 2).

    A thin-plate spline through the landmarks and through zero-displacement anchors (two rings
    around the face oval and the frame border) is evaluated on a grid every ``step`` pixels inside
    the outer ring's box (zero beyond) and upsampled bicubically. The coarse grid smooths the
    steepest parts of the field a little (eyelids), which also keeps the warp free of folds.
    """
    w, h = size
    frame = _FaceFrame.of(landmarks)
    P = frame.to_face(landmarks[:, :2])
    D = shift / frame.iod  # fit in IOD units: the same smoothing for every face size
    oval = P[list(_parts_indices()["oval"])]
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
    rbf = RBFInterpolator(pts, vals, kernel="thin_plate_spline", smoothing=1e-6)
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


def _blink_source(qx: np.ndarray, qy: np.ndarray, geo: _Geometry, closure: float) -> tuple[np.ndarray, np.ndarray]:
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


# --------------------------------------------------------------------------------------------
# Time courses and nuisances
# --------------------------------------------------------------------------------------------


def _bump_curve(n: int, start: int, peak: int, end: int) -> np.ndarray:
    """0 outside [start, end], raised-cosine rise to 1 at ``peak`` and fall back (per frame)."""
    t = np.arange(n, dtype=np.float64)
    a = np.zeros(n)
    rise = (t >= start) & (t <= peak)
    fall = (t > peak) & (t <= end)
    a[rise] = 0.5 - 0.5 * np.cos(np.pi * (t[rise] - start) / max(peak - start, 1))
    a[fall] = 0.5 + 0.5 * np.cos(np.pi * (t[fall] - peak) / max(end - peak, 1))
    return a


def _smooth_path(rng: np.random.Generator, n: int, fps: float, peak: float) -> np.ndarray:
    """A slow random path of n samples with largest magnitude ``peak``, starting at 0."""
    walk = np.cumsum(rng.normal(size=n))
    walk = gaussian_filter1d(walk, sigma=max(0.25 * fps, 1.0), mode="nearest")
    walk -= walk[0]
    m = np.abs(walk).max()
    return walk * (peak / m) if m > 0 else walk


@dataclass(frozen=True)
class _Nuisance:
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


def _nuisances(rng: np.random.Generator, n: int, fps: float, enabled: bool) -> _Nuisance:
    if not enabled:
        z = np.zeros(n)
        return _Nuisance(np.zeros((n, 2)), z, z, z, (), np.ones(n), np.zeros((n, 2)), 0.0, enabled=False)
    drift = rng.uniform(0.3, 3.0)
    theta = rng.uniform(0, 2 * np.pi)
    shift = np.stack([_smooth_path(rng, n, fps, drift * abs(math.cos(theta)) + 0.1),
                      _smooth_path(rng, n, fps, drift * abs(math.sin(theta)) + 0.1)], 1)  # fmt: skip
    angle = _smooth_path(rng, n, fps, rng.uniform(0.0, 0.8))
    zoom = _smooth_path(rng, n, fps, rng.uniform(0.0, 0.01))
    closure = np.zeros(n)
    blinks = []
    for _ in range(int(rng.choice([0, 1, 1, 2], p=[0.2, 0.4, 0.2, 0.2]))):
        length = max(3, round(rng.uniform(0.1, 0.25) * fps))
        start = int(rng.integers(0, max(n - length, 1)))
        peak = start + max(1, round(length * rng.uniform(0.35, 0.5)))
        end = min(start + length, n - 1)
        if end <= peak:
            continue
        closure = np.maximum(closure, rng.uniform(0.75, 1.0) * _bump_curve(n, start, peak, end))
        blinks.append((start, end))
    ramp = np.linspace(-0.5, 0.5, n)
    gain = 1.0 + rng.uniform(-0.08, 0.08) * ramp + rng.uniform(-0.05, 0.05)
    g0, g1 = rng.uniform(-0.04, 0.04, size=2), rng.uniform(-0.04, 0.04, size=2)
    gradient = g0 + (g1 - g0) * (ramp[:, None] + 0.5)
    return _Nuisance(shift, angle, zoom, closure, tuple(sorted(blinks)), gain, gradient, float(rng.uniform(0.5, 2.0)))


# --------------------------------------------------------------------------------------------
# One clip
# --------------------------------------------------------------------------------------------


def _frames_range(rng: np.random.Generator, fps: float, lo: float, hi: float) -> int:
    a, b = math.ceil(lo * fps - 1e-9), math.floor(hi * fps + 1e-9)
    if b < a:
        raise ValueError(f"no whole number of frames at {fps} fps lasts between {lo} and {hi} s")
    return int(rng.integers(a, b + 1))


def make_clip(
    photo_rgb: np.ndarray,
    landmarks: np.ndarray,
    expression: str,
    rng: np.random.Generator | int | None = None,
    *,
    fps: float = 30.0,
    seconds: float | tuple[float, float] = (1.5, 2.5),
    me_seconds: tuple[float, float] = (0.2, 0.5),
    amplitude: float | tuple[float, float] = (0.035, 0.08),
    nuisances: bool = True,
) -> SynthClip:
    """Animate one neutral face: a micro-expression at a random time, plus (optionally) nuisances.

    Args:
        photo_rgb: (H, W, 3) uint8 neutral face (see :func:`frame_face`); the frames have its size.
        landmarks: (478, 2+) its landmarks in pixels.
        expression: a class of :data:`RECIPES` (a recipe variant is drawn) or an explicit recipe
            such as ``"AU12"`` or ``"AU6+AU12"`` (used as given, no intensity jitter).
        rng: generator or seed.
        fps: frame rate.
        seconds: clip length, or a (min, max) range to draw from.
        me_seconds: (min, max) onset-to-offset duration; whole frames within it are drawn.
        amplitude: largest apex landmark displacement / IOD, or a (min, max) range.
        nuisances: head drift, blinks, lighting change and sensor noise; off, the only change in
            the clip is the expression (first and last frames equal the photo).

    Returns:
        A :class:`SynthClip`; ``frames, onset, apex, offset = clip`` (0-based indices).
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    if expression in RECIPES:
        label = expression
        aus = str(rng.choice(RECIPES[expression]))
        au_rng = rng
    else:
        label, aus, au_rng = "", "+".join(f"AU{a}" for a in parse_recipe(expression)), None
    length = rng.uniform(*seconds) if isinstance(seconds, (tuple, list)) else float(seconds)
    amp = float(rng.uniform(*amplitude)) if isinstance(amplitude, (tuple, list)) else float(amplitude)
    n = max(3, round(length * fps))
    span = _frames_range(rng, fps, *me_seconds)
    margin = max(1, round(0.1 * fps))
    if span + 2 * margin >= n:
        raise ValueError(f"a {n}-frame clip is too short for a {span}-frame micro-expression")
    onset = int(rng.integers(margin, n - margin - span))
    offset = onset + span
    apex = onset + max(1, min(span - 1, round(span * rng.uniform(0.3, 0.5))))
    course = _bump_curve(n, onset, apex, offset)
    h, w = photo_rgb.shape[:2]
    geo = _Geometry(landmarks)
    shift = landmark_displacement(landmarks, aus, amp, au_rng)
    field = dense_field(landmarks, shift, (w, h))
    nz = _nuisances(rng, n, fps, nuisances)
    frames = _render(photo_rgb, geo, field, course, nz, rng)
    return SynthClip(frames, onset, apex, offset, float(fps), label, aus, amp, nz.blinks, shift.astype(np.float32))


def _render(
    photo: np.ndarray, geo: _Geometry, field: np.ndarray, course: np.ndarray, nz: _Nuisance, rng: np.random.Generator
) -> np.ndarray:
    """Frames of one clip: inverse-map each output pixel to the neutral photo and sample it."""
    n = len(course)
    h, w = photo.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xs = ((np.arange(w, dtype=np.float32) - (w - 1) / 2) / w)[None, :]  # -0.5..0.5, lighting gradient
    ys = ((np.arange(h, dtype=np.float32) - (h - 1) / 2) / h)[:, None]
    centre = (float(geo.frame.origin[0]), float(geo.frame.origin[1]))
    # Sensor noise: a small bank of Gaussian frames, read at random offsets (drawing a fresh
    # normal frame for every frame would cost more than all the warping).
    pad = 32
    bank = rng.standard_normal((2, h + pad, w + pad, 3), dtype=np.float32) * np.float32(nz.noise)
    out = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        a = np.float32(course[i])
        m = cv2.getRotationMatrix2D(centre, float(nz.angle[i]), 1.0 + float(nz.zoom[i]))
        m[:, 2] += nz.shift[i]
        if a == 0 and nz.closure[i] == 0:
            if nz.enabled:
                img = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
            else:
                img = photo
        else:
            # Head pose: output pixel p -> neutral-face point q = A^-1 p (A rotates/scales about the eyes).
            inv = cv2.invertAffineTransform(m).astype(np.float32)
            qx = inv[0, 0] * gx + inv[0, 1] * gy + inv[0, 2]
            qy = inv[1, 0] * gx + inv[1, 1] * gy + inv[1, 2]
            if a > 0:
                # Expression: solve q = r + a*F(r) for r by fixed-point steps (F is smooth and small).
                rx, ry = qx, qy
                for _ in range(2):
                    f = cv2.remap(field, rx, ry, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
                    rx, ry = qx - a * f[..., 0], qy - a * f[..., 1]
                qx, qy = rx, ry
            if nz.closure[i] > 0:
                qx, qy = _blink_source(qx, qy, geo, float(nz.closure[i]))
            img = cv2.remap(photo, qx, qy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
        if nz.enabled:
            g = np.float32([nz.gain[i], *nz.gradient[i]])
            light = (g[0] + g[1] * xs) + g[2] * ys  # (H, W) by broadcasting
            dy, dx = rng.integers(0, pad + 1, size=2)
            noisy = img.astype(np.float32) * light[..., None] + bank[i % 2, dy : dy + h, dx : dx + w]
            noisy += 0.5  # round to nearest on the truncating cast below
            out[i] = np.clip(noisy, 0, 255, out=noisy)
        else:
            out[i] = img
    return out


# --------------------------------------------------------------------------------------------
# A dataset
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subject:
    id: str
    person: str
    photos: tuple[FacePhoto, ...]
    variant: Variant


def _subjects(photos: Sequence[FacePhoto], per_person: int, seed: int) -> list[_Subject]:
    persons: dict[str, list[FacePhoto]] = {}
    for p in photos:
        persons.setdefault(p.person, []).append(p)
    subjects = []
    for pi, (person, own) in enumerate(persons.items()):
        for k in range(per_person):
            variant = Variant() if k == 0 else random_variant(np.random.default_rng([seed, 2, pi, k]))
            subjects.append(_Subject(f"sub{len(subjects) + 1:02d}", person, tuple(own), variant))
    return subjects


def _write_frames(folder: Path, frames: np.ndarray, quality: int) -> None:
    folder.mkdir(parents=True)
    for i, rgb in enumerate(frames, start=1):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError(f"could not encode frame {i} of {folder}")
        (folder / f"img{i}.jpg").write_bytes(buf.tobytes())


def _write_mp4(path: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    from microexp.video import write_video

    write_video(path, frames, fps, crf=crf)


def _place(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished temporary folder to ``out`` (replacing an empty folder, or any if ``overwrite``)."""
    old = None
    if out.exists():
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        elif overwrite:
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
        else:
            raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def generate(
    config: SynthConfig,
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    overwrite: bool = False,
    photos: Sequence[FacePhoto] | None = None,
) -> Path:
    """Write a synthetic dataset to ``out_dir``; return the path of its ``annotations.csv``.

    The dataset is built in a temporary sibling folder and renamed to ``out_dir`` when complete.

    Args:
        config: what to make.
        out_dir: destination folder (must not exist or be empty, unless ``overwrite``).
        progress: show a tqdm progress bar.
        overwrite: replace an existing non-empty ``out_dir``.
        photos: already loaded photos (default: :func:`load_faces` of ``config.faces_dir``).
    """
    from tqdm.auto import tqdm

    out = Path(out_dir).resolve()
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    photos = tuple(photos) if photos is not None else load_faces(config.faces_dir)
    subjects = _subjects(photos, config.subjects_per_person, config.seed)
    # Balanced labels, shuffled by the seed; subjects in turn, so every subject gets every class.
    labels = [config.labels[i % len(config.labels)] for i in range(config.clips)]
    labels = [labels[i] for i in np.random.default_rng([config.seed, 1]).permutation(config.clips)]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    rows = []
    try:
        for i in tqdm(range(config.clips), desc="synth", unit="clip", disable=not progress):
            rng = np.random.default_rng([config.seed, 0, i])
            subject = subjects[i % len(subjects)]
            photo = subject.photos[int(rng.integers(len(subject.photos)))]
            rgb, lm = frame_face(photo, config.size, _jitter(subject.variant, rng))
            clip = make_clip(
                rgb, lm, labels[i], rng, fps=config.fps, seconds=config.seconds,
                me_seconds=config.me_seconds, amplitude=config.amplitude, nuisances=config.nuisances,
            )  # fmt: skip
            name = f"clip_{i + 1:04d}"
            if config.format == "jpg":
                _write_frames(tmp / subject.id / name, clip.frames, config.jpeg_quality)
            else:
                _write_mp4(tmp / subject.id / f"{name}.mp4", clip.frames, config.fps, config.crf)
            rows.append({
                "subject": subject.id, "person": subject.person, "clip": name,
                "onset": clip.onset + 1, "apex": clip.apex + 1, "offset": clip.offset + 1,
                "label": clip.label, "aus": clip.aus, "fps": f"{config.fps:g}", "amplitude": f"{clip.amplitude:.4f}",
                "frames": len(clip.frames), "photo": photo.name, "blinks": len(clip.blinks),
                "width": config.size[0], "height": config.size[1],
            })  # fmt: skip
        meta = {
            "synthetic": True,
            "generator": "train.synth",
            "config": asdict(config) | {"faces_dir": Path(config.faces_dir).name},
            "subjects": {s.id: {"person": s.person, "variant": asdict(s.variant)} for s in subjects},
            "note": "Synthetic micro-expressions warped from public-domain photos; LOSO over variants of one "
            "person leaks identity (group by the `person` column).",
        }
        (tmp / "synth_config.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        (tmp / "annotations.csv").write_text(buf.getvalue(), encoding="utf-8")
        _place(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "annotations.csv"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _range(text: str) -> tuple[float, float]:
    try:
        parts = [float(x) for x in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or MIN:MAX, got {text!r}") from None
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise argparse.ArgumentTypeError(f"expected a number or MIN:MAX, got {text!r}")


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}")
    return int(m.group(1)), int(m.group(2))


def build_parser() -> argparse.ArgumentParser:
    d = SynthConfig()
    p = argparse.ArgumentParser(
        prog="python -m train synth",
        description="Make a synthetic micro-expression dataset (CASME II-like layout) from face photographs.",
        epilog="LOSO honesty: with --subjects-per-person > 1 several subjects show one real person; "
        "group folds by the `person` column of annotations.csv.",
    )
    p.add_argument("--out", required=True, help="output folder (created; must not exist or be empty)")
    p.add_argument("--clips", type=int, default=d.clips, help=f"number of clips (default {d.clips})")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (same seed, same bytes)")
    p.add_argument("--labels", default=",".join(d.labels), help="comma-separated classes (default: all three)")
    p.add_argument("--fps", type=float, default=d.fps, help="frame rate (e.g. 200 for CASME II-like clips)")
    p.add_argument("--seconds", type=_range, default=d.seconds, help="clip length in s, N or MIN:MAX (default 1.5:2.5)")
    p.add_argument("--me-seconds", type=_range, default=d.me_seconds, help="onset-offset duration, MIN:MAX (0.2:0.5)")
    p.add_argument("--amplitude", type=_range, default=d.amplitude,
                   help="apex displacement / inter-ocular distance, N or MIN:MAX (default 0.035:0.08)")  # fmt: skip
    p.add_argument("--size", type=_size, default=d.size, help="frame size WxH (default 320x240)")
    p.add_argument("--subjects-per-person", type=int, default=d.subjects_per_person,
                   help="subjects per real person (1 = honest LOSO; more = procedural variants)")  # fmt: skip
    p.add_argument("--no-nuisances", action="store_true", help="no head drift, blinks, lighting change or noise")
    p.add_argument("--format", choices=("jpg", "mp4"), default=d.format, help="frame folders or H.264 files")
    p.add_argument("--jpeg-quality", type=int, default=d.jpeg_quality)
    p.add_argument("--crf", type=int, default=d.crf, help="x264 quality for --format mp4")
    p.add_argument("--faces", default=d.faces_dir, help="folder of neutral face photographs")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train synth ...``; returns the exit status."""
    from microexp.errors import MicroExpError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = SynthConfig(
            clips=args.clips, seed=args.seed, labels=tuple(x.strip() for x in args.labels.split(",") if x.strip()),
            fps=args.fps, seconds=args.seconds, me_seconds=args.me_seconds, amplitude=args.amplitude,
            size=args.size, subjects_per_person=args.subjects_per_person, nuisances=not args.no_nuisances,
            format=args.format, jpeg_quality=args.jpeg_quality, crf=args.crf, faces_dir=args.faces,
        )  # fmt: skip
    except ValueError as exc:
        parser.error(str(exc))
    start = time.perf_counter()
    try:
        csv_path = generate(config, args.out, progress=not args.quiet, overwrite=args.overwrite)
    except (MicroExpError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    took = time.perf_counter() - start
    print(f"{config.clips} clips in {took:.1f} s ({config.clips / took:.1f} clips/s): {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
