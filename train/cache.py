"""Preprocessing cache: every clip goes through the microexp face pipeline once, tensors kept on disk.

Training must see exactly what inference sees, so this module calls the same functions as
``microexp.pipeline.Predictor`` (``load_clip``/``clip_from_frames`` -> ``FaceLandmarker.track`` ->
``window_at`` -> ``preprocess_clip`` -> ``to_tensors``). One window of the model's duration is cut per
clip, centred on the annotated apex (the middle of onset..offset when the apex is missing), and with
``jitter`` K > 1 also K windows whose centres are offset from the apex (:func:`jitter_offsets`: the
apex lies anywhere in the middle ~60 % of the window), because inference places its windows on a
grid and rarely centres one on an apex. The face is tracked once per clip for all K windows.

Each clip is stored as ``<cache_dir>/<key>.safetensors`` where the key hashes the record (files, frame
numbers, fps, labels' source) and every preprocessing parameter of the spec plus ``PIPELINE_VERSION``:
changing any of them makes new entries, never reuses stale ones. Existing entries are skipped, so an
interrupted run resumes where it stopped. Workers each own a FaceLandmarker.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from tqdm.auto import tqdm

from microexp.atomic import save_tensors
from microexp.errors import MicroExpError
from microexp.spec import InputSpec

from .tensorset import TensorSet

# Bump when the meaning of preprocessing changes in code (not in spec parameters, which are hashed).
PIPELINE_VERSION = "1"
# Largest offset of a jittered window's centre from the apex, as a fraction of the window: with 0.3 the
# apex stays within the middle 60 % of every window.
JITTER_SPAN = 0.3
DEFAULT_JITTER = 5  # windows per clip the fit CLI caches by default


def jitter_offsets(k: int, spec: InputSpec) -> tuple[float, ...]:
    """Offsets in seconds of K window centres from the apex, evenly spread over +-JITTER_SPAN windows.

    K = 1 gives ``(0.0,)``, the centred window alone; an odd K always includes 0 (the centred window).
    """
    if k < 1:
        raise ValueError(f"jitter must be >= 1 window per clip, got {k}")
    if k == 1:
        return (0.0,)
    span = JITTER_SPAN * spec.window_seconds
    return tuple(float(x) for x in np.round(np.linspace(-span, span, k), 6))


@dataclass
class CacheReport:
    """What happened to each clip: cached before, processed now, or skipped with a reason."""

    reused: int = 0
    processed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.reused} clip(s) from cache, {self.processed} preprocessed, {len(self.skipped)} skipped"]
        lines += [f"  skipped {clip}: {why}" for clip, why in self.skipped]
        return "\n".join(lines)


def _label_of(record: Any, spec: InputSpec) -> str | None:
    for label in (getattr(record, "label3", None), getattr(record, "label", None)):
        if label in spec.labels:
            return label
    return None


def clip_id(record: Any) -> str:
    return f"{record.dataset}/{record.subject.split('/')[-1]}/{record.clip}"


def cache_key(record: Any, spec: InputSpec, landmark_stride: int = 1, jitter: int = 1) -> str:
    """Hash of the record's source files and annotations and of every preprocessing parameter."""
    preprocessing = {k: v for k, v in spec.to_dict().items() if k != "labels"}
    if preprocessing.get("representation") == "frames":  # absent by default, so caches made before the field stay valid
        del preprocessing["representation"]
    files = [str(p) for p in record.frames] if record.frames else [str(record.video)]
    stat = []
    for f in (files[0], files[-1]):
        try:
            st = os.stat(f)
            stat.append([st.st_size, int(st.st_mtime)])
        except OSError:
            stat.append(None)
    payload = {
        "version": PIPELINE_VERSION,
        "spec": preprocessing,
        "files": [len(files), files[0], files[-1], stat],
        "fps": record.fps,
        "onset": record.onset,
        "apex": record.apex,
        "offset": record.offset,
    }
    if spec.representation != "frames":  # flow is computed in code after the crops: its version joins the key
        from microexp.flow import FLOW_VERSION

        payload["flow"] = FLOW_VERSION
    if landmark_stride != 1:  # absent at full rate, so caches made before the option stay valid
        payload["landmark_stride"] = landmark_stride
    if jitter != 1:  # likewise absent for the single centred window
        payload["jitter"] = list(jitter_offsets(jitter, spec))
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def centre_index(record: Any, n_frames: int) -> float:
    """Apex frame index, else the middle of onset..offset, else the middle of the clip."""
    if record.apex is not None:
        return float(record.apex)
    if record.onset is not None and record.offset is not None:
        return (record.onset + record.offset) / 2.0
    return (n_frames - 1) / 2.0


