"""Run a spotter (and optionally a recogniser) over long videos and score it.

Per video: decode once (frame folders may be read every k-th frame to cap the rate, since SAMM-LV's
200 fps is far more than a spotter needs), track the face once, spot, then classify a window
centred on each spotted apex with the same track (no second face pass). Spotted seconds become
frames of the recording through its fps, so ground truth stays in the recording's own frame units
whatever rate the video was decoded at.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microexp.errors import MicroExpError, ModelError, NotAVideoError
from microexp.face import FaceLandmarker, FaceTrack
from microexp.video import Clip, VideoLimits, clip_from_frames, load_clip

from .metrics import Spotted, VideoOutcome
from .records import LongVideoRecord

# (clip, track) -> SpotResult (microexp.spot's API: .intervals with onset/apex/offset seconds, .score).
Spotter = Callable[[Clip, FaceTrack], Any]
# (clip, track, apex seconds) -> one (label, probs) per apex; (None, None) where it cannot classify.
Recogniser = Callable[[Clip, FaceTrack, Sequence[float]], list[tuple[str | None, tuple[float, ...] | None]]]

# Long recordings go past the app's and CLI's limits (15 s / 60 s) on purpose; memory is the bound.
LONG_VIDEO_LIMITS = VideoLimits(max_seconds=3600.0, max_frames=200_000, max_bytes=8 * 2**30)


def default_spotter() -> Spotter:
    """``microexp.spot.spot`` (imported here: the spotting stage is developed alongside)."""
    try:
        from microexp.spot import spot
    except ImportError as exc:
        raise ModelError(f"the spotting stage microexp.spot is not available ({exc})") from exc
    return spot


def _read_frames(files: Sequence[Path], max_side: int) -> np.ndarray:
    """(N, H, W, 3) uint8 RGB from image files (grey ones expanded), longer side <= ``max_side``."""
    import cv2

    out = []
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise NotAVideoError(f"cannot read frame {path}")
        h, w = bgr.shape[:2]
        if max(h, w) > max_side:
            s = max_side / max(h, w)
            bgr = cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        if out and bgr.shape != out[0].shape:
            raise NotAVideoError(
                f"frame {path} is {bgr.shape[1]}x{bgr.shape[0]}, others {out[0].shape[1]}x{out[0].shape[0]}"
            )
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return np.stack(out)


def frame_step(fps: float, fps_cap: float | None) -> int:
    """Read every k-th frame so that the decoded rate is at most ``fps_cap`` (1 = every frame)."""
    return max(1, int(np.ceil(fps / fps_cap - 1e-9))) if fps_cap and fps > fps_cap else 1


def load_record_clip(record: LongVideoRecord, max_side: int = 640, fps_cap: float | None = None) -> Clip:
    """Decode a record: a video file through :func:`microexp.video.load_clip` (limits raised for long
    videos), a frame folder read directly (every k-th frame, see :func:`frame_step`)."""
    step = frame_step(record.fps, fps_cap)
    if record.video is None:
        files = record.frames[::step]
        if len(files) < 2:
            raise NotAVideoError(f"{record.key}: fewer than 2 frames")
        return clip_from_frames(_read_frames(files, max_side), record.fps / step, str(record.source))
    clip = load_clip(record.video, dataclasses.replace(LONG_VIDEO_LIMITS, max_side=max_side))
    if step == 1:
        return clip
    return dataclasses.replace(
        clip, frames=clip.frames[::step], timestamps=clip.timestamps[::step], fps=clip.fps / step
    )


def to_frame(seconds: float, fps: float, n_frames: int) -> int:
    """A clip time in seconds as a 0-based frame of the recording (clip time 0 = frame 0)."""
    return int(min(max(round(seconds * fps), 0), n_frames - 1))


class IntervalRecogniser:
    """Classify a window centred on each spotted apex with a :class:`~microexp.pipeline.Predictor`'s
    model, on the track already computed (the same alignment and normalisation as its ``predict``)."""

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.labels = tuple(predictor.spec.labels)

    def __call__(
        self, clip: Clip, track: FaceTrack, apexes: Sequence[float]
    ) -> list[tuple[str | None, tuple[float, ...] | None]]:
        import torch

        from microexp.align import to_tensors
        from microexp.pipeline import preprocess_clip
        from microexp.windows import window_at

        spec = self.predictor.spec
        windows = [dataclasses.replace(window_at(clip.timestamps, spec, a), index=i) for i, a in enumerate(apexes)]
        aligned = preprocess_clip(clip, track, spec, windows, self.predictor.min_coverage)
        out: list[tuple[str | None, tuple[float, ...] | None]] = [(None, None)] * len(windows)
        if not aligned:
            return out
        with torch.inference_mode():
            logits = self.predictor.model(*to_tensors(aligned, spec))
            probs = torch.softmax(logits.float(), dim=1).numpy()
        for a, p in zip(aligned, probs):
            out[a.window.index] = (self.labels[int(np.argmax(p))], tuple(round(float(v), 6) for v in p))
        return out


def evaluate_record(
    record: LongVideoRecord,
    spotter: Spotter,
    landmarker: FaceLandmarker,
    recogniser: Recogniser | None = None,
    max_side: int = 640,
    fps_cap: float | None = None,
) -> VideoOutcome:
    """Decode, track, spot and (optionally) recognise one video; a video the pipeline cannot use
    (unreadable, no face) gives an outcome with ``error`` set instead of raising."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now

    try:
        clip = load_record_clip(record, max_side, fps_cap)
        lap("decode")
        track = landmarker.track(clip.frames, clip.timestamps)
        lap("track")
        result = spotter(clip, track)
        lap("spot")
        found = tuple(result.intervals)
        named = (
            recogniser(clip, track, [iv.apex for iv in found]) if recogniser and found else [(None, None)] * len(found)
        )
        lap("recognise")
    except MicroExpError as exc:
        return VideoOutcome(record.key, record.intervals, error=f"{type(exc).__name__}: {exc}")
    n = len(record.frames) if record.video is None else round(clip.duration * record.fps) + 1
    spotted = tuple(
        Spotted(to_frame(iv.onset, record.fps, n), to_frame(iv.apex, record.fps, n), to_frame(iv.offset, record.fps, n),
                float(iv.score), label, probs)
        for iv, (label, probs) in zip(found, named)
    )  # fmt: skip
    return VideoOutcome(
        record.key, record.intervals, spotted, seconds=float(clip.duration), spot_seconds=timings["spot"],
        decode_seconds=timings["decode"], track_seconds=timings["track"], recognise_seconds=timings["recognise"],
    )  # fmt: skip


