"""The probe generator's action units: landmark handles, recipes per MEGC class, displacements.

Written independently of ``train.synth``: its own AU handle table and recipes, so a model trained
on one generator and tested on the other meets movements it has not seen drawn the same way.

Face coordinates (used for every vector below): origin at the midpoint of the two eye centres,
x along the eye line towards the image-right eye, y perpendicular to it towards the chin, unit =
inter-ocular distance (IOD). A handle's vector ``(dx, dy)`` has ``dx`` pointing *away from the
face midline* (``dx > 0`` = outwards on either side), so one entry serves both halves of the face.

A handle moves its landmarks by its vector and their neighbours by a Gaussian falloff over face
distance (``sigma`` in IOD); an optional half-plane gate (``above``/``below`` a reference line, e.g.
the lip line) keeps a lower-lip handle from dragging the upper lip across a closed mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microexp.face import eye_centres

# MediaPipe face-mesh indices, per face half: (image-left half, image-right half) for a frontal,
# unmirrored face. Which half is "outwards" is decided from the landmarks, not from these names.
BROW_INNER = ((107, 55, 66, 65), (336, 285, 296, 295))
BROW_OUTER = ((70, 46, 63, 53), (300, 276, 293, 283))
BROW_MID = ((105, 52), (334, 282))
LID_UPPER = ((159, 158, 160, 161, 157), (386, 385, 387, 388, 384))
LID_LOWER = ((145, 144, 153, 163, 154), (374, 373, 380, 390, 381))
EYE_CORNERS = ((33, 133), (263, 362))
CHEEK = ((50, 101, 118, 117, 123), (280, 330, 347, 346, 352))
NOSE_SIDE = ((129, 49, 48, 64, 98), (358, 279, 278, 294, 327))
LIP_CORNER = ((61, 78), (291, 308))
UPPER_LIP = ((37, 39, 40, 82, 81), (267, 269, 270, 312, 311))
LOWER_LIP = ((84, 181, 91, 87, 178), (314, 405, 321, 317, 402))
LIP_MID_UPPER = (0, 13, 12, 11)
LIP_MID_LOWER = (17, 14, 15, 16)
CHIN = (152, 175, 199, 200, 18, 148, 377, 176, 400)
LIP_LINE = (13, 14)  # inner lip midpoints: the line between the lips


@dataclass(frozen=True)
class Handle:
    """Landmarks that one action unit pushes, and how.

    Attributes:
        points: landmark indices moved by the full vector (one face half, or the midline).
        vector: (outwards, down) displacement in IOD at unit intensity.
        sigma: Gaussian falloff (IOD) from the nearest handle point to other landmarks.
        gate: ``"above"`` / ``"below"``: only landmarks on that side of ``gate_line`` move.
        gate_line: landmark indices whose mean y (face coords) is the gate line.
    """

    points: tuple[int, ...]
    vector: tuple[float, float]
    sigma: float
    gate: str | None = None
    gate_line: tuple[int, ...] = ()


Pair = tuple[tuple[int, ...], tuple[int, ...]]


def _both(
    pair: Pair, vector: tuple[float, float], sigma: float, gate: str | None = None, line_pair: Pair | None = None
) -> tuple[Handle, ...]:
    """The same handle on both face halves (the outward sign is found per half from the landmarks)."""
    lines = line_pair or ((), ())
    return tuple(Handle(tuple(p), vector, sigma, gate, tuple(l)) for p, l in zip(pair, lines, strict=True))


_LIPS = (LIP_LINE, LIP_LINE)
_LID = (LID_UPPER[0][:1], LID_UPPER[1][:1])  # brow handles stay above the upper lid
_EYE = EYE_CORNERS
_MID_UP, _MID_LOW = LIP_MID_UPPER, LIP_MID_LOWER
# AU number -> handles. Vectors are relative; the recipe is normalised to the clip's amplitude.
AU_HANDLES: dict[int, tuple[Handle, ...]] = {
    1: _both(BROW_INNER, (0.0, -1.0), 0.14, "above", _LID),
    2: _both(BROW_OUTER, (0.15, -1.0), 0.14, "above", _LID),
    4: _both(BROW_INNER, (-0.7, 0.55), 0.16, "above", _LID) + _both(BROW_MID, (-0.3, 0.45), 0.14, "above", _LID),
    5: _both(LID_UPPER, (0.0, -1.0), 0.07, "above", _EYE),
    6: _both(CHEEK, (0.05, -1.0), 0.18, "below", _EYE) + _both(LID_LOWER, (0.0, -0.45), 0.06, "below", _EYE),
    7: _both(LID_LOWER, (0.0, -1.0), 0.06, "below", _EYE) + _both(LID_UPPER, (0.0, 0.3), 0.05, "above", _EYE),
    9: _both(NOSE_SIDE, (-0.15, -1.0), 0.11) + _both(((55,), (285,)), (0.0, 0.35), 0.1, "above", _LID),
    10: _both(UPPER_LIP, (0.0, -1.0), 0.11, "above", _LIPS) + (Handle(_MID_UP, (0.0, -0.7), 0.1, "above", LIP_LINE),),
    12: _both(LIP_CORNER, (0.65, -0.75), 0.15),
    14: _both(LIP_CORNER, (0.55, 0.1), 0.07),
    15: _both(LIP_CORNER, (0.1, 1.0), 0.12),
    17: (
        Handle(CHIN, (0.0, -1.0), 0.2, "below", LIP_LINE),
        Handle(_MID_LOW, (0.0, -0.55), 0.1, "below", LIP_LINE),
    ),
    20: _both(LIP_CORNER, (1.0, 0.15), 0.14),
    23: _both(LIP_CORNER, (-0.5, 0.0), 0.1) + (
        Handle(_MID_UP, (0.0, 0.45), 0.1, "above", LIP_LINE),
        Handle(_MID_LOW, (0.0, -0.45), 0.1, "below", LIP_LINE),
    ),
    24: _both(LIP_CORNER, (-0.2, 0.0), 0.08) + (
        Handle(_MID_UP, (0.0, 0.7), 0.12, "above", LIP_LINE),
        Handle(_MID_LOW, (0.0, -0.7), 0.12, "below", LIP_LINE),
    ),
    25: _both(LOWER_LIP, (0.0, 0.8), 0.1, "below", _LIPS) + (
        Handle(_MID_LOW, (0.0, 1.0), 0.12, "below", LIP_LINE),
        Handle(_MID_UP, (0.0, -0.3), 0.08, "above", LIP_LINE),
    ),
    26: (Handle(CHIN + _MID_LOW, (0.0, 1.0), 0.35, "below", LIP_LINE),),
}

# MEGC class -> (recipe, weight relative to the clip amplitude). Probe-only choices on purpose:
# negative leans on the lip stretcher / tightener / pressor (AU20, AU23, AU24) and lips parting;
# positive includes a weak AU6 alone; surprise includes AU1+AU2+AU5 without a jaw drop.
RECIPES: dict[str, tuple[tuple[str, float], ...]] = {
    "negative": (
        ("AU4+AU7+AU23", 1.0), ("AU20", 1.0), ("AU15+AU17+AU24", 1.0), ("AU9+AU25", 1.0),
        ("AU4+AU20", 1.0), ("AU10+AU17", 1.0), ("AU14+AU24", 1.0), ("AU4", 1.0),
    ),
    "positive": (("AU12", 1.0), ("AU6+AU12", 1.0), ("AU6+AU12+AU25", 1.0), ("AU12+AU25", 1.0), ("AU6", 0.55)),
    "surprise": (("AU1+AU2", 1.0), ("AU1+AU2+AU5", 1.0), ("AU1+AU2+AU25", 1.0), ("AU1+AU2+AU5+AU26", 1.0)),
}  # fmt: skip
LABELS = tuple(RECIPES)


def parse_aus(recipe: str) -> tuple[int, ...]:
    """``"AU6+AU12"`` -> ``(6, 12)``; unknown AUs raise ValueError."""
    aus = tuple(int(part.strip().upper().removeprefix("AU")) for part in recipe.split("+") if part.strip())
    unknown = [au for au in aus if au not in AU_HANDLES]
    if not aus or unknown:
        raise ValueError(f"recipe {recipe!r}: unknown action units {unknown or recipe}")
    return aus


def face_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Origin (2,), rotation (2, 2) whose rows are the face x and y axes in pixels, and the IOD in pixels."""
    a, b = eye_centres(landmarks[None])
    a, b = a[0], b[0]
    if a[0] > b[0]:
        a, b = b, a
    axis = b - a
    iod = float(np.hypot(*axis))
    ex = axis / iod
    ey = np.array([-ex[1], ex[0]])  # image y grows downwards, so this points to the chin
    return (a + b) / 2.0, np.stack([ex, ey]), iod


