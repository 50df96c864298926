"""Clip decoding and H.264 writing: the first and last stage of the pipeline.

:func:`load_clip` turns whatever a user supplies (a video file in any container FFmpeg reads, or a
folder of frame images such as CASME II's ``img46.jpg ...``) into a :class:`Clip`: RGB frames with
real timestamps, display rotation applied, downscaled to a working size. Files are validated by
decoding them, never by their extension, and every way a user's file can be unusable raises a
typed error from :mod:`microexp.errors` whose message names the file and the limit.

:func:`write_video` writes browser-playable H.264 (yuv420p, ``+faststart``) with PyAV's bundled
libx264, so neither the product nor the Space needs an ``ffmpeg`` binary.
"""

from __future__ import annotations

import functools
import math
import re
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageOps

from microexp.atomic import atomic_path
from microexp.cpuinfo import model_and_flags, read_cpuinfo
from microexp.errors import (
    EmptyFileError,
    NotAVideoError,
    NoVideoStreamError,
    TooFewFramesError,
    VideoTooLargeError,
    VideoTooLongError,
)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
DEFAULT_FOLDER_FPS = 30.0
# Demuxers that read one picture file; a "video" from them is a still image.
_STILL_FORMATS = re.compile(r"^(image2|image2pipe|\w+_pipe)$")


@dataclass(frozen=True)
class VideoLimits:
    """What :func:`load_clip` accepts; anything beyond raises before (or instead of) decoding.

    Attributes:
        max_bytes: largest file accepted.
        max_seconds: longest clip; checked from container metadata before decoding, and
            again while decoding when the metadata has no duration.
        max_frames: most frames kept. Decoding work has its own budget of
            ``2 * max_frames`` (+ a little for decoder delay): every demuxed packet and every
            decoded frame spends one unit, whether or not the frame is kept, so frames dropped
            for a repeated timestamp cannot make a small file decode for minutes.
        max_side: frames whose longer side exceeds this are downscaled on decode (aspect kept).
        min_frames: fewest frames; a still image or a 1-frame video is refused.
        max_pixels: largest source frame area (width * height).
        max_decode_seconds: wall-clock limit on reading and decoding (video or frame folder);
            catches files cheap to upload but slow to decode, whatever the reason.
    """

    max_bytes: int = 500 * 2**20
    max_seconds: float = 60.0
    max_frames: int = 3600
    max_side: int = 640
    min_frames: int = 3
    max_pixels: int = 8192 * 8192
    max_decode_seconds: float = 300.0