def _frame_range(record: Any, n_frames: int, spec: InputSpec, reach: float = 0.0) -> tuple[int, int]:
    """Frames [start, stop) covering the window centred on the apex widened by ``reach`` seconds each
    side (the largest jitter offset), with a margin of one frame."""
    half = (spec.window_seconds / 2.0 + reach) * record.fps
    centre = centre_index(record, n_frames)
    start = max(0, int(np.floor(centre - half)) - 1)
    stop = min(n_frames, int(np.ceil(centre + half)) + 2)
    return start, stop


def _read_frames(record: Any, spec: InputSpec, reach: float = 0.0) -> tuple[np.ndarray, float]:
    """RGB frames around the apex and the time of the apex relative to the first returned frame."""
    from PIL import Image

    from microexp.video import load_clip

    if record.frames:
        start, stop = _frame_range(record, len(record.frames), spec, reach)
        frames = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in record.frames[start:stop]])
        return frames, (centre_index(record, len(record.frames)) - start) / record.fps
    clip = load_clip(record.video)
    start, stop = _frame_range(record, len(clip.frames), spec, reach)
    return clip.frames[start:stop], (centre_index(record, len(clip.frames)) - start) / record.fps


_LANDMARKER = None


def _landmarker():
    global _LANDMARKER
    if _LANDMARKER is None:
        from microexp.face import FaceLandmarker

        _LANDMARKER = FaceLandmarker()
    return _LANDMARKER


def preprocess_record(
    record: Any, spec: InputSpec, landmark_stride: int = 1, jitter: int = 1
) -> dict[str, torch.Tensor]:
    """One clip -> {region: (C, T, S, S) float32 tensor}, through the inference code path.

    ``landmark_stride`` > 1 landmarks every k-th frame only, as inference does by default
    (``FaceSettings.landmark_stride``, ``INFERENCE_LANDMARK_STRIDE``); training caches default to full rate.
    With ``jitter`` K > 1 the result also holds ``jitter.<region>`` (K, C, T, S, S), the windows at
    :func:`jitter_offsets`, and ``offsets`` (K,), each window's centre minus the apex time in seconds
    (smaller than asked near a clip's ends, where ``window_at`` shifts the window inside the clip).
    A jittered window whose face is lost is replaced by the centred one.
    """
    from microexp.align import to_tensors
    from microexp.pipeline import preprocess_clip
    from microexp.video import clip_from_frames
    from microexp.windows import window_at

    offsets = jitter_offsets(jitter, spec)
    frames, apex_time = _read_frames(record, spec, reach=max(abs(o) for o in offsets))
    clip = clip_from_frames(frames, record.fps, source=clip_id(record))
    track = _landmarker().track(clip.frames, clip.timestamps, landmark_stride=landmark_stride)
    centre = window_at(clip.timestamps, spec, apex_time)
    windows = [window_at(clip.timestamps, spec, apex_time + o) for o in offsets if o != 0.0]
    aligned = {a.window.center: a for a in preprocess_clip(clip, track, spec, [centre, *windows])}
    centred = aligned.get(centre.center)
    if centred is None:
        raise MicroExpError("the face was not detected in enough frames around the apex")
    out = {region: t[0].contiguous() for region, t in zip(spec.regions, to_tensors([centred], spec))}
    if jitter == 1:
        return out
    # one window per offset, in offset order; a jittered window whose face was lost falls back to the centred one
    chosen = [aligned.get(window_at(clip.timestamps, spec, apex_time + o).center, centred) for o in offsets]
    for region, t in zip(spec.regions, to_tensors(chosen, spec)):
        out[f"jitter.{region}"] = t.contiguous()
    out["offsets"] = torch.tensor([a.window.center - apex_time for a in chosen], dtype=torch.float32)
    return out


