"""Onset -> apex optical flow and optical strain: the motion input of Off-ApexNet, STSTNet and HTNet.

A window's aligned grey crops become one small motion image: the onset is the window's first frame
(the alignment reference), the apex is the frame that departs most from the window's steady drift
(:func:`apex_index`), and dense optical flow between the two says how each point of the face moved.
Flow keeps the movement and drops the rendering (texture, lighting, identity), which the pixel-level
3D-CNNs tend to learn instead.

Layout of :func:`flow_input`: (3, 1, 28, 28) float32, i.e. (C, T, H, W) with T = 1 so flow models
share the (N, C, T, H, W) convention of every other model, the training cache, Captum and rendering.
Channels: 0 = u (horizontal displacement, + right), 1 = v (vertical, + down), both in percent of the
inter-ocular distance (the crop's ``spec.inter_ocular * face_size`` pixels, so the units do not
depend on the crop size), less the median displacement (residual head motion); 2 = optical strain,
the magnitude of the symmetric part of the flow gradient (dimensionless), in percent. A 6 % IOD
brow raise peaks near 6 in u/v.

Flow method: OpenCV's DIS (``PRESET_FAST``), chosen by measurement on 64x64 crops with a known smooth
displacement (``bench/flow.py``, bench/README.md "Optical flow"): close to Dual TV-L1's accuracy at
a small fraction of its cost, more accurate than Farneback and the other DIS presets.
"""

from __future__ import annotations

import cv2
import numpy as np

from .spec import FLOW_CHANNELS, FLOW_SIZE, SIGNED_FLOW_CHANNELS, InputSpec

FLOW_VERSION = "2"  # bump when flow_input's or signed_flow's numbers change in code; part of the training cache key
MIRROR = (-1.0, 1.0, 1.0)  # per-channel factor of a left-right mirrored flow input: u flips, v and strain stay
# the same for every input that carries flow: a mirrored field moves the other way horizontally, so u flips
MIRRORS: dict[str, tuple[float, ...]] = {"flow": MIRROR, "frames+flow": (1.0, -1.0, 1.0)}  # grey, u, v
# ("magnified" is absent: its values are grey levels, and the mirror of a magnified window is the magnified
# mirrored window, so it mirrors as frames do)

# The ``magnified`` representation (:func:`magnify`): each frame's motion from the onset scaled by 1 + alpha.
# The datasets' movements are 2-6 % of the inter-ocular distance, 0.5-1.4 px on a 64 px face crop, which a
# 3x3 kernel sees as a faint intensity change; alpha = 2 makes them 1.5-4 px, a change of shape. Larger values
# magnify DIS's own errors with them (and fold the warp where the flow varies fast): alpha 4 did no better on
# the tuning draws. Chosen there, among three settings, bench/README.md "Motion-magnified frames".
MAGNIFY_ALPHA = 2.0
MAX_MAGNIFY_ALPHA = 20.0
# What is warped: "frame" moves frame t by the extra alpha d and keeps its real texture changes; "onset"
# re-renders every frame from the first by (1 + alpha) d, which drops whatever is not motion (lighting, noise,
# compression) but also every change DIS misses, and magnifies DIS's error by 1 + alpha instead of alpha: it
# lost own-generator and cross-generator accuracy on the tuning draws. ``InputSpec.extra`` magnify_source switches.
MAGNIFY_SOURCES = ("onset", "frame")
MAGNIFY_SOURCE = "frame"


def mirror_factors(spec: InputSpec) -> tuple[float, ...] | None:
    """Per-channel factor of a left-right mirrored input of ``spec`` (None: values stay, as for frames)."""
    return MIRRORS.get(spec.representation)


