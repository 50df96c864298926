"""Face photographs and framing: the neutral faces a clip is made from, and how each is placed in a frame.

The photos ship in ``faces/`` beside this module (public domain; see ``faces/SOURCES.md``, whose
table also names the person each file shows, so that subjects can be grouped by person).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from microexp.errors import NoFaceError

from .geometry import parts_indices

FACES_DIR = Path(__file__).resolve().parent / "faces"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


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


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_")


def sources_table(folder: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of the first markdown table of ``folder/SOURCES.md`` whose header starts ``| file | person |``.

    Later tables (e.g. candidates that were left out) are not read.
    """
    sources = Path(folder) / "SOURCES.md"
    if not sources.is_file():
        return []
    header: list[str] | None = None
    rows = []
    for line in sources.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if header is not None:
                break  # the table ended
            continue
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        if header is None:
            if [c.lower() for c in cells[:2]] == ["file", "person"]:
                header = [c.lower() for c in cells]
        elif not set("".join(cells)) <= set("-: "):  # skip the |---| separator
            rows.append(dict(zip(header, cells)))
    return rows


def persons_from_sources(folder: str | os.PathLike[str]) -> dict[str, str]:
    """file name -> person slug from the ``| file | person | ...`` table in ``folder/SOURCES.md``."""
    return {
        row["file"]: _slug(row["person"])
        for row in sources_table(folder)
        if row["file"].lower().endswith(PHOTO_SUFFIXES) and row.get("person")
    }


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
    persons = persons_from_sources(folder)
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
    oval = lm[list(parts_indices()["oval"]), :2]
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


def jitter(variant: Variant, rng: np.random.Generator) -> Variant:
    """Per-clip framing jitter of a subject's variant (the camera is never placed twice the same)."""
    return replace(
        variant,
        face_height=float(np.clip(variant.face_height * rng.uniform(0.95, 1.05), 0.5, 0.85)),
        offset=(
            variant.offset[0] + float(rng.uniform(-0.02, 0.02)),
            variant.offset[1] + float(rng.uniform(-0.02, 0.02)),
        ),
    )
