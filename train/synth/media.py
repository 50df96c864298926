"""Real media files for tests and benchmarks, made from the public-domain photos in ``faces/``.

Plain functions (no pytest) so any test, benchmark or script can call them:
``from train.synth.media import face_clip``. Each writes one file (or folder) atomically and returns
its path. Videos are encoded with PyAV's bundled codecs, so no ``ffmpeg`` binary is needed. Everything is
small and fast to make: a 3 s 640x360 clip takes well under a second.

Face geometry: :data:`FACE_BOXES` holds each photo's face box (brows to chin, hand-measured, as
fractions of the photo's width and height); :func:`face_frames` scales the photo so that box is
``face_frac`` of the frame height and centres it, then adds a slow sub-pixel drift and sensor noise.
"""

from __future__ import annotations

import tempfile
from fractions import Fraction
from functools import cache
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from microexp.atomic import atomic_path, write_bytes, write_text

from .photos import FACES_DIR

PHOTOS = (
    "astronaut_eileen_collins.png",
    "biden_official.jpg",
    "grace_hopper.jpg",
    "obama_2012_official.jpg",
    "obama_speaking.jpg",
)
# (x0, y0, x1, y1) of the face (brows to chin) as fractions of the photo's width and height.
FACE_BOXES = {
    "astronaut_eileen_collins.png": (0.35, 0.12, 0.53, 0.34),
    "biden_official.jpg": (0.45, 0.09, 0.74, 0.25),
    "grace_hopper.jpg": (0.31, 0.26, 0.71, 0.63),
    "obama_2012_official.jpg": (0.39, 0.06, 0.62, 0.34),
    "obama_speaking.jpg": (0.33, 0.16, 0.72, 0.48),
}

# Container suffix -> (encoder, pixel format).
CODECS = {
    ".mp4": ("libx264", "yuv420p"),
    ".mov": ("libx264", "yuv420p"),
    ".mkv": ("libx264", "yuv420p"),
    ".webm": ("libvpx-vp9", "yuv420p"),
    ".avi": ("mjpeg", "yuvj420p"),
}
_FAST_OPTIONS = {
    "libx264": {"preset": "veryfast", "crf": "23"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "crf": "30", "b": "0"},
    "mjpeg": {"q:v": "3"},
}


@cache
def photo(name: str) -> np.ndarray:
    """A face photo as a read-only ``(H, W, 3)`` uint8 RGB array."""
    rgb = np.asarray(Image.open(FACES_DIR / name).convert("RGB"))
    rgb.setflags(write=False)
    return rgb


