"""Action units: what each one moves on a face, the class recipes, and the apex landmark displacement.

Each action unit is a function from a face's :class:`Geometry` to a (478, 2) landmark displacement
in face units (unnormalised; ``up`` is ``-v``), registered in :data:`AU_FIELDS`. Adding an action unit
is one function plus one table row. The shapes are FACS-inspired, not measured.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from .geometry import Geometry

# MEGC three classes -> recipe variants (one is drawn per clip). Negative gathers several
# emotions' action units (disgust, sadness, anger, repression), as the MEGC composite does.
RECIPES: dict[str, tuple[str, ...]] = {
    "negative": ("AU4+AU7", "AU9+AU10", "AU14", "AU15+AU17", "AU1+AU4+AU15", "AU4"),
    "positive": ("AU6+AU12", "AU12"),
    "surprise": ("AU1+AU2+AU5+AU26", "AU1+AU2", "AU1+AU2+AU26"),
}
LABELS = tuple(RECIPES)
# The wider table of ``Variety.varied()``: the MEGC negative also holds fear and anger, whose lip
# actions (AU20 lip stretcher; AU23 tightener, AU24 pressor) the original table lacks, so a model
# could take any sideways pull of the lip corners for a smile; surprise also comes without the jaw.
# Drawn only by the varied preset, so the original generator's clips stay as they were.
EXTENDED_RECIPES: dict[str, tuple[str, ...]] = {
    "negative": RECIPES["negative"] + ("AU20", "AU1+AU4+AU20", "AU23", "AU4+AU7+AU24", "AU10+AU14"),
    "positive": RECIPES["positive"] + ("AU6+AU12+AU25",),
    "surprise": RECIPES["surprise"] + ("AU1+AU2+AU5", "AU1+AU2+AU25"),
}
# ``Variety.recipes`` name -> the table a clip's class draws its recipe from.
RECIPE_TABLES: dict[str, dict[str, tuple[str, ...]]] = {"original": RECIPES, "extended": EXTENDED_RECIPES}
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
    20: 1.0,
    23: 0.8,
    24: 0.9,
    25: 0.8,
    26: 1.0,
}


def _bump(P: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """Largest Gaussian weight of each point over the centres ((K, 2), face units)."""
    d2 = ((P[:, None, :] - np.asarray(centres)[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2.min(1) / (2 * sigma**2))


def _above_eyes(geo: Geometry) -> np.ndarray:
    """(478,) mask of points clearly above both eyes (brow actions must not drag the lids)."""
    return geo.P[:, 1] < geo.eye_top - 0.02


def _lid_profile(geo: Geometry) -> np.ndarray:
    """(478,) weight along u that is 1 at each eye centre and fades towards the corners."""
    P = geo.P
    return np.maximum(*[np.exp(-((P[:, 0] - c[0]) ** 2) / (2 * 0.12**2)) for c in geo.eye_centres])


def au1(geo: Geometry) -> np.ndarray:
    """Inner brow raiser."""
    d = np.zeros_like(geo.P)
    w = _bump(geo.P, geo.inner_brows, 0.18) * _above_eyes(geo)
    d[:, 1] -= w
    return d


def au2(geo: Geometry) -> np.ndarray:
    """Outer brow raiser."""
    d = np.zeros_like(geo.P)
    w = _bump(geo.P, geo.outer_brows, 0.18) * _above_eyes(geo)
    d[:, 1] -= w
    return d


def au4(geo: Geometry) -> np.ndarray:
    """Brow lowerer: brows down and together."""
    d = np.zeros_like(geo.P)
    w = _bump(geo.P, geo.inner_brows, 0.22) * _above_eyes(geo)
    d[:, 1] += 0.8 * w
    d[:, 0] -= 0.5 * geo.side * w
    return d


def au5(geo: Geometry) -> np.ndarray:
    """Upper lid raiser."""
    d = np.zeros_like(geo.P)
    d[:, 1] -= geo.upper_lid * _lid_profile(geo)
    return d


def au6(geo: Geometry) -> np.ndarray:
    """Cheek raiser: cheeks and lower lids up."""
    d = np.zeros_like(geo.P)
    cheeks = np.array([[geo.eye_centres[0, 0] - 0.05, 0.5], [geo.eye_centres[1, 0] + 0.05, 0.5]])
    d[:, 1] -= _bump(geo.P, cheeks, 0.2) + 0.6 * geo.lower_lid * _lid_profile(geo)
    return d


def au7(geo: Geometry) -> np.ndarray:
    """Lid tightener: lower lids up, upper lids a little down."""
    d = np.zeros_like(geo.P)
    lid_profile = _lid_profile(geo)
    d[:, 1] -= geo.lower_lid * lid_profile
    d[:, 1] += 0.3 * geo.upper_lid * lid_profile
    return d


def au9(geo: Geometry) -> np.ndarray:
    """Nose wrinkler: nose and alae up, inner brows down."""
    P = geo.P
    d = np.zeros_like(P)
    bridge = np.array([[geo.midline, 0.3]])
    d[:, 1] -= np.maximum(_bump(P, bridge, 0.18), 0.8 * _bump(P, geo.alae, 0.1))
    d[:, 1] += 0.4 * _bump(P, geo.inner_brows, 0.15) * _above_eyes(geo)
    return d


def au10(geo: Geometry) -> np.ndarray:
    """Upper lip raiser: upper lip up (less at the corners), alae follow a little."""
    P = geo.P
    d = np.zeros_like(P)
    d[:, 1] -= geo.upper_lip * (1 - 0.7 * _bump(P, geo.corners, 0.1))
    d[:, 1] -= 0.4 * _bump(P, geo.alae, 0.1)
    return d


def au12(geo: Geometry) -> np.ndarray:
    """Lip corner puller: corners out and up."""
    d = np.zeros_like(geo.P)
    w = _bump(geo.P, geo.corners, 0.15)
    d[:, 0] += 0.7 * geo.side * w
    d[:, 1] -= 0.7 * w
    return d


def au14(geo: Geometry) -> np.ndarray:
    """Dimpler: corners tightened inwards."""
    d = np.zeros_like(geo.P)
    w = _bump(geo.P, geo.corners, 0.12)
    d[:, 0] -= 0.8 * geo.side * w
    d[:, 1] -= 0.15 * w
    return d


def au15(geo: Geometry) -> np.ndarray:
    """Lip corner depressor."""
    d = np.zeros_like(geo.P)
    w = _bump(geo.P, geo.corners, 0.15)
    d[:, 1] += w
    d[:, 0] += 0.2 * geo.side * w
    return d


def au17(geo: Geometry) -> np.ndarray:
    """Chin raiser: chin boss and lower lip up."""
    P = geo.P
    d = np.zeros_like(P)
    boss = np.array([[geo.midline, (geo.lower_lip_v + geo.chin_v) / 2]])
    w = np.maximum(_bump(P, boss, 0.22), 0.6 * geo.lower_lip) * (P[:, 1] > geo.mouth_v)
    d[:, 1] -= w
    return d


def au20(geo: Geometry) -> np.ndarray:
    """Lip stretcher: corners pulled sideways and a little down (fear), the lips flatten."""
    d = np.zeros_like(geo.P)
    w = _bump(geo.P, geo.corners, 0.16)
    d[:, 0] += geo.side * w
    d[:, 1] += 0.15 * w
    return d


def _towards_lip_line(geo: Geometry) -> np.ndarray:
    """(478,) v-displacement pulling each lip point towards the corners' line, in proportion to its
    distance from it: the red of the lips narrows and the lips never cross (no fold)."""
    P = geo.P
    lips = (geo.upper_lip + geo.lower_lip) > 0
    gap = np.where(lips, geo.mouth_v - P[:, 1], 0.0)
    return gap / max(float(np.abs(gap).max()), 1e-9)


def au23(geo: Geometry) -> np.ndarray:
    """Lip tightener: the red of the lips narrows towards the lip line, corners a little in."""
    d = np.zeros_like(geo.P)
    d[:, 1] += 0.8 * _towards_lip_line(geo)
    d[:, 0] -= 0.3 * geo.side * _bump(geo.P, geo.corners, 0.08)
    return d


def au24(geo: Geometry) -> np.ndarray:
    """Lip pressor: lips pressed together (narrowed towards the lip line), the chin pushed up."""
    P = geo.P
    below = P[:, 1] > geo.lower_lip_v
    chin = _bump(P, np.array([[geo.midline, (geo.lower_lip_v + geo.chin_v) / 2]]), 0.2) * below
    d = np.zeros_like(P)
    d[:, 1] += _towards_lip_line(geo) - 0.5 * chin
    return d


def au25(geo: Geometry) -> np.ndarray:
    """Lips part: the lower lip drops away from the upper (the jaw stays)."""
    d = np.zeros_like(geo.P)
    d[:, 1] += geo.lower_lip * (1 - 0.6 * _bump(geo.P, geo.corners, 0.1))
    d[:, 1] -= 0.2 * geo.upper_lip
    return d


def au26(geo: Geometry) -> np.ndarray:
    """Jaw drop: everything below the mouth line down, ramping in (lips stretch, no fold)."""
    P = geo.P
    d = np.zeros_like(P)
    ramp = np.clip((P[:, 1] - geo.mouth_v) / 0.35, 0, 1) * (P[:, 1] > geo.mouth_v)
    d[:, 1] += ramp * np.exp(-((P[:, 0] - geo.midline) ** 2) / (2 * 0.8**2))
    return d


# Action unit number -> its displacement function (keys equal those of AU_INTENSITY).
AU_FIELDS: dict[int, Callable[[Geometry], np.ndarray]] = {
    1: au1,
    2: au2,
    4: au4,
    5: au5,
    6: au6,
    7: au7,
    9: au9,
    10: au10,
    12: au12,
    14: au14,
    15: au15,
    17: au17,
    20: au20,
    23: au23,
    24: au24,
    25: au25,
    26: au26,
}


def au_field(au: int, geo: Geometry) -> np.ndarray:
    """(478, 2) displacement of one action unit in face units (unnormalised, up = -v).

    Raises:
        ValueError: the action unit has no entry in :data:`AU_FIELDS`.
    """
    try:
        field = AU_FIELDS[au]
    except KeyError:
        raise ValueError(f"action unit AU{au} has no recipe; known: {sorted(AU_FIELDS)}") from None
    return field(geo)


def side_gain(geo: Geometry, a: float) -> np.ndarray:
    """(478,) gain ``1 + a`` on the image-right side of the face, ``1 - a`` on the left, smooth across the midline.

    Real expressions are rarely symmetric; a smooth ramp (not a step) keeps the warp fold-free.
    """
    return 1.0 + a * np.tanh((geo.P[:, 0] - geo.midline) / 0.15)


def parse_recipe(recipe: str) -> tuple[int, ...]:
    """``"AU6+AU12"`` (or ``"6+12"``) -> (6, 12).

    Raises:
        ValueError: an unknown or malformed action unit.
    """
    aus = []
    for part in recipe.replace(" ", "").split("+"):
        m = re.fullmatch(r"(?:AU)?(\d+)", part, flags=re.IGNORECASE)
        if not m or int(m.group(1)) not in AU_FIELDS:
            raise ValueError(f"bad action unit {part!r} in recipe {recipe!r}; known: {sorted(AU_FIELDS)}")
        aus.append(int(m.group(1)))
    return tuple(aus)


def turn_mirrored(d: np.ndarray, geo: Geometry, radians: float) -> np.ndarray:
    """(478, 2) displacements turned by ``radians`` on the image-right side and by ``-radians`` on the left.

    Mirrored, so a symmetric action stays symmetric; points on the midline keep their direction.
    """
    a = radians * geo.side
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]], axis=1)


def smooth_gain(geo: Geometry, rng: np.random.Generator, sd: float, waves: int = 6) -> np.ndarray:
    """(478,) positive gain ``exp(sd * n)``, ``n`` a smooth random field of unit sd over the face.

    A sum of plane waves of 0.3-1.2 cycles per face unit: neighbouring landmarks get nearly the same
    gain (the warp stays smooth), distant parts of one action unit move by different amounts.
    """
    angle = rng.uniform(0, 2 * np.pi, waves)
    freq = rng.uniform(0.3, 1.2, waves)
    phase = rng.uniform(0, 2 * np.pi, waves)
    k = 2 * np.pi * freq[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)  # (waves, 2)
    n = np.cos(geo.P @ k.T + phase).sum(1) * np.sqrt(2.0 / waves)
    return np.exp(sd * n)


def landmark_displacement(
    landmarks: np.ndarray,
    recipe: str,
    amplitude: float,
    rng: np.random.Generator | None = None,
    *,
    ratio: tuple[float, float] = (0.7, 1.3),
    asymmetry: float = 0.0,
    direction_degrees: float = 0.0,
    magnitude_noise: float = 0.0,
) -> np.ndarray:
    """Apex displacement (478, 2) in pixels of a recipe; its largest landmark displacement is ``amplitude * IOD``.

    Args:
        landmarks: (478, 2+) neutral landmarks in pixels.
        recipe: ``"AU6+AU12"`` etc.
        amplitude: largest displacement as a fraction of the inter-ocular distance.
        rng: if given, each action unit's relative intensity is multiplied by a factor drawn from
            ``ratio``, and the face's sides by ``1 +- a`` with ``a`` uniform in +-``asymmetry``.
        ratio: (min, max) per-action-unit intensity factor (default +-30 %).
        asymmetry: largest left/right gain difference (0 = symmetric; draws nothing).
        direction_degrees: each action unit's field is turned (mirrored left/right) by an angle
            uniform in +-this (0 draws nothing): people pull the same muscle in slightly different
            directions, and a model should not learn one generator's exact vectors.
        magnitude_noise: sd of the log of a smooth per-landmark gain drawn for each action unit
            (:func:`smooth_gain`; 0 draws nothing).
    """
    geo = Geometry(landmarks)
    total = np.zeros_like(geo.P)
    for au in parse_recipe(recipe):
        k = AU_INTENSITY[au] * (rng.uniform(*ratio) if rng is not None else 1.0)
        field = au_field(au, geo)
        if rng is not None and direction_degrees > 0:
            field = turn_mirrored(field, geo, np.radians(rng.uniform(-direction_degrees, direction_degrees)))
        if rng is not None and magnitude_noise > 0:
            field = field * smooth_gain(geo, rng, magnitude_noise)[:, None]
        total += k * field
    if rng is not None and asymmetry > 0:
        total *= side_gain(geo, float(rng.uniform(-asymmetry, asymmetry)))[:, None]
    peak = float(np.linalg.norm(total, axis=1).max())
    if peak <= 0:
        raise ValueError(f"recipe {recipe!r} moves no landmark of this face")
    return geo.frame.vec_to_pixels(total * (amplitude / peak))