def to_face(landmarks: np.ndarray) -> np.ndarray:
    """(478, 2) face coordinates (IOD units) of pixel landmarks."""
    origin, rot, iod = face_frame(landmarks)
    return (landmarks[:, :2] - origin) @ rot.T / iod


def unit_displacement(landmarks: np.ndarray, intensities: dict[int, float], asymmetry: float = 0.0) -> np.ndarray:
    """Landmark displacement (478, 2) in IOD units, face coordinates, before amplitude scaling.

    Args:
        landmarks: (478, 2+) pixel landmarks of the neutral face.
        intensities: AU -> relative intensity.
        asymmetry: -1..1; the image-right half moves by ``1 + asymmetry`` and the left by ``1 - asymmetry``
            (halves meet smoothly on the midline).
    """
    P = to_face(landmarks)
    out = np.zeros_like(P)
    half_gain = 1.0 + asymmetry * np.tanh(P[:, 0] / 0.15)
    for au, intensity in intensities.items():
        for h in AU_HANDLES[au]:
            pts = P[list(h.points)]
            d2 = ((P[:, None, :] - pts[None, :, :]) ** 2).sum(-1).min(1)
            w = np.exp(-d2 / (2.0 * h.sigma**2))
            if h.gate:
                line = P[list(h.gate_line), 1].mean()
                w = w * ((P[:, 1] < line) if h.gate == "above" else (P[:, 1] > line))
            side = np.sign(pts[:, 0].mean()) if abs(pts[:, 0].mean()) > 0.05 else 0.0
            vec = np.array([h.vector[0] * side, h.vector[1]])
            out += intensity * w[:, None] * vec[None, :]
    return out * half_gain[:, None]


def pixel_displacement(landmarks: np.ndarray, unit: np.ndarray, amplitude: float) -> np.ndarray:
    """Scale ``unit`` so its largest landmark move is ``amplitude`` IOD; return (478, 2) pixel vectors."""
    _, rot, iod = face_frame(landmarks)
    peak = float(np.linalg.norm(unit, axis=1).max())
    if peak <= 0:
        return np.zeros_like(unit)
    return (unit / peak * amplitude * iod) @ rot
