"""Analysis windows: where in a clip the model looks, and which source frames it samples.

A model sees ``spec.frames`` (T) frames spanning ``spec.window_seconds``. A clip of any length and
frame rate is cut into windows of that duration every ``stride`` seconds; each window samples its T
frames uniformly *in time* (so variable frame rate clips are handled), expressed as fractional
source-frame indices that the aligner interpolates between. Training uses :func:`window_at` to centre
one window on an annotated apex, so it sees exactly the sampling that inference uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .spec import InputSpec

_EPS = 1e-6
# Clips up to this long are excerpts around one expression (``microexp.pipeline``'s docstring). Dataset
# samples last under 1.5 s (onset to offset at 100-200 fps); a micro-expression fills about 1 s of the
# spotter's feature difference, so in a clip under 2.5 s its own noise is measured on fewer frames than
# the movement covers. Kept here, beside the window arithmetic, so the CLI's help can name it cheaply.
EXCERPT_SECONDS = 2.5
# A spotted interval is labelled from the mean probabilities of windows centred on its apex and shifted by
# these fractions of the window. Default, for a model whose config names none: the centred window alone. A
# model's ``config.json`` may name its own (``apex_spread``, written by ``python -m zoo build`` from the zoo
# entry): it is kept per model because it was measured per model. Against the centred window alone, on the
# same models and cross-generator clips, three windows (-0.15, 0, 0.15) changed nothing beyond the seed spread
# for the 48-clip STCNN (UF1 0.520 against 0.524) but lifted stcnn-flow and the Late FuseNet on frames + flow
# trained on the zoo's 240 clips (bench/README.md, "Labelling an interval from several windows" and
# "apex_spread per model").
APEX_SPREAD = (0.0,)


@dataclass(frozen=True)
class Window:
    """One analysis window.

    Attributes:
        index: position of the window in the clip's window list.
        start, end: seconds in the clip (clip timestamps start at 0).
        positions: (T,) float64 fractional source-frame indices the T model frames are sampled at.
    """

    index: int
    start: float
    end: float
    positions: np.ndarray

    @property
    def center(self) -> float:
        return 0.5 * (self.start + self.end)

    def frame_range(self) -> tuple[int, int]:
        """Half-open ``[first, stop)`` range of the source frames this window reads."""
        return int(np.floor(self.positions[0])), int(np.ceil(self.positions[-1])) + 1


def _positions(timestamps: np.ndarray, start: float, end: float, frames: int) -> np.ndarray:
    """Fractional frame indices of ``frames`` instants spread evenly over ``[start, end]``."""
    times = np.linspace(start, end, frames) if frames > 1 else np.array([0.5 * (start + end)])
    return np.interp(times, timestamps, np.arange(len(timestamps), dtype=np.float64))


def _timestamps(timestamps: np.ndarray) -> np.ndarray:
    t = np.asarray(timestamps, dtype=np.float64)
    if t.ndim != 1 or len(t) == 0:
        raise ValueError("timestamps must be a non-empty 1-D array")
    if len(t) > 1 and np.any(np.diff(t) <= 0):
        raise ValueError("timestamps must be strictly increasing")
    return t


def make_windows(
    timestamps: np.ndarray, spec: InputSpec, stride_seconds: float | None = None
) -> tuple[list[Window], tuple[str, ...]]:
    """Cut a clip into windows of ``spec.window_seconds`` every ``stride_seconds``.

    Args:
        timestamps: (N,) strictly increasing seconds of the clip's frames.
        spec: the model's input spec (window duration and frame count).
        stride_seconds: step between window starts; default a third of the window. When the
            strides do not end exactly on the clip's end, one more window ends at the last frame,
            so the tail of the clip is always analysed.

    Returns:
        The windows in time order, and notices for the user (e.g. clip shorter than one window).
    """
    t = _timestamps(timestamps)
    length = float(spec.window_seconds)
    stride = length / 3.0 if stride_seconds is None else float(stride_seconds)
    if not stride > 0:
        raise ValueError(f"stride must be positive, got {stride_seconds}")
    t0, t1 = float(t[0]), float(t[-1])
    if t1 - t0 < length - _EPS:
        notice = (
            f"the clip ({t1 - t0:.2f} s) is shorter than the model's {length:g} s window: "
            f"the whole clip was resampled to {spec.frames} frames"
        )
        return [Window(0, t0, t1, _positions(t, t0, t1, spec.frames))], (notice,)
    count = int(np.floor((t1 - t0 - length) / stride + _EPS)) + 1
    starts = [t0 + k * stride for k in range(count)]
    if starts[-1] + length < t1 - _EPS:
        starts.append(t1 - length)
    windows = [Window(i, s, s + length, _positions(t, s, s + length, spec.frames)) for i, s in enumerate(starts)]
    return windows, ()


def apex_offsets(values: Sequence[float]) -> tuple[float, ...]:
    """``values`` as window offsets (fractions of the window around an apex), checked: at least one, each
    a finite number within +-0.5, so every window still holds the apex.

    Raises:
        ValueError: anything else (a bare number, an empty list, a string, an offset beyond half a window).
    """
    ok = isinstance(values, (list, tuple)) and len(values) > 0
    ok = ok and all(isinstance(f, (int, float)) and not isinstance(f, bool) and abs(float(f)) <= 0.5 for f in values)
    if not ok:
        raise ValueError(f"apex_spread must be a non-empty list of offsets within +-0.5 of a window, got {values!r}")
    return tuple(float(f) for f in values)


def window_at(timestamps: np.ndarray, spec: InputSpec, center_seconds: float, index: int = 0) -> Window:
    """One window centred on ``center_seconds`` (an annotated or spotted apex), shifted to lie inside the clip.

    A clip shorter than one window gives the whole clip, resampled, as :func:`make_windows` does.
    ``index`` is the window's position in the caller's window list (the pipeline appends these
    windows after the sliding ones).
    """
    t = _timestamps(timestamps)
    length = float(spec.window_seconds)
    t0, t1 = float(t[0]), float(t[-1])
    if t1 - t0 < length - _EPS:
        return Window(index, t0, t1, _positions(t, t0, t1, spec.frames))
    start = min(max(float(center_seconds) - 0.5 * length, t0), t1 - length)
    return Window(index, start, start + length, _positions(t, start, start + length, spec.frames))