def _drift(n: int, fps: float, drift_px: float, rng: np.random.Generator) -> np.ndarray:
    """``(n, 2)`` smooth sub-pixel (dx, dy) offsets within about +-drift_px."""
    t = np.arange(n)[:, None] / fps
    freq = rng.uniform(0.15, 0.5, size=(2, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(2, 2))
    wave = np.sin(2 * np.pi * freq[0] * t + phase[0]) * 0.6 + np.sin(2 * np.pi * freq[1] * t + phase[1]) * 0.4
    return drift_px * wave


def _placement(name: str, size: tuple[int, int], face_frac: float, center: tuple[float, float]) -> np.ndarray:
    """2x3 affine that maps photo pixels so the face box is centred and ``face_frac`` tall."""
    img = photo(name)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = FACE_BOXES[name]
    s = face_frac * size[1] / ((y1 - y0) * h)
    fcx, fcy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    return np.array([[s, 0, center[0] * size[0] - s * fcx], [0, s, center[1] * size[1] - s * fcy]])


def face_frames(
    photo_name: str = "grace_hopper.jpg",
    n: int = 90,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 360),
    drift_px: float = 3.0,
    noise: float = 2.0,
    seed: int = 0,
    face_frac: float = 0.65,
    center: tuple[float, float] = (0.5, 0.5),
    shake_px: float = 0.0,
) -> np.ndarray:
    """``(n, H, W, 3)`` uint8 frames of one photo with rigid drift, frame-to-frame shake (Gaussian,
    sd ``shake_px``, like a hand-held camera) and Gaussian noise."""
    rng = np.random.default_rng(seed)
    base = _placement(photo_name, size, face_frac, center)
    offsets = _drift(n, fps, drift_px, rng)
    if shake_px:
        offsets = offsets + rng.normal(0.0, shake_px, offsets.shape)
    # Fresh Gaussian noise per frame is slow to draw; randomly shifted copies of two noise
    # fields are just as uncorrelated between frames for our purposes, and ten times cheaper.
    bank = noise * rng.standard_normal((2, size[1], size[0], 3), dtype=np.float32)
    shifts = rng.integers(0, (size[1], size[0]), size=(n, 2))
    out = np.empty((n, size[1], size[0], 3), np.uint8)
    for i, (dx, dy) in enumerate(offsets):
        m = base.copy()
        m[:, 2] += (dx, dy)
        frame = cv2.warpAffine(photo(photo_name), m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if noise:
            frame = cv2.add(frame, np.roll(bank[i % 2], tuple(shifts[i]), axis=(0, 1)), dtype=cv2.CV_8U)
        out[i] = frame
    return out


def encode(
    path: str | Path,
    frames: np.ndarray,
    fps: float = 30.0,
    timestamps: np.ndarray | None = None,
    rotation: int = 0,
    codec: str | None = None,
    container_options: dict | None = None,
) -> Path:
    """Encode RGB frames; codec from the suffix (:data:`CODECS`) unless given.

    Args:
        timestamps: seconds per frame for variable frame rate (millisecond precision).
        rotation: degrees clockwise a player must turn the picture (a phone's portrait tag).
    """
    path = Path(path)
    codec_name, pix_fmt = CODECS[path.suffix.lower()] if codec is None else (codec, "yuv420p")
    h, w = frames.shape[1:3]
    with atomic_path(path, suffix=path.suffix) as tmp, av.open(str(tmp), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec_name, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.options = dict(_FAST_OPTIONS.get(codec_name, {}))
        if rotation:
            stream.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
        if timestamps is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if timestamps is not None:
                frame.pts, frame.time_base = round(float(timestamps[i]) * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


# ----------------------------------------------------------------------------- good clips


def face_clip(
    path: str | Path,
    photo: str = "grace_hopper.jpg",
    seconds: float = 3.0,
    fps: float = 30.0,
    size: tuple[int, int] = (640, 360),
    drift_px: float = 3.0,
    seed: int = 0,
) -> Path:
    """One face (about 65 % of the frame height), centred, drifting a few pixels; codec by suffix."""
    frames = face_frames(photo, round(seconds * fps), fps, size, drift_px, seed=seed)
    return encode(path, frames, fps)


def rotated_clip(path: str | Path, rotation: int = 90, photo: str = "grace_hopper.jpg", seconds: float = 1.0) -> Path:
    """A portrait face stored the way phones store it: landscape pixels plus a rotation tag.

    The upright picture is 360x640 (portrait); the stored pixels are it turned counter-clockwise
    by ``rotation`` degrees, and the display matrix tells players to turn it back clockwise.
    """
    upright = face_frames(photo, round(seconds * 30), 30.0, (360, 640), face_frac=0.4)
    stored = np.ascontiguousarray(np.rot90(upright, k=rotation // 90, axes=(1, 2)))
    return encode(path, stored, 30.0, rotation=rotation)


def vfr_timestamps(n: int = 45, seed: int = 0) -> np.ndarray:
    """Irregular frame times in whole milliseconds: gaps of 20-80 ms, first at 0."""
    gaps = np.random.default_rng(seed).integers(20, 81, size=n - 1)
    return np.concatenate([[0], np.cumsum(gaps)]) / 1000.0


def vfr_clip(path: str | Path, timestamps: np.ndarray | None = None, photo: str = "grace_hopper.jpg") -> Path:
    """Variable-frame-rate H.264 with real, irregular presentation times (see :func:`vfr_timestamps`)."""
    ts = vfr_timestamps() if timestamps is None else np.asarray(timestamps)
    frames = face_frames(photo, len(ts), 30.0, (320, 180))
    return encode(path, frames, 30.0, timestamps=ts)


def two_faces_clip(
    path: str | Path, photos: tuple[str, str] = ("grace_hopper.jpg", "obama_2012_official.jpg"), seconds: float = 1.0
) -> Path:
    """Two different people side by side, faces of similar size (about 45 % of frame height)."""
    n, size = round(seconds * 30), (640, 360)
    left = face_frames(photos[0], n, size=size, face_frac=0.45, center=(0.25, 0.5), seed=1)
    right = face_frames(photos[1], n, size=size, face_frac=0.45, center=(0.75, 0.5), seed=2)
    left[:, :, size[0] // 2 :] = right[:, :, size[0] // 2 :]
    return encode(path, left, 30.0)


def no_face_clip(path: str | Path, seconds: float = 1.0, size: tuple[int, int] = (640, 360), seed: int = 0) -> Path:
    """A slowly moving colour gradient with soft blobs and noise: textured, but no face."""
    rng = np.random.default_rng(seed)
    n = round(seconds * 30)
    y, x = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float32)
    blobs = cv2.GaussianBlur(rng.uniform(0, 255, (size[1] // 16, size[0] // 16)).astype(np.float32), (0, 0), 2)
    blobs = cv2.resize(blobs, size, interpolation=cv2.INTER_CUBIC)
    frames = np.empty((n, size[1], size[0], 3), np.uint8)
    for i in range(n):
        shift = 4.0 * i
        r = 128 + 100 * np.sin((x + shift) / 150)
        g = 128 + 100 * np.cos((y - shift) / 120)
        b = 0.6 * np.roll(blobs, i, axis=1) + 40
        noise = 2 * rng.standard_normal((size[1], size[0], 3), dtype=np.float32)
        frames[i] = np.clip(np.stack([r, g, b], -1) + noise, 0, 255)
    return encode(path, frames, 30.0)


def frames_folder(
    folder: str | Path,
    n: int = 20,
    pattern: str = "img{}.jpg",
    start: int = 46,
    photo: str = "grace_hopper.jpg",
    size: tuple[int, int] = (640, 480),
) -> Path:
    """A CASME II-like folder of frame images ``img46.jpg, img47.jpg, ...`` (one face, drifting)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, rgb in enumerate(face_frames(photo, n, 200.0, size)):
        target = folder / pattern.format(start + i)
        with atomic_path(target, suffix=target.suffix) as tmp:
            Image.fromarray(rgb).save(tmp, quality=92)
    return folder


# ----------------------------------------------------------------------------- bad inputs


def long_video(path: str | Path, minutes: float = 10.0, fps: float = 1.0, size: tuple[int, int] = (64, 36)) -> Path:
    """A long but tiny clip (default 10 min at 1 fps, 64x36): quick to make, too long to accept."""
    n = round(minutes * 60 * fps)
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 256, (1, size[1], size[0], 3), dtype=np.uint8), n, axis=0)
    return encode(path, frames, fps)


def one_frame_video(path: str | Path, photo: str = "grace_hopper.jpg") -> Path:
    """A video holding a single frame."""
    return encode(path, face_frames(photo, 1), 30.0)


def still_image(path: str | Path, photo: str = "grace_hopper.jpg") -> Path:
    """A face photo saved as one image file (format by suffix: .jpg, .png, ...)."""
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        Image.fromarray(face_frames(photo, 1)[0]).save(tmp)
    return Path(path)


def audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """An MP4/M4A holding only an AAC tone (440 Hz), no video track."""
    rate = 44100
    with atomic_path(path, suffix=Path(path).suffix) as tmp, av.open(str(tmp), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate)
        stream.layout = "mono"
        t = np.arange(round(seconds * rate)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        for chunk in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[:, chunk : chunk + 1024]), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = rate, chunk
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return Path(path)


def text_as_mp4(path: str | Path) -> Path:
    """A plain text file with a video extension."""
    write_text(path, "This is a shopping list, not a video.\n" * 20)
    return Path(path)


def empty_file(path: str | Path) -> Path:
    """A zero-byte file."""
    write_bytes(path, b"")
    return Path(path)


def truncated_mp4(path: str | Path, fraction: float = 0.3, faststart: bool = False) -> Path:
    """A valid 1 s face MP4 cut to ``fraction`` of its bytes, like an interrupted upload.

    Without ``faststart`` the index (moov atom) sits at the end and is lost, so nothing decodes;
    with it the index survives and the frames before the cut still decode.
    """
    path = Path(path)
    options = {"movflags": "+faststart"} if faststart else None
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as work:
        full = encode(Path(work) / "full.mp4", face_frames("grace_hopper.jpg", 30), 30.0, container_options=options)
        data = full.read_bytes()
    write_bytes(path, data[: int(len(data) * fraction)])
    return path
