"""Reuse work across requests on the same clip: decoded frames, face track and each model's Prediction.

An interactive user switches model or attribution method on one clip many times. Decoding and
landmarks do not depend on the model, so a second model on the same clip starts at windowing, and the
same model again only explains and renders. Clips are keyed by a hash of their bytes (an upload
arrives under a new path every time, so the path is no key); the last ``size`` clips are kept.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .face import FaceTrack
from .pipeline import Prediction, Predictor, Progress
from .video import Clip


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@dataclass
class _Entry:
    clip: Clip
    track: FaceTrack
    predictions: dict[str, Prediction] = field(default_factory=dict)


class ClipCache:
    """The last ``size`` clips by content hash, each with its track and one Prediction per model.

    Args:
        predictor: returns the :class:`Predictor` of a model name (the caller caches those).
        size: clips kept; a 15 s clip at 640 px holds several hundred MB of frames.
    """

    def __init__(self, predictor: Callable[[str], Predictor], size: int = 2) -> None:
        self.predictor = predictor
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def predict(self, video: str | os.PathLike[str], model_name: str, progress: Progress | None = None) -> tuple[Prediction, str]:
        """The Prediction of ``model_name`` on ``video`` and what was reused: "none", "clip" or "prediction"."""
        key = file_digest(video)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is None:
            pred = self.predictor(model_name).predict(video, progress=progress)
            self._store(key, _Entry(pred.clip, pred.track, {model_name: pred}))
            return pred, "none"
        if model_name in entry.predictions:
            pred = entry.predictions[model_name]
            return replace(pred, timings_ms={k: 0.0 for k in pred.timings_ms}), "prediction"
        pred = self.predictor(model_name).predict(entry.clip, progress=progress, track=entry.track)
        entry.predictions[model_name] = pred
        return pred, "clip"

    def _store(self, key: str, entry: _Entry) -> None:
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


__all__ = ["ClipCache", "file_digest"]