@dataclass(frozen=True, eq=False)
class Clip:
    """Decoded frames of one clip.

    Attributes:
        frames: ``(N, H, W, 3)`` uint8 RGB, upright (rotation applied), downscaled per limits.
        timestamps: ``(N,)`` float64 seconds from the first frame (0.0), strictly increasing;
            real presentation times, so variable frame rate is kept.
        fps: average rate ``(N - 1) / duration``; the nominal rate when that is undefined.
        source: where the frames came from (path or a label).
        original_size: ``(W, H)`` of the upright source frames before downscaling.
        scale: decoded pixels = original pixels * scale (1.0 when not downscaled).
        rotation: degrees clockwise applied to the stored pictures (0, 90, 180 or 270).
    """

    frames: np.ndarray
    timestamps: np.ndarray
    fps: float
    source: str
    original_size: tuple[int, int]
    scale: float = 1.0
    rotation: int = 0

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame (0.0 for a single frame)."""
        return float(self.timestamps[-1]) if len(self.timestamps) else 0.0

    def __len__(self) -> int:
        return len(self.frames)


# ----------------------------------------------------------------------------- frame folders


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: ``img2`` before ``img10``.

    Splitting on digit runs always yields text at even positions and numbers at odd ones, so
    keys of any two names compare without mixing types.
    """
    parts = re.split(r"(\d+)", str(name).lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def list_frame_files(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder`` (``IMAGE_SUFFIXES``), in natural order."""
    folder = Path(folder)
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: natural_key(p.name))


# ----------------------------------------------------------------------------- public API


def clip_from_frames(frames: np.ndarray, fps: float, source: str = "<array>") -> Clip:
    """Wrap an in-memory ``(N, H, W, 3)`` uint8 RGB array sampled at a constant ``fps``."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (N, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    n, h, w, _ = frames.shape
    return Clip(
        frames=frames,
        timestamps=np.arange(n, dtype=np.float64) / fps,
        fps=float(fps),
        source=source,
        original_size=(w, h),
    )


def load_clip(source: str | Path, limits: VideoLimits = VideoLimits(), fps: float | None = None) -> Clip:
    """Decode a video file or a folder of frame images into a :class:`Clip`.

    Args:
        source: a video file in any container and codec FFmpeg decodes, or a folder of frame
            images (naturally sorted, e.g. CASME II's ``img46.jpg ...``).
        limits: size, duration and frame-count limits; see :class:`VideoLimits`.
        fps: frame rate of a folder of images (default 30). Ignored for video files, whose
            timestamps come from the container.

    Raises:
        NotAVideoError: missing, unreadable, corrupt or truncated beyond use.
        EmptyFileError, NoVideoStreamError, TooFewFramesError, VideoTooLargeError,
        VideoTooLongError: as their names say.
    """
    path = Path(source)
    if path.is_dir():
        return _load_folder(path, limits, DEFAULT_FOLDER_FPS if fps is None else fps)
    if not path.exists():
        raise NotAVideoError(f"File not found: {path}. Check the path and try again.")
    size = path.stat().st_size
    if size == 0:
        raise EmptyFileError(f"{path.name} is empty (0 bytes); please upload the video again.")
    if size > limits.max_bytes:
        raise VideoTooLargeError(
            f"{path.name} is {size / 2**20:.0f} MB, over the {limits.max_bytes / 2**20:.0f} MB "
            "limit; please trim or compress the video."
        )
    return _load_video(path, limits)


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: float,
    crf: int = 23,
    timestamps: np.ndarray | None = None,
    preset: str = "veryfast",
    deterministic: bool = False,
) -> Path:
    """Write frames as browser-playable H.264 MP4 (yuv420p, moov atom first).

    Odd widths or heights are padded by one replicated edge pixel (yuv420p needs even sizes).
    The file appears atomically: it is written beside ``path`` and renamed into place.

    Args:
        path: output ``.mp4`` path.
        frames: ``(N, H, W, 3)`` uint8 RGB.
        fps: nominal frame rate (also the timing when ``timestamps`` is None).
        crf: x264 constant rate factor (lower is better quality, 18-28 is sensible).
        timestamps: optional ``(N,)`` increasing seconds per frame, for variable frame rate.
        preset: x264 speed preset.
        deterministic: the same frames always give the same bytes (:func:`deterministic_x264`; data
            generators promise "same seed, same bytes").
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be (N>0, H, W, 3) uint8 RGB, got {frames.shape} {frames.dtype}")
    if timestamps is not None and len(timestamps) != len(frames):
        raise ValueError("timestamps must have one entry per frame")
    h, w = frames.shape[1:3]
    pad_h, pad_w = h % 2, w % 2
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    with atomic_path(path, suffix=".mp4") as tmp:
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=rate)
            stream.width, stream.height, stream.pix_fmt = w + pad_w, h + pad_h, "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset, **(deterministic_x264() if deterministic else {})}
            if timestamps is not None:
                # Millisecond ticks carry arbitrary (variable) frame times.
                stream.codec_context.time_base = Fraction(1, 1000)
            for i, rgb in enumerate(frames):
                if pad_h or pad_w:
                    rgb = np.pad(rgb, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                if timestamps is not None:
                    frame.pts = round(float(timestamps[i] - timestamps[0]) * 1000)
                    frame.time_base = Fraction(1, 1000)
                out.mux(stream.encode(frame))
            out.mux(stream.encode())
    return path


@functools.cache
def deterministic_x264() -> dict[str, str]:
    """x264 options under which the same frames always encode to the same bytes on this CPU.

    On a CPU with AVX-512 the x264 of PyAV's wheel writes different files for the same frames from one
    run to the next (seen on an AMD EPYC with AVX512-BF16: up to four different files in four runs,
    one or many threads; decoded pixels up to 79 grey levels apart), while its AVX2 code is repeatable;
    so x264 is told to stop at AVX2 there. Other CPUs keep x264's own choice (forcing AVX2 where it is
    missing would crash), and were repeatable where seen.
    """
    _, flags = model_and_flags(read_cpuinfo())
    return {"x264-params": "asm=avx2"} if {"avx512f", "avx2"} <= flags else {}


# ----------------------------------------------------------------------------- internals


def _scaled_size(width: int, height: int, max_side: int) -> tuple[int, int, float]:
    """Target size (longer side at most ``max_side``, aspect kept) and the scale factor."""
    longer = max(width, height)
    if longer <= max_side:
        return width, height, 1.0
    scale = max_side / longer
    return max(1, round(width * scale)), max(1, round(height * scale)), scale


def _too_few(path: Path, n: int, limits: VideoLimits, still: bool) -> TooFewFramesError:
    if still:
        return TooFewFramesError(
            f"{path.name} is a still image, but micro-expressions are motion: please provide a "
            f"video or a folder of at least {limits.min_frames} frame images."
        )
    return TooFewFramesError(
        f"{path.name} has only {n} frame(s); micro-expression analysis needs a video or image "
        f"sequence of at least {limits.min_frames} frames."
    )


def _too_long(
    path: Path, limits: VideoLimits, seconds: float | None = None, partial: bool = False, repeated: bool = False
) -> VideoTooLongError:
    """``seconds`` from the header, ``partial`` when decoding ran past the limit, ``repeated`` when
    the decode budget ran out (frames with repeated timestamps count too), else frames."""
    if seconds is not None:
        what = f"is {seconds:.0f} s long, over the {limits.max_seconds:g} s limit"
    elif partial:
        what = f"runs longer than the {limits.max_seconds:g} s limit"
    elif repeated:
        what = f"has more than {limits.max_frames} frames (counting frames with repeated timestamps)"
    else:
        what = f"has more than {limits.max_frames} frames, over the frame limit"
    return VideoTooLongError(f"{path.name} {what}; please trim it to the moment of interest.")


def _load_video(path: Path, limits: VideoLimits) -> Clip:
    try:
        # "file:" stops FFmpeg reading a colon in the name as a protocol ("a:b.mp4").
        container = av.open("file:" + str(path.resolve()), "r")
    except av.FFmpegError as e:
        raise NotAVideoError(
            f"{path.name} is not a video FFmpeg can read (unknown format, corrupt or truncated)."
        ) from e
    with container:
        if not container.streams.video:
            raise NoVideoStreamError(f"{path.name} contains no video track (audio only?); please provide a video.")
        stream = container.streams.video[0]
        if stream.codec_context is None:  # PyAV opens no decoder for a codec tag FFmpeg does not know
            raise NotAVideoError(
                f"{path.name} uses a video codec FFmpeg cannot decode; please convert it to H.264 MP4."
            )
        still = bool(_STILL_FORMATS.match(container.format.name))
        _check_metadata(path, container, stream, limits)
        stream.thread_type = "AUTO"
        frames, times, rotation, size, scale = _decode(path, container, stream, limits)
        # read while the container is open: after close the stream's C struct is freed, and reading
        # average_rate / guessed_rate then crashed the process now and then (SIGSEGV in av_guess_frame_rate)
        nominal = float(stream.average_rate or stream.guessed_rate or 0) or DEFAULT_FOLDER_FPS

    if len(frames) < limits.min_frames:
        if len(frames) == 0 and not still:
            raise NotAVideoError(f"{path.name} holds no decodable video frames (corrupt or truncated file).")
        raise _too_few(path, len(frames), limits, still)

    timestamps = np.asarray(times, dtype=np.float64)
    timestamps -= timestamps[0]
    fps = (len(frames) - 1) / timestamps[-1] if timestamps[-1] > 0 else nominal
    return Clip(
        frames=frames,
        timestamps=timestamps,
        fps=float(fps),
        source=str(path),
        original_size=size,
        scale=scale,
        rotation=rotation,
    )


def _check_metadata(path: Path, container, stream, limits: VideoLimits) -> None:
    """Refuse from the header alone what is plainly too long or too large."""
    seconds = None
    if stream.duration is not None and stream.time_base is not None:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        seconds = container.duration / av.time_base
    if seconds is not None and seconds > limits.max_seconds:
        raise _too_long(path, limits, seconds)
    if stream.frames and stream.frames > limits.max_frames:
        raise _too_long(path, limits)
    cc = stream.codec_context
    if cc.width and cc.height and cc.width * cc.height > limits.max_pixels:
        raise _too_large_frame(path, cc.width, cc.height, limits)


def _too_large_frame(path: Path, w: int, h: int, limits: VideoLimits) -> VideoTooLargeError:
    side = int(math.sqrt(limits.max_pixels))
    return VideoTooLargeError(
        f"{path.name} has {w}x{h} frames, larger than the {side}x{side} pixel limit; please provide a smaller video."
    )


class _DecodeBudget:
    """Work allowed for one decode: units (packets + frames) and wall-clock seconds.

    Spent on every packet and every decoded frame, before anything is skipped, so no kind of
    file (repeated timestamps, packets that decode to nothing) can loop past it.
    """

    # Decoders hold a few frames back (B-frame reordering, frame threads); room for their flush.
    SLACK = 64

    def __init__(self, path: Path, limits: VideoLimits) -> None:
        self._path, self._limits = path, limits
        self._units = 2 * limits.max_frames + self.SLACK
        self._deadline = time.monotonic() + limits.max_decode_seconds

    def spend(self) -> None:
        self._units -= 1
        if self._units < 0:
            raise _too_long(self._path, self._limits, repeated=True)
        if time.monotonic() > self._deadline:
            raise _too_slow(self._path, self._limits)


def _too_slow(path: Path, limits: VideoLimits) -> VideoTooLargeError:
    return VideoTooLargeError(
        f"{path.name} takes more than {limits.max_decode_seconds:g} s to decode (frames too large or too "
        "many); please provide a smaller or shorter video."
    )


def _decode(path: Path, container, stream, limits: VideoLimits):
    """Decode frames to upright RGB arrays; stop on limits, keep what a truncated file gives."""
    budget = _DecodeBudget(path, limits)
    frames = _FrameBuffer(_expected_frames(container, stream, limits))
    times: list[float] = []
    rotation, size, target, scale = 0, (0, 0), None, 1.0
    nominal = float(stream.average_rate or stream.guessed_rate or 0) or DEFAULT_FOLDER_FPS
    try:
        for frame in _frames(container, stream, budget):
            budget.spend()
            if target is None:
                if frame.width * frame.height > limits.max_pixels:
                    raise _too_large_frame(path, frame.width, frame.height, limits)
                # frame.rotation is the display matrix angle, counter-clockwise; players (and
                # ffmpeg's autorotate) turn the picture by it, i.e. clockwise by its negative.
                rotation = (-round((frame.rotation or 0) / 90) * 90) % 360
                width = frame.width
                sar = stream.sample_aspect_ratio
                if sar is not None and sar > 0 and sar != 1:
                    width = max(1, round(frame.width * float(sar)))  # anamorphic: square pixels
                tw, th, scale = _scaled_size(width, frame.height, limits.max_side)
                target = (tw, th)
                size = (frame.height, width) if rotation in (90, 270) else (width, frame.height)
            t = frame.time
            if t is None:
                t = (times[-1] + 1 / nominal) if times else 0.0
            if times and t <= times[-1]:
                continue  # duplicate or out-of-order timestamp: keep times strictly increasing
            if times and t - times[0] > limits.max_seconds:
                raise _too_long(path, limits, partial=True)
            if len(frames) >= limits.max_frames:
                raise _too_long(path, limits)
            kwargs = {}
            # Every frame goes to the first frame's target size, so a stream that changes
            # resolution midway (browser webcam recordings do) still stacks into one array.
            if target != (frame.width, frame.height):
                kwargs = {"width": target[0], "height": target[1], "interpolation": "AREA"}
            # threads=1: swscale's own worker threads fight the frame-threaded decoder for the cores
            # (several times slower on busy cores, see bench/README.md); pixels are identical.
            rgb = frame.to_ndarray(format="rgb24", threads=1, **kwargs)
            if rotation:
                # np.rot90 turns counter-clockwise for positive k; we need clockwise turns.
                rgb = np.ascontiguousarray(np.rot90(rgb, k=-rotation // 90))
            frames.append(rgb)
            times.append(t)
    except av.FFmpegError:
        pass  # undecodable data: whatever decoded so far is judged by min_frames
    return frames.array(), times, rotation, size, scale


def _frames(container, stream, budget: _DecodeBudget):
    """Decoded frames in presentation order; a read error ends the stream instead of losing
    the frames still held inside the (frame-threaded, reordering) decoder."""
    try:
        for packet in container.demux(stream):
            budget.spend()
            yield from stream.decode(packet)
    except av.FFmpegError:
        pass  # truncated or damaged: stop reading, then drain the decoder below
    yield from stream.decode(None)


def _expected_frames(container, stream, limits: VideoLimits) -> int:
    """Frame count from the header (for preallocation), capped by the limits; 0 if unknown."""
    if stream.frames:
        return min(stream.frames, limits.max_frames)
    rate = stream.average_rate or stream.guessed_rate
    if container.duration and rate:
        return min(int(container.duration / av.time_base * float(rate)) + 2, limits.max_frames)
    return 0


class _FrameBuffer:
    """Append-only ``(N, H, W, 3)`` uint8 array, preallocated from the expected frame count.

    Stacking a list of frames at the end would double peak memory (a 60 s clip is ~1.5 GB).
    """

    def __init__(self, expected: int) -> None:
        self._expected = max(expected, 1)
        self._data: np.ndarray | None = None
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, rgb: np.ndarray) -> None:
        if self._data is None:
            self._data = np.empty((self._expected, *rgb.shape), np.uint8)
        elif self._n == len(self._data):
            grown = np.empty((2 * len(self._data), *self._data.shape[1:]), np.uint8)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n] = rgb
        self._n += 1

    def array(self) -> np.ndarray:
        if self._data is None:
            return np.empty((0, 0, 0, 3), np.uint8)
        if self._n < len(self._data):
            # A view would pin the whole allocation; copy only when much is unused.
            return self._data[: self._n].copy() if self._n < 0.9 * len(self._data) else self._data[: self._n]
        return self._data


def _load_folder(folder: Path, limits: VideoLimits, fps: float) -> Clip:
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    files = list_frame_files(folder)
    name = folder.name or str(folder)
    if not files:
        raise NotAVideoError(f"Folder {name} contains no frame images ({', '.join(IMAGE_SUFFIXES)}).")
    if len(files) < limits.min_frames:
        raise TooFewFramesError(
            f"Folder {name} has only {len(files)} image(s); micro-expression analysis needs a "
            f"video or image sequence of at least {limits.min_frames} frames."
        )
    seconds = (len(files) - 1) / fps
    if len(files) > limits.max_frames or seconds > limits.max_seconds:
        raise VideoTooLongError(
            f"Folder {name} has {len(files)} frames ({seconds:.1f} s at {fps:g} fps), over the "
            f"limit of {limits.max_frames} frames or {limits.max_seconds:g} s; please use fewer frames."
        )
    frames, size, target = _FrameBuffer(len(files)), None, None
    deadline = time.monotonic() + limits.max_decode_seconds
    for f in files:
        if time.monotonic() > deadline:
            raise _too_slow(folder, limits)
        try:
            with Image.open(f) as im:
                im = ImageOps.exif_transpose(im).convert("RGB")
                if size is None:
                    if im.width * im.height > limits.max_pixels:
                        raise _too_large_frame(f, im.width, im.height, limits)
                    size = im.size
                    target = _scaled_size(*size, limits.max_side)
                elif im.size != size:
                    raise NotAVideoError(
                        f"{f.name} is {im.width}x{im.height} but earlier frames in {name} are "
                        f"{size[0]}x{size[1]}; all frames of a sequence must have the same size."
                    )
                if target[2] != 1.0:
                    im = im.resize(target[:2], Image.Resampling.BOX)
                frames.append(np.asarray(im))
        except (OSError, Image.DecompressionBombError) as e:
            raise NotAVideoError(f"{f.name} in {name} is not a readable image.") from e
    n = len(frames)
    return Clip(
        frames=frames.array(),
        timestamps=np.arange(n, dtype=np.float64) / fps,
        fps=float(fps),
        source=str(folder),
        original_size=size,
        scale=target[2],
        rotation=0,
    )
