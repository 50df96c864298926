"""Drawing explanations: heatmaps warped back onto source frames, overlays, videos, crop montages.

Numpy and OpenCV only; no attribution code lives here (that is :mod:`microexp.explain`).

Geometry: an :class:`~microexp.align.AlignedWindow` stores, per region, the ``(2, 3)`` affine that
maps SOURCE-frame pixels to CROP pixels (and, when the aligner corrects head motion, one per model
frame in ``frame_transforms``, which we use when present). ``cv2.warpAffine(..., flags=WARP_INVERSE_MAP)`` reads that
matrix as "destination pixel -> source pixel", i.e. for every source-frame pixel it looks up the
crop pixel the model saw there, which is exactly the inverse warp we need.

Time: the model saw ``T`` frames sampled at fractional source-frame indices ``Window.positions``;
a source frame between two model frames gets their linearly interpolated heat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .video import write_video


def smooth(heat: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a 2D map (pixel-level gradients are speckle; regions are what people read)."""
    if sigma <= 0:
        return heat.astype(np.float32)
    return cv2.GaussianBlur(heat.astype(np.float32), (0, 0), sigmaX=sigma)


def heatmap_to_source(heat: np.ndarray, transform: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Warp a crop-space ``(S, S)`` map onto a source frame.

    Args:
        heat: ``(S, S)`` map in crop pixels.
        transform: ``(2, 3)`` affine mapping source-frame pixels to crop pixels.
        frame_size: ``(W, H)`` of the source frame.

    Returns:
        ``(H, W)`` float32 map; zero outside the crop.
    """
    return cv2.warpAffine(
        heat.astype(np.float32),
        np.asarray(transform, dtype=np.float64),
        (int(frame_size[0]), int(frame_size[1])),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


def colorize(heat: np.ndarray, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """``(H, W)`` map in [0, 1] -> ``(H, W, 3)`` uint8 RGB."""
    u8 = np.clip(heat * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, colormap), cv2.COLOR_BGR2RGB)


def overlay(frame: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend a [0, 1] heatmap onto an RGB frame; cold pixels stay the original frame."""
    weight = (alpha * np.clip(heat, 0, 1))[..., None]
    out = frame.astype(np.float32) * (1 - weight) + colorize(heat).astype(np.float32) * weight
    return np.clip(out, 0, 255).astype(np.uint8)


def source_heatmaps(
    prediction: Any, explanation: Any, window_index: int | None = None, sigma: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per source frame heatmaps of one explained window.

    Args:
        prediction: a :class:`microexp.pipeline.Prediction`.
        explanation: a :class:`microexp.explain.WindowExplanation` of that window.
        window_index: index into ``prediction.windows`` (default: the best window).
        sigma: blur in crop pixels (default: crop side / 32).

    Returns:
        ``(indices (K,), heatmaps (K, H, W) float32 in [0, 1])``: the source frames the window
        spans and their heat, regions combined by maximum, scaled by the window's 99.5th
        percentile so all frames share one scale.
    """
    index = prediction.best_window if window_index is None else window_index
    aligned = prediction.windows[index].aligned
    if aligned is None:
        raise ValueError(f"window {index} was skipped: it has no aligned crops to draw on")
    frames = prediction.clip.frames
    h, w = frames.shape[1:3]
    positions = np.asarray(aligned.window.positions, dtype=np.float64)
    first = int(np.floor(positions[0]))
    last = min(int(np.ceil(positions[-1])), len(frames) - 1)
    indices = np.arange(first, last + 1)
    heat = np.zeros((len(indices), h, w), np.float32)
    for region, maps in zip(explanation.regions, explanation.maps):
        t, s = maps.shape[0], maps.shape[-1]
        blur = s / 32 if sigma is None else sigma
        # Fractional model-frame coordinate of every source frame, then linear interpolation.
        coord = np.interp(indices, positions, np.arange(t))
        lo = np.floor(coord).astype(int)
        hi = np.minimum(lo + 1, t - 1)
        frac = (coord - lo).astype(np.float32)
        crop_maps = np.stack([smooth(m, blur) for m in maps])
        # Per model frame source->crop transforms (motion-corrected) when the aligner kept them.
        mats = getattr(aligned, "frame_transforms", {}).get(region)
        for k in range(len(indices)):
            crop = crop_maps[lo[k]] * (1 - frac[k]) + crop_maps[hi[k]] * frac[k]
            m = aligned.transforms[region] if mats is None else mats[lo[k]] * (1 - frac[k]) + mats[hi[k]] * frac[k]
            heat[k] = np.maximum(heat[k], heatmap_to_source(crop, m, (w, h)))
    scale = float(np.percentile(heat, 99.5)) or float(heat.max()) or 1.0
    return indices, np.clip(heat / scale, 0, 1)


def overlay_frames(frames: np.ndarray, heatmaps: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """``(K, H, W, 3)`` overlays of ``(K, H, W)`` heatmaps on their frames."""
    return np.stack([overlay(f, h, alpha) for f, h in zip(frames, heatmaps)])


def overlay_video(
    frames: np.ndarray, heatmaps: np.ndarray, fps: float, path: str | Path, alpha: float = 0.6
) -> Path:
    """Write the overlays as a browser-playable H.264 MP4 (via :func:`microexp.video.write_video`)."""
    return write_video(path, overlay_frames(frames, heatmaps, alpha), fps)


def crops_montage(aligned: Any, columns: int = 6, height: int = 96, heat: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The crops the model saw: one row per region, ``columns`` frames evenly spread over T.

    Args:
        aligned: an :class:`~microexp.align.AlignedWindow` (crops ``(T, S, S, C)`` float32 0..255).
        columns: frames shown per region.
        height: pixel side of every tile (crops are upscaled with nearest neighbour).
        heat: optional ``(T, S, S)`` map per region (same order as ``aligned.crops``) to overlay.

    Returns:
        ``(rows * height, columns * height, 3)`` uint8 RGB.
    """
    rows = []
    for r, crops in enumerate(aligned.crops.values()):
        t = crops.shape[0]
        picks = np.linspace(0, t - 1, min(columns, t)).round().astype(int)
        tiles = []
        for i in picks:
            tile = np.clip(crops[i], 0, 255).astype(np.uint8)
            tile = np.repeat(tile, 3, axis=-1) if tile.shape[-1] == 1 else tile
            tile = cv2.resize(tile, (height, height), interpolation=cv2.INTER_NEAREST)
            if heat is not None:
                m = smooth(heat[r][i], tile.shape[0] / 32)
                m = cv2.resize(m / (float(np.max(heat[r])) or 1.0), (height, height))
                tile = overlay(tile, m, 0.5)
            tiles.append(tile)
        tiles += [np.zeros_like(tiles[0])] * (columns - len(tiles))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def region_mass(heatmap: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """Share of a heatmap's mass inside ``box`` (x0, y0, x1, y1) and the box's share of the area
    where the map is defined (non-zero support), for "more attribution than its area" checks."""
    x0, y0, x1, y1 = box
    total = float(heatmap.sum()) or 1.0
    inside = float(heatmap[y0:y1, x0:x1].sum())
    support = heatmap > 0
    area = float(support[y0:y1, x0:x1].sum()) / max(1.0, float(support.sum()))
    return inside / total, area


@dataclass(frozen=True)
class WindowArtefacts:
    """Everything a page shows about one explained window.

    Attributes:
        frames: (K,) source-frame indices the window spans.
        overlays: (K, H, W, 3) uint8 source frames with the heatmap blended in.
        video: H.264 MP4 of ``overlays`` (slowed down), or None when no path was given.
        montage: crops the model saw (top rows) and their attribution (bottom rows), uint8 RGB.
        gallery: up to ``gallery_frames`` (overlay, caption) pairs spread over the window.
    """

    frames: np.ndarray
    overlays: np.ndarray
    video: Path | None
    montage: np.ndarray
    gallery: tuple[tuple[np.ndarray, str], ...]


def window_artefacts(
    prediction: Any,
    explanation: Any,
    window_index: int | None = None,
    video_path: str | Path | None = None,
    slow_motion: float = 4.0,
    gallery_frames: int = 8,
) -> WindowArtefacts:
    """Draw one explained window: overlays, their slowed-down video, the crop montage and a gallery.

    The overlay video uses x264's ``ultrafast`` preset: it is a short preview, and the quality
    presets cost more than the rest of the rendering.
    """
    index = prediction.best_window if window_index is None else window_index
    indices, heat = source_heatmaps(prediction, explanation, index)
    overlays = overlay_frames(prediction.clip.frames[indices], heat)
    video = None
    if video_path is not None:
        fps = max(1.0, prediction.clip.fps / slow_motion)
        video = write_video(video_path, overlays, fps, preset="ultrafast")
    aligned = prediction.windows[index].aligned
    montage = np.concatenate([crops_montage(aligned), crops_montage(aligned, heat=explanation.maps)], axis=0)
    times = prediction.clip.timestamps
    picks = np.linspace(0, len(indices) - 1, min(gallery_frames, len(indices))).round().astype(int)
    gallery = tuple((overlays[i], f"frame {indices[i]} | t={times[indices[i]]:.2f} s") for i in picks)
    return WindowArtefacts(indices, overlays, video, montage, gallery)


def timeline_figure(prediction: Any, window_index: int | None = None, importance: tuple[np.ndarray, np.ndarray] | None = None):
    """A matplotlib figure of the clip over time: class probabilities of the sliding windows, the
    spotting score, the spotted intervals shaded with their labels, and the explained window outlined.

    Args:
        prediction: a :class:`microexp.pipeline.Prediction`.
        window_index: the explained window (default: the best window).
        importance: optional ``(times, importance)`` of the explained window's frames.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    sliding = [r for r in prediction.windows if not getattr(r, "centred", False) and r.probs is not None]
    if sliding:
        centres = np.array([r.window.center for r in sliding])
        probs = np.stack([r.probs for r in sliding])
        for c, label in enumerate(prediction.labels):
            ax.plot(centres, probs[:, c], marker=".", lw=1.2, label=f"p({label})")
    spot = getattr(prediction, "spot", None)
    if spot is not None and len(spot.times):
        score = np.asarray(spot.score, dtype=float)
        peak = float(score.max()) or 1.0
        ax.plot(spot.times, score / peak, color="0.35", lw=1.0, ls="--", label="spotting score (scaled)")
    for k, result in enumerate(getattr(prediction, "intervals", ())):
        iv = result.interval
        ax.axvspan(iv.onset, iv.offset, color="tab:orange", alpha=0.25, lw=0)
        ax.axvline(iv.apex, color="tab:orange", lw=1.0)
        ax.text(iv.apex, 1.02, f"{k + 1}: {result.label or '?'}", ha="center", va="bottom", fontsize=8,
                transform=ax.get_xaxis_transform())
    if importance is not None:
        times, values = importance
        peak = float(np.max(values)) or 1.0
        ax.fill_between(times, 0, np.asarray(values) / peak * 0.3, color="tab:red", alpha=0.3,
                        label="attribution per frame (explained window)")
    index = prediction.best_window if window_index is None else window_index
    if 0 <= index < len(prediction.windows):
        w = prediction.windows[index].window
        ax.axvspan(w.start, w.end, fill=False, ec="black", lw=1.2, ls=":")
    duration = float(prediction.clip.timestamps[-1]) if len(prediction.clip.timestamps) else 1.0
    ax.set_xlim(0, max(duration, 1e-3))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability / score")
    # Below the axes, outside them: the plot box may crop the top, and inside the axes it hides curves.
    fig.legend(loc="outside lower center", fontsize=7, ncols=3, frameon=False)
    ax.grid(alpha=0.3)
    return fig
