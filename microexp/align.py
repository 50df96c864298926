"""Face alignment and region crops: from tracked landmarks to the model's (C, T, S, S) inputs.

Per window, one similarity transform is computed on a reference frame (the window's first valid
frame, i.e. the onset): eyes level, eye centres ``spec.inter_ocular * face_size`` apart on the line
``spec.eye_y``. The eyes box (both eyes and brows) and the mouth box (lips) are squares around those
landmark groups in that canonical face, so each region has its own source -> crop affine map.

Rigid head motion inside the window is removed by fitting, per frame, a similarity from that frame's
*rigid* landmarks (nose and upper face outline, which expressions barely move) to the reference
frame's. A least-squares fit over dozens of points averages landmark jitter away, so a still face
drifting across the frame yields nearly constant crops while expression motion is kept. This can be
switched off with ``spec.extra["stabilize"] = False`` (reference transform only, as in the literature).

Landmarks cannot follow frame-to-frame shake (a hand-held camera, a jittery tracker on compressed
video): the fit above is smoothed in time, so the shake stays in the crops, and after the temporal
mean is removed it outweighs a movement of a pixel. ``spec.extra["register"] = "image"`` adds an image
registration: every source frame's grey face crop is aligned by ECC (translation only) to the
window's mean crop, and that shift joins the frame's correction for every region. The whole crop is
used: a micro-expression moves a small part of it and shifts the fit little (a brow lowerer kept 85 %
of its crop energy, a smile 99 %), while the skin alone, or the nose, has too little texture to pin
a sub-pixel shift (bench/README.md, "Image registration"). Absent or ``"landmarks"``, crops are as before (the key travels in the
model's config, so a model is always fed what it was trained on).

Crops are warped straight from the source frame (supersampled, then area-averaged, so downscaling
does not alias), converted to grey with the standard RGB weights (the original code swapped R and B),
and resampled linearly in time to ``spec.frames``. Only the source frames a window samples are warped
(two per model frame at most). Every transform is kept so that saliency maps can be drawn back onto
the source frames.

Speed: the default resampling ("supersample") warps at up to 4x the crop's resolution; that is what
every model so far was trained on and the normalised inputs are very sensitive to the filter (they
keep only each pixel's change over time, a grey level or two), so it stays the default. A model can
opt in to ``spec.extra["resample"] = "prescaled"``: each source frame is area-downscaled once by an
integer factor near the crop's scale (:class:`SourcePyramid`, shared by the overlapping windows and
all regions of a clip) and warped from there with at most ~2x supersampling, about 3x cheaper. The
key travels in the model's config, so training and inference agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np
import torch

from .errors import NoFaceError
from .face import FaceTrack, eye_centres, landmark_groups
from .flow import flow_input, magnify, signed_flow
from .spec import NORMALIZATIONS, REPRESENTATIONS, InputSpec
from .windows import Window

# Margins around landmark groups, as a fraction of the group's larger side, for the square boxes.
REGION_MARGIN = {"eyes": 0.15, "mouth": 0.35}
_GREY = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 weights for R, G, B
_MAX_SUPERSAMPLE = 4
RESAMPLE_KEY = "resample"  # spec.extra key: how crops are resampled from the source frames
RESAMPLE_MODES = ("supersample", "prescaled")
REGISTER_KEY = "register"  # spec.extra key: how frames of a window are registered to each other
REGISTER_MODES = ("landmarks", "image")
_REGISTER_SIZE = 64  # side of the grey face crop the image registration runs on
_MAX_SHIFT = 0.06  # an image-registration shift beyond this fraction of the crop is a failed fit


@dataclass(frozen=True)
class AlignedWindow:
    """Aligned crops of one window.

    Attributes:
        window: the window they were cut from.
        crops: region -> (T, S, S, C) float32 in 0..255, resampled to ``spec.frames``.
        transforms: region -> (2, 3) affine mapping reference-frame source pixels to crop pixels.
        coverage: fraction of the window's source frames where the face was really detected.
        frame_transforms: region -> (T, 2, 3) source -> crop affine per model frame (the reference
            transform composed with that frame's rigid-motion correction, interpolated in time);
            use these to draw per-frame maps back onto the source frames.
        reference: index of the reference source frame.
    """

    window: Window
    crops: dict[str, np.ndarray]
    transforms: dict[str, np.ndarray]
    coverage: float
    frame_transforms: dict[str, np.ndarray] = field(default_factory=dict)
    reference: int = 0


def _h(m: np.ndarray) -> np.ndarray:
    """(2, 3) affine -> (3, 3) homogeneous."""
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine (crop pixels -> source pixels)."""
    return cv2.invertAffineTransform(np.asarray(m, dtype=np.float64))


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking (K, 2) ``src`` onto ``dst``."""
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    ms, md = zs.mean(), zd.mean()
    a = np.vdot(zs - ms, zd - md) / max(float(np.sum(np.abs(zs - ms) ** 2)), 1e-12)
    b = md - a * ms
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]], dtype=np.float64)


def similarity_from_landmarks(landmarks: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(2, 3) similarity mapping source pixels to the canonical ``face_size`` crop of ``spec``.

    Eyes are levelled, their centres placed ``spec.inter_ocular * face_size`` apart, centred
    horizontally on the line ``y = spec.eye_y * face_size``.
    """
    left, right = eye_centres(np.asarray(landmarks, dtype=np.float64))  # image-left, image-right
    d = right - left
    dist = float(np.hypot(*d))
    if dist < 1e-6:
        raise NoFaceError("the face is too small or degenerate to align")
    size = spec.face_size
    scale = spec.inter_ocular * size / dist
    angle = np.arctan2(d[1], d[0])
    c, s = scale * np.cos(-angle), scale * np.sin(-angle)
    rot = np.array([[c, -s], [s, c]])
    centre_src = 0.5 * (left + right)
    centre_dst = np.array([0.5 * size - 0.5, spec.eye_y * size])  # pixel centres: 0..size-1
    return np.hstack([rot, (centre_dst - rot @ centre_src)[:, None]])


@cache
def _region_groups() -> dict[str, list[int]]:
    g = landmark_groups()
    return {
        "eyes": sorted(set(g["right_eye"] + g["left_eye"] + g["right_brow"] + g["left_brow"])),
        "mouth": list(g["lips"]),
    }


def region_transforms(landmarks: np.ndarray, spec: InputSpec) -> dict[str, np.ndarray]:
    """Source -> crop (2, 3) affine for each region of ``spec``, from one frame's landmarks."""
    face = similarity_from_landmarks(landmarks, spec)
    out = {}
    groups = _region_groups()
    for region in spec.regions:
        if region == "face":
            out[region] = face
            continue
        pts = _apply(face, np.asarray(landmarks, dtype=np.float64)[groups[region], :2])
        lo, hi = pts.min(0), pts.max(0)
        side = float(max(hi - lo)) * (1.0 + REGION_MARGIN[region])
        centre = 0.5 * (lo + hi)
        size = spec.size_of(region)
        k = size / max(side, 1e-6)
        # canonical face coords -> region crop: scale about the box centre, pixel centres 0..size-1
        box = np.array([[k, 0.0, 0.5 * (size - 1) - k * centre[0]], [0.0, k, 0.5 * (size - 1) - k * centre[1]]])
        out[region] = (_h(box) @ _h(face))[:2]
    return out


def _rigid_indices(reference: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Landmarks that expressions barely move: the nose and the face outline above the mouth."""
    g = landmark_groups()
    canon = _apply(face, reference[:, :2].astype(np.float64))
    lips_top = canon[list(g["lips"]), 1].min()
    oval = [i for i in g["oval"] if canon[i, 1] < lips_top]
    return np.array(sorted(set(g["nose"]) | set(oval)), dtype=np.int64)


def _smooth_motion(
    track: FaceTrack, valid: np.ndarray, first: int, stop: int, ref_lm: np.ndarray, rigid: np.ndarray
) -> dict[int, np.ndarray]:
    """(3, 3) similarity taking each frame of ``[first, stop)`` onto the reference frame, smoothed in time.

    Landmark jitter is correlated across the whole mesh, so averaging over points does not remove it;
    head motion within a sub-second window is smooth, so a quadratic in time through the per-frame
    fits keeps the drift and drops the jitter. Frames without usable landmarks get the fitted curve.
    """
    params = []
    for j in valid:
        s = fit_similarity(track.landmarks[j][rigid, :2].astype(np.float64), ref_lm[rigid, :2])
        params.append((s[0, 0], s[1, 0], s[0, 2], s[1, 2]))  # a = s*cos, b = s*sin, tx, ty
    params = np.array(params)
    x = valid.astype(np.float64) - first
    deg = min(2, len(valid) - 1)
    coef = np.polyfit(x, params, deg) if deg > 0 else params[:1]
    frames = np.arange(stop - first, dtype=np.float64)
    fitted = np.stack([np.polyval(coef[:, k], frames) for k in range(4)], axis=1)
    return {
        first + i: np.array([[a, -b, tx], [b, a, ty], [0.0, 0.0, 1.0]])
        for i, (a, b, tx, ty) in enumerate(fitted)
    }


def warp_crop(frame: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """Warp one RGB uint8 frame to a (size, size, 3) float32 crop, supersampling then area-averaging."""
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    f = int(min(_MAX_SUPERSAMPLE, max(1, np.floor(1.0 / max(scale, 1e-6)))))
    # Output pixel m of the final crop averages supersampled pixels f*m .. f*m+f-1, whose centres map
    # back to crop coordinate x via u = f*x + (f-1)/2.
    m = transform * f
    m[:, 2] += 0.5 * (f - 1)
    big = cv2.warpAffine(frame, m, (size * f, size * f), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    big = big.astype(np.float32)
    if f == 1:
        return big
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


class SourcePyramid:
    """Source frames area-downscaled by integer factors, each made once per clip on first use.

    Overlapping windows read every frame about three times and each region reads it again; with
    ``prescaled`` resampling they all share these downscaled copies (see the module docstring).
    """

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self._levels: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def level(self, j: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``j`` downscaled by ``factor`` and the (3, 3) map from its pixels to full-frame pixels."""
        key = (j, factor)
        if key not in self._levels:
            frame = self.frames[j]
            h, w = frame.shape[:2]
            size = (max(1, round(w / factor)), max(1, round(h / factor)))
            small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if factor > 1 else frame
            sx, sy = w / size[0], h / size[1]
            # pixel centres: full-frame u = s * (v + 0.5) - 0.5 for level pixel v
            to_full = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
            self._levels[key] = (small, to_full)
        return self._levels[key]


def warp_prescaled(pyramid: SourcePyramid, j: int, transform: np.ndarray, size: int) -> np.ndarray:
    """Like :func:`warp_crop` of frame ``j``, warped from a downscaled copy so at most ~2x supersampling is left."""
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    factor = int(max(1, np.floor(0.5 / max(scale, 1e-6))))
    small, to_full = pyramid.level(j, factor)
    return warp_crop(small, (_h(transform) @ to_full)[:2], size)


def _resample_mode(spec: InputSpec) -> str:
    mode = str(spec.extra.get(RESAMPLE_KEY, "supersample"))
    if mode not in RESAMPLE_MODES:
        raise ValueError(f"spec.extra[{RESAMPLE_KEY!r}] must be one of {RESAMPLE_MODES}, got {mode!r}")
    return mode


def _register_mode(spec: InputSpec) -> str:
    mode = str(spec.extra.get(REGISTER_KEY, "landmarks"))
    if mode not in REGISTER_MODES:
        raise ValueError(f"spec.extra[{REGISTER_KEY!r}] must be one of {REGISTER_MODES}, got {mode!r}")
    return mode


def ecc_warp(
    reference: np.ndarray, image: np.ndarray, motion: int, iterations: int, mask: np.ndarray | None = None,
    smoothing: int = 1,
) -> np.ndarray | None:
    """(2, 3) float32 warp found by ECC (``cv2.findTransformECC`` from the identity, ``motion`` one of
    ``cv2.MOTION_*``, Gaussian pre-smoothing ``smoothing``), or None where it does not converge (a
    blank or saturated frame). The warp maps ``reference`` coordinates into ``image``:
    ``cv2.warpAffine(image, warp, ..., flags=WARP_INVERSE_MAP)`` lays ``image`` onto ``reference``."""
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-3)
    try:
        return cv2.findTransformECC(reference, image, np.eye(2, 3, dtype=np.float32), motion, criteria, mask, smoothing)[1]
    except cv2.error:
        return None


def register_frames(
    frames: np.ndarray, frame_ids: Sequence[int], to_crop: dict[int, np.ndarray], size: int = _REGISTER_SIZE
) -> dict[int, np.ndarray]:
    """(3, 3) shift per frame, in registration-crop pixels, that aligns its crop to the frames' mean.

    ``to_crop[j]`` maps frame ``j``'s source pixels to the ``size``-sided grey crop. A fit that fails
    or moves further than :data:`_MAX_SHIFT` of the crop leaves that frame as it was.
    """
    # grey before warping: a third of the work of warping RGB (same BT.601 weights as _GREY)
    crops = np.stack([warp_crop(cv2.cvtColor(frames[j], cv2.COLOR_RGB2GRAY), to_crop[j][:2], size) for j in frame_ids])
    reference = crops.mean(axis=0).astype(np.float32)
    out = {}
    for j, crop in zip(frame_ids, crops):
        warp = ecc_warp(reference, crop, cv2.MOTION_TRANSLATION, 10, smoothing=3)
        if warp is None or np.abs(warp[:, 2]).max() > _MAX_SHIFT * size:
            warp = np.eye(2, 3, dtype=np.float32)
        # the frame's crop is aligned by the inverse of ECC's warp
        out[j] = np.linalg.inv(_h(warp.astype(np.float64)))
    return out


def align_window(
    frames: np.ndarray, track: FaceTrack, window: Window, spec: InputSpec, pyramid: SourcePyramid | None = None
) -> AlignedWindow:
    """Crop every region of ``spec`` for one window, aligned on the window's first valid frame.

    Args:
        frames: (N, H, W, 3) uint8 RGB frames of the clip.
        track: the face tracked through those frames.
        window: which frames to sample.
        spec: crop sizes, geometry, channels, frame count.
        pyramid: downscaled frames shared across the windows of a clip, used when
            ``spec.extra["resample"] == "prescaled"`` (one is made for this window otherwise).

    Raises:
        NoFaceError: no frame of the window has usable landmarks.
    """
    prescaled = _resample_mode(spec) == "prescaled"
    if prescaled and pyramid is None:
        pyramid = SourcePyramid(frames)
    first, stop = window.frame_range()
    stop = min(stop, len(frames))
    valid = np.flatnonzero(track.valid[first:stop]) + first
    if len(valid) == 0:
        raise NoFaceError(f"no face in the window {window.start:.2f}-{window.end:.2f} s")
    coverage = float(track.detected[first:stop].mean())
    ref = int(valid[0])
    ref_lm = track.landmarks[ref].astype(np.float64)
    transforms = region_transforms(ref_lm, spec)
    stabilize = bool(spec.extra.get("stabilize", True))
    rigid = _rigid_indices(ref_lm, similarity_from_landmarks(ref_lm, spec)) if stabilize else None

    lo = np.floor(window.positions).astype(np.int64)
    hi = np.minimum(lo + 1, len(frames) - 1)
    w = (window.positions - lo).astype(np.float32)
    if stabilize:
        motion = _smooth_motion(track, valid, first, stop, ref_lm, rigid)
    else:
        motion = {j: np.eye(3) for j in range(first, stop)}

    if _register_mode(spec) == "image" and stop - first > 1:
        # shifts found on a grey face crop, carried into canonical face coordinates for every region
        to_reg = np.diag([_REGISTER_SIZE / spec.face_size] * 2 + [1.0]) @ _h(similarity_from_landmarks(ref_lm, spec))
        ids = list(range(first, stop))
        shifts = register_frames(frames, ids, {j: to_reg @ motion[j] for j in ids})
        back = np.linalg.inv(to_reg)
        motion = {j: back @ shifts[j] @ to_reg @ motion[j] for j in ids}

    def correction(j: int) -> np.ndarray:
        return motion[min(max(j, first), stop - 1)]

    crops, frame_transforms = {}, {}
    for region in spec.regions:
        size = spec.size_of(region)
        base = _h(transforms[region])
        cache: dict[int, np.ndarray] = {}

        def crop(j: int) -> np.ndarray:
            if j not in cache:
                m = (base @ correction(j))[:2]
                rgb = warp_prescaled(pyramid, j, m, size) if prescaled else warp_crop(frames[j], m, size)
                cache[j] = (rgb @ _GREY)[..., None] if spec.channels == 1 else rgb
            return cache[j]

        out = np.empty((spec.frames, size, size, spec.channels), dtype=np.float32)
        mats = np.empty((spec.frames, 2, 3), dtype=np.float64)
        for t in range(spec.frames):
            a, b, wt = int(lo[t]), int(hi[t]), float(w[t])
            out[t] = crop(a) if wt < 1e-6 or a == b else (1.0 - wt) * crop(a) + wt * crop(b)
            mats[t] = (1.0 - wt) * (base @ correction(a))[:2] + wt * (base @ correction(b))[:2]
        crops[region] = out
        frame_transforms[region] = mats
    return AlignedWindow(window, crops, transforms, coverage, frame_transforms, ref)


def _temporal_mean_zscore(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    x = x - x.mean(axis=1, keepdims=True)  # remove each pixel's mean over time: identity out, motion in
    return x / max(float(x.std()), 1e-6)


def _zscore(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    return (x - x.mean()) / max(float(x.std()), 1e-6)


def _dataset(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    return (x - spec.mean) / spec.std


def _unit(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    return x / 255.0


# name (``InputSpec.normalization``) -> function of a (C, T, S, S) float32 window in 0..255
NORMALIZERS: dict[str, Callable[[np.ndarray, InputSpec], np.ndarray]] = {
    "temporal_mean_zscore": _temporal_mean_zscore,
    "zscore": _zscore,
    "dataset": _dataset,
    "unit": _unit,
}
if set(NORMALIZERS) != set(NORMALIZATIONS):  # the spec validates names against NORMALIZATIONS
    raise RuntimeError(f"align.NORMALIZERS {sorted(NORMALIZERS)} and spec.NORMALIZATIONS {NORMALIZATIONS} differ")


def normalize(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(T, S, S, C) float32 crops in 0..255 -> (C, T, S, S) float32 normalised as ``spec.normalization``.

    Raises:
        ValueError: ``spec.normalization`` names no function in :data:`NORMALIZERS` (never a silent fallback).
    """
    try:
        function = NORMALIZERS[spec.normalization]
    except KeyError:
        raise ValueError(
            f"unknown normalization {spec.normalization!r}; known: {', '.join(NORMALIZERS)}"
        ) from None
    x = np.asarray(crops, dtype=np.float32).transpose(3, 0, 1, 2)  # (T,S,S,C) -> (C,T,S,S)
    return np.ascontiguousarray(function(x, spec), dtype=np.float32)


def frames_and_flow(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(T, S, S, 1) crops -> (3, T, S, S): the normalised grey frames, then u, v from the first frame."""
    return np.concatenate([normalize(crops, spec), signed_flow(crops, spec)], axis=0)


def magnified_frames(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(T, S, S, 1) crops -> (1, T, S, S): the frames with their motion from the first frame magnified
    (:func:`microexp.flow.magnify`), then normalised as plain frames are."""
    return normalize(magnify(crops, spec), spec)


# ``InputSpec.representation`` -> function of one region's (T, S, S, C) crops giving its model input
ENCODERS: dict[str, Callable[[np.ndarray, InputSpec], np.ndarray]] = {
    "frames": normalize,
    "flow": flow_input,
    "frames+flow": frames_and_flow,
    "magnified": magnified_frames,
}
if set(ENCODERS) != set(REPRESENTATIONS):  # the spec validates names against REPRESENTATIONS
    raise RuntimeError(f"align.ENCODERS {sorted(ENCODERS)} and spec.REPRESENTATIONS {REPRESENTATIONS} differ")


def mirror_window(x: torch.Tensor, factors: Sequence[float] | torch.Tensor | None) -> torch.Tensor:
    """(B, C, T, H, W) input mirrored left-right, as training's flip augmentation and test-time flip see it.

    ``factors``: (C,) per-channel factor of a mirrored value (:func:`microexp.flow.mirror_factors`: a mirrored
    flow field moves the other way horizontally, so u changes sign); None leaves the values, as for grey frames.
    """
    flipped = x.flip(-1)
    if factors is None:
        return flipped
    return flipped * torch.as_tensor(factors).view(1, -1, 1, 1, 1).to(device=x.device, dtype=x.dtype)


def to_tensors(aligned: Sequence[AlignedWindow], spec: InputSpec) -> tuple[torch.Tensor, ...]:
    """One (N, *spec.input_shapes()[i]) float32 tensor per region of ``spec``, in ``spec.regions`` order,
    encoded as ``spec.representation`` says (:data:`ENCODERS`)."""
    encode = ENCODERS[spec.representation]
    out = []
    for region, shape in zip(spec.regions, spec.input_shapes()):
        if not aligned:
            out.append(torch.empty((0, *shape)))
            continue
        out.append(torch.from_numpy(np.stack([encode(a.crops[region], spec) for a in aligned])))
    return tuple(out)