def _work(args: tuple[Any, InputSpec, str, int, int]) -> tuple[str, str | None]:
    record, spec, path, landmark_stride, jitter = args
    try:
        tensors = preprocess_record(record, spec, landmark_stride, jitter)
    except (MicroExpError, OSError, ValueError) as exc:
        return clip_id(record), str(exc) or exc.__class__.__name__
    save_tensors(path, tensors, metadata={"clip": clip_id(record)})  # a killed worker leaves no half entry
    return clip_id(record), None


def default_cache_dir() -> Path:
    from microexp.face import cache_dir

    return cache_dir() / "tensors"


def build_tensor_set(
    records: Sequence[Any],
    spec: InputSpec,
    cache_dir: str | os.PathLike[str] | None = None,
    workers: int = 1,
    progress: bool = True,
    report: CacheReport | None = None,
    landmark_stride: int = 1,
    jitter: int = 1,
) -> TensorSet:
    """Preprocess (or reuse) every record and stack the results into a :class:`TensorSet`.

    Records whose label is not in ``spec.labels`` (e.g. MEGC "others") or whose face cannot be tracked
    are skipped and listed in ``report`` (printed to stderr when none is passed); the run never stops
    on one bad clip. ``jitter`` K > 1 also fills ``TensorSet.jitter`` with K windows per clip whose
    centres are offset from the apex (:func:`jitter_offsets`); ``inputs`` stay the centred windows.
    """
    own_report = report is None
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    report = report if report is not None else CacheReport()
    usable, todo = [], []
    for record in records:
        label = _label_of(record, spec)
        if label is None:
            report.skipped.append((clip_id(record), f"label {record.label!r} is not one of {list(spec.labels)}"))
            continue
        path = root / f"{cache_key(record, spec, landmark_stride, jitter)}.safetensors"
        usable.append((record, label, path))
        if path.exists():
            report.reused += 1
        else:
            todo.append((record, spec, str(path), landmark_stride, jitter))
    failed: dict[str, str] = {}
    bar = tqdm(total=len(todo), desc="preprocess", unit="clip", disable=not progress or not todo)
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for cid, error in pool.map(_work, todo):
                bar.update()
                if error:
                    failed[cid] = error
    else:
        for item in todo:
            cid, error = _work(item)
            bar.update()
            if error:
                failed[cid] = error
    bar.close()
    report.processed = len(todo) - len(failed)
    inputs: list[list[torch.Tensor]] = [[] for _ in spec.regions]
    jittered: list[list[torch.Tensor]] = [[] for _ in spec.regions]
    offsets: list[torch.Tensor] = []
    labels, subjects, clips, persons = [], [], [], []
    for record, label, path in usable:
        cid = clip_id(record)
        if cid in failed:
            report.skipped.append((cid, failed[cid]))
            continue
        tensors = load_file(str(path))
        for i, region in enumerate(spec.regions):
            inputs[i].append(tensors[region])
            if jitter > 1:
                jittered[i].append(tensors[f"jitter.{region}"])
        if jitter > 1:
            offsets.append(tensors["offsets"])
        labels.append(spec.labels.index(label))
        subjects.append(record.subject)
        clips.append(cid)
        persons.append(getattr(record, "person", "") or record.subject)
    if not labels:
        raise MicroExpError("no clip could be preprocessed:\n" + report.summary())
    tensor_set = TensorSet(
        inputs=tuple(torch.stack(x) for x in inputs),
        labels=torch.tensor(labels, dtype=torch.long),
        subjects=tuple(subjects),
        clips=tuple(clips),
        spec=spec,
        jitter=tuple(torch.stack(x) for x in jittered) if jitter > 1 else (),
        offsets=torch.stack(offsets) if jitter > 1 else None,
        persons=tuple(persons),
    )
    if own_report and report.skipped:
        print(report.summary(), file=sys.stderr)
    return tensor_set