def evaluate_records(
    records: Sequence[LongVideoRecord],
    spotter: Spotter | None = None,
    recogniser: Recogniser | None = None,
    landmarker: FaceLandmarker | None = None,
    max_side: int = 640,
    fps_cap: float | None = None,
    progress: bool = True,
    landmark_stride: int | None = None,
) -> list[VideoOutcome]:
    """:func:`evaluate_record` for every record (tqdm progress); ``spotter`` defaults to
    :func:`microexp.spot.spot`, ``landmarker`` to the inference landmarker of the pipeline
    (landmarks on every ``landmark_stride``-th frame; None: the pipeline's default)."""
    from tqdm import tqdm

    from microexp.pipeline import inference_face_settings

    spotter = spotter or default_spotter()
    own = landmarker is None
    if landmarker is None:
        overrides = {} if landmark_stride is None else {"landmark_stride": landmark_stride}
        landmarker = FaceLandmarker(settings=inference_face_settings(**overrides))
    try:
        return [
            evaluate_record(r, spotter, landmarker, recogniser, max_side, fps_cap)
            for r in tqdm(records, desc="spotting", unit="video", disable=not progress)
        ]
    finally:
        if own:
            landmarker.close()


def outcome_json(o: VideoOutcome) -> dict[str, Any]:
    """One video's ground truth, distractors and spotted intervals, for the JSON report."""
    return {
        "key": o.key,
        "seconds": round(o.seconds, 3),
        "error": o.error,
        "timings_s": {k: round(v, 4) for k, v in (("decode", o.decode_seconds), ("track", o.track_seconds),
                                                 ("spot", o.spot_seconds), ("recognise", o.recognise_seconds))},
        "events": [dataclasses.asdict(g) for g in o.intervals],
        "intervals": [
            {"onset": s.onset, "apex": s.apex, "offset": s.offset, "score": round(s.score, 6), "label": s.label,
             "probs": list(s.probs) if s.probs is not None else None}
            for s in o.spotted
        ],
    }  # fmt: skip
