"""Reuse work across one user's requests on the same clip: decoded frames, face track and each model's Prediction.

An interactive user switches model or attribution method on one clip many times. Decoding and
landmarks do not depend on the model, so a second model on the same clip starts at windowing, and the
same model again only explains and renders. Clips are keyed by a hash of their bytes (an upload
arrives under a new path every time, so the path is no key) **within a session**: what one user
analysed is never served to, nor reported as reused to, another user. The cache is bounded twice:
clips per session, and bytes of arrays held across all sessions (least recently used goes first),
so many users cannot exhaust the server's memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from .errors import NotAVideoError
from .face import FaceTrack
from .pipeline import Prediction, Predictor, Progress
from .video import Clip


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes.

    Raises:
        NotAVideoError: the file does not exist (any more).
    """
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        raise NotAVideoError(f"File not found: {os.fspath(path)}. Check the path and try again.") from None


def array_bytes(obj: object, seen: set[int] | None = None) -> int:
    """Bytes of every numpy array and torch tensor reachable from ``obj`` through dataclass fields,
    dicts, lists and tuples; memory shared by several views or tensors is counted once."""
    seen = set() if seen is None else seen
    if isinstance(obj, np.ndarray):
        root = obj
        while isinstance(root.base, np.ndarray):
            root = root.base
        key, size = id(root), root.nbytes
    elif isinstance(obj, torch.Tensor):
        storage = obj.untyped_storage()
        key, size = storage.data_ptr(), storage.nbytes()
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(array_bytes(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    elif isinstance(obj, dict):
        return sum(array_bytes(v, seen) for v in obj.values())
    elif isinstance(obj, (list, tuple)):
        return sum(array_bytes(v, seen) for v in obj)
    else:
        return 0
    if key in seen:
        return 0
    seen.add(key)
    return size


@dataclass
class _Entry:
    clip: Clip
    track: FaceTrack
    predictions: dict[str, Prediction] = field(default_factory=dict)

    def nbytes(self) -> int:
        return array_bytes((self.clip, self.track, tuple(self.predictions.values())))


class ClipCache:
    """Per session, the last ``per_session`` clips by content hash, each with its track and one Prediction per model.

    Args:
        predictor: returns the :class:`Predictor` of a model name (the caller caches those).
        per_session: clips kept for each session.
        max_bytes: arrays held across all sessions (frames, tracks, crops, model inputs); the least
            recently used clips of any session are dropped beyond it, and a clip larger than this
            on its own is not kept at all. Frames dominate: N x H x W x 3 bytes, e.g. 900 frames at
            640x640 are 1.1 GB.
    """

    def __init__(self, predictor: Callable[[str], Predictor], per_session: int = 2, max_bytes: int = 2**30) -> None:
        self.predictor = predictor
        self.per_session = per_session
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()  # (session, digest), oldest first
        self._sizes: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Bytes of arrays held now, all sessions together."""
        with self._lock:
            return sum(self._sizes.values())

    def predict(self, video: str | os.PathLike[str], model_name: str, session: str = "",
                progress: Progress | None = None) -> tuple[Prediction, str]:
        """The Prediction of ``model_name`` on ``video`` and what ``session`` reused: "none", "clip" or "prediction".

        Raises:
            NotAVideoError: ``video`` does not exist (e.g. an upload that the server has deleted).
        """
        key = (session, file_digest(video))
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
        self._store(key, entry)
        return pred, "clip"

    def forget(self, session: str) -> None:
        """Drop every clip of ``session`` (its tab was closed)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == session]:
                self._drop(key)

    def _store(self, key: tuple[str, str], entry: _Entry) -> None:
        size = entry.nbytes()
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            self._sizes[key] = size
            mine = [k for k in self._entries if k[0] == key[0]]
            for old in mine[: max(0, len(mine) - self.per_session)]:
                self._drop(old)
            while self._entries and sum(self._sizes.values()) > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[str, str]) -> None:
        del self._entries[key]
        del self._sizes[key]


__all__ = ["ClipCache", "array_bytes", "file_digest"]