def apex_index(crops: np.ndarray) -> int:
    """Index of the frame that departs most from the window's drift (mean absolute difference, [1, 2, 1]
    smoothed in time).

    The drift is the straight blend from the first to the last frame: lighting changes and residual
    head motion build up steadily over a window, while a micro-expression rises and falls inside it.
    Measured against the first frame alone, that drift often made the last frame win on windows
    centred on an annotated apex (``bench/flow.py --apex``, bench/README.md "Optical flow").

    Args:
        crops: (T, S, S, C) float crops of one window, T >= 2.
    """
    x = np.asarray(crops, dtype=np.float32)
    if x.shape[0] < 2:
        raise ValueError(f"an apex needs at least two frames, got {x.shape[0]}")
    if x.shape[0] == 2:
        return 1
    a = np.linspace(0.0, 1.0, len(x), dtype=np.float32).reshape(-1, *([1] * (x.ndim - 1)))
    drift = (1.0 - a) * x[:1] + a * x[-1:]
    diff = np.abs(x - drift).reshape(len(x), -1).mean(axis=1)
    # one-frame noise spikes (compression, landmark jitter) must not win over a sustained apex
    padded = np.concatenate([diff[:1], diff, diff[-1:]])
    smoothed = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    return int(np.argmax(smoothed[1:-1])) + 1  # never the onset, nor the last frame (on the drift line)


def _grey_u8(frame: np.ndarray) -> np.ndarray:
    """(S, S) or (S, S, 1) float 0..255 -> (S, S) uint8, as DIS takes."""
    f = np.asarray(frame, dtype=np.float32)
    f = f[..., 0] if f.ndim == 3 else f
    return np.clip(np.rint(f), 0, 255).astype(np.uint8)


def optical_flow(onset: np.ndarray, apex: np.ndarray) -> np.ndarray:
    """Dense flow taking ``onset`` to ``apex``: (S, S, 2) float32 pixels, apex(x + d(x)) ~ onset(x)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    return dis.calc(_grey_u8(onset), _grey_u8(apex), None)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """(S, S) magnitude of the infinitesimal strain tensor of an (S, S, 2) flow.

    e = (J + J^T) / 2 with J the flow's Jacobian; |e| = sqrt(e_xx^2 + e_yy^2 + 2 e_xy^2). A rigid
    translation has J = 0, so no strain: strain marks where the skin deforms, not where it moves.
    """
    u, v = flow[..., 0].astype(np.float64), flow[..., 1].astype(np.float64)
    du_dy, du_dx = np.gradient(u)
    dv_dy, dv_dx = np.gradient(v)
    exy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx**2 + dv_dy**2 + 2.0 * exy**2).astype(np.float32)


def flow_input(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """One window's (T, S, S, 1) grey crops (0..255) -> (3, 1, 28, 28) float32: u, v, strain (see module)."""
    x = np.asarray(crops, dtype=np.float32)
    flow = optical_flow(x[0], x[apex_index(x)])
    # Alignment leaves some rigid head motion; an expression moves a minority of the face, so the
    # median displacement is the head's. Removing it keeps u, v to the skin's own motion.
    flow = flow - np.median(flow.reshape(-1, 2), axis=0)
    strain = optical_strain(flow)
    iod = spec.inter_ocular * x.shape[1]  # inter-ocular distance in crop pixels
    maps = np.dstack([flow * (100.0 / iod), strain * 100.0])
    small = cv2.resize(maps, (FLOW_SIZE, FLOW_SIZE), interpolation=cv2.INTER_AREA)  # (28, 28, 3)
    out = np.ascontiguousarray(small.transpose(2, 0, 1)[:, None], dtype=np.float32)
    assert out.shape == (FLOW_CHANNELS, 1, FLOW_SIZE, FLOW_SIZE)
    return out


def _flows_from_onset(x: np.ndarray):
    """Yield (t, flow) for t = 1..T-1: DIS flow (S, S, 2) in pixels from frame 0 to frame t of ``x``, each
    frame's median displacement (residual head motion) removed. One DIS object, one call per frame."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    onset = _grey_u8(x[0])
    for i in range(1, x.shape[0]):
        flow = dis.calc(onset, _grey_u8(x[i]), None)
        flow -= np.median(flow.reshape(-1, 2), axis=0)
        yield i, flow


def signed_flow(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """One window's (T, S, S, 1) grey crops (0..255) -> (2, T, S, S) float32: u, v from the first frame
    (the onset, the alignment reference) to each frame, for the ``frames+flow`` representation.

    Same units as :func:`flow_input` (percent of the inter-ocular distance, each frame's median
    displacement removed as residual head motion), at the crop's own size, so a 3D-CNN reads the
    direction of the movement beside the grey frame it sees. Frame 0 is zero. No apex pick: every
    frame gets its flow, which also spares the apex pick's misses on subtle clips.
    """
    x = np.asarray(crops, dtype=np.float32)
    t, s = x.shape[0], x.shape[1]
    out = np.zeros((SIGNED_FLOW_CHANNELS, t, s, s), dtype=np.float32)
    scale = 100.0 / (spec.inter_ocular * s)  # pixels -> percent of the inter-ocular distance
    for i, flow in _flows_from_onset(x):
        out[:, i] = flow.transpose(2, 0, 1) * scale
    return out


def magnify_settings(spec: InputSpec) -> tuple[float, str]:
    """(alpha, source) of the ``magnified`` representation: ``spec.extra``'s ``magnify_alpha`` and
    ``magnify_source``, else :data:`MAGNIFY_ALPHA` and :data:`MAGNIFY_SOURCE`. ValueError if out of range."""
    alpha = spec.extra.get("magnify_alpha", MAGNIFY_ALPHA)
    source = spec.extra.get("magnify_source", MAGNIFY_SOURCE)
    ok = isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and 0.0 <= alpha <= MAX_MAGNIFY_ALPHA
    if not ok:
        raise ValueError(f"InputSpec.extra magnify_alpha must be a number in [0, {MAX_MAGNIFY_ALPHA:g}], got {alpha!r}")
    if source not in MAGNIFY_SOURCES:
        raise ValueError(f"InputSpec.extra magnify_source must be one of {MAGNIFY_SOURCES}, got {source!r}")
    return float(alpha), source


def magnify(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """One window's (T, S, S, 1) grey crops (0..255) -> (T, S, S, 1) float32 crops whose motion from the first
    frame is (1 + alpha) times the measured one (``magnified`` representation, see :data:`MAGNIFY_ALPHA`).

    The flow is :func:`signed_flow`'s (DIS from the onset to each frame, median displacement removed, so head
    motion is not magnified). DIS gives d with frame(x + d(x)) ~ onset(x): the point at x in the onset sits
    at x + d(x) in frame t and must sit at x + (1 + alpha) d(x). ``cv2.remap`` warps backwards, reading the
    source at y - k d(y) (d read at y instead of x: exact for a locally uniform motion, close for a smooth
    one): k = 1 + alpha from the onset (``source="onset"``), k = alpha from frame t (``source="frame"``).
    Frame 0 is left as it is.
    """
    x = np.asarray(crops, dtype=np.float32)
    alpha, source = magnify_settings(spec)
    out = x.copy()
    s_y, s_x = x.shape[1], x.shape[2]
    grid_x, grid_y = np.meshgrid(np.arange(s_x, dtype=np.float32), np.arange(s_y, dtype=np.float32))
    gain = 1.0 + alpha if source == "onset" else alpha
    for i, flow in _flows_from_onset(x):
        src = x[0] if source == "onset" else x[i]
        warped = cv2.remap(src[..., 0], grid_x - gain * flow[..., 0], grid_y - gain * flow[..., 1],
                           interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
        out[i, ..., 0] = warped
    return out


def heat_on_frames(heat: np.ndarray, crops: np.ndarray) -> np.ndarray:
    """A flow model's (1, h, w) attribution -> (T, S, S) on the window's frames: the heat lies on the
    onset and on the apex (the two frames the flow compares), zero elsewhere, so overlays and crop
    montages drawn per frame show it where the movement was measured."""
    x = np.asarray(crops)
    t, s = x.shape[0], x.shape[1]
    up = cv2.resize(np.asarray(heat[0], dtype=np.float32), (s, s), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((t, s, s), dtype=np.float32)
    out[0] = up
    out[apex_index(x)] = up
    return out
