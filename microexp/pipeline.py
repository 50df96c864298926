"""Clip -> prediction: the :class:`Predictor` that chains decode, landmarks, windows, alignment and model.

Spot, then recognise: :func:`~microexp.spot.spot` finds the brief facial movements of the clip (or
none), and each is classified in one window of the model's duration centred on its apex, the way
training windows are cut (``windows.window_at``), or in the mean of windows shifted around it when the model
names an ``apex_spread`` (measured per model: :data:`~microexp.windows.APEX_SPREAD`). The sliding windows are
still classified, for the probabilities-over-time curve. A clip where nothing is spotted gets no label: the three-class models
know no "neutral", so that decision is the pipeline's.

A short clip (up to :data:`EXCERPT_SECONDS`) is an *excerpt*: the samples of CASME II, SAMM and SMIC are
cut from onset to offset around one expression, and so are most clips a researcher feeds one by one.
Such a clip is too short to tell an expression from the clip's own noise (the spotter measures noise on
the frames outside the movement, and a 0.5 s movement with the feature difference's span fills about
1 s), so it is not asked whether there is one: it is labelled at its strongest brief movement, the
spotter's top candidate without the score threshold, and says so. ``excerpt=False`` spots it like a
recording.

One Predictor holds one model and one MediaPipe landmarker (creating it costs about a second, so it is
reused across calls). The landmarker a Predictor makes for itself skips MediaPipe's blendshapes (no
model reads them) and runs on up to two cores; both leave the landmarks unchanged (see
:class:`~microexp.face.FaceSettings`). A caller that already decoded and tracked a clip (the app, when
the user switches model) passes ``track=`` to :meth:`Predictor.predict` and skips both stages. :func:`preprocess_clip` is the single place where tracked frames become aligned
windows; the training cache calls it too, so a model sees at inference exactly what it saw in training.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .align import AlignedWindow, SourcePyramid, align_window, mirror_window, to_tensors
from .device import autocast, prepare, resolve_device
from .errors import ModelError, NoFaceError
from .face import FaceLandmarker, FaceSettings, FaceTrack
from .flow import mirror_factors
from .models import MicroExpModel, load_model
from .spec import InputSpec
from .spot import Interval, SpotResult, SpotSettings, spot
from .video import Clip, VideoLimits, load_clip
from .windows import APEX_SPREAD, EXCERPT_SECONDS, Window, apex_offsets, make_windows, window_at

Progress = Callable[[float, str], None]
BATCH = 64  # windows per forward pass; bounds memory on long clips
NO_EXPRESSION = "no micro-expression found in this clip (no brief facial movement stands out), so no class is given"
# Landmarks on every 2nd frame, interpolated between: markedly faster, and a paired LOSO test of models
# trained on full-rate landmarks finds no accuracy change (bench/variants.py; figures in bench/README.md).
INFERENCE_LANDMARK_STRIDE = 2


def inference_face_settings(**overrides: Any) -> FaceSettings:
    """Landmarker settings for inference: no blendshapes, up to two parallel landmarkers (same landmarks),
    landmarks on every :data:`INFERENCE_LANDMARK_STRIDE`-th frame (``landmark_stride=1``: every frame)."""
    defaults = {
        "blendshapes": False,
        "workers": min(2, os.cpu_count() or 1),
        "landmark_stride": INFERENCE_LANDMARK_STRIDE,
    }
    return FaceSettings(**{**defaults, **overrides})


@dataclass(frozen=True)
class WindowResult:
    """Outcome for one window.

    Attributes:
        window: where it lies in the clip.
        probs: (classes,) float32 probabilities, or None when the window was skipped.
        coverage: fraction of the window's frames where the face was really detected.
        skipped: why the window was not classified (None if it was).
        motion: facial motion energy of the window (:func:`motion_energy`), None when skipped.
        centred: True for a window centred on a spotted apex, False for a sliding window.
        aligned: its aligned crops (None when skipped).
        inputs: its normalised model inputs, one (1, C, T, S, S) tensor per region (None when skipped).
    """

    window: Window
    probs: np.ndarray | None
    coverage: float
    skipped: str | None = None
    motion: float | None = None
    centred: bool = False
    aligned: AlignedWindow | None = None
    inputs: tuple[torch.Tensor, ...] | None = None


@dataclass(frozen=True)
class IntervalResult:
    """One spotted micro-expression and what the model says about it.

    Attributes:
        interval: onset, apex, offset (seconds) and spotting score.
        window: index into ``Prediction.windows`` of the window centred on its apex (the one explained).
        probs: (classes,) mean probabilities of the windows around its apex (``Predictor.apex_spread``)
            whose face was detected well enough; None when none was.
        label: the most probable class, None when not classified.
    """

    interval: Interval
    window: int
    probs: np.ndarray | None
    label: str | None


@dataclass(frozen=True)
class Prediction:
    """Everything one :meth:`Predictor.predict` call produced.

    Attributes:
        labels: class names, in ``probs`` order.
        windows: the sliding windows in time order, then one window centred on each spotted apex
            (``centred=True``), in the order of ``intervals``.
        best_window: index into ``windows`` of the window the prediction comes from (and that is
            explained): the top interval's centred window; when nothing was spotted (or the clip is
            shorter than one window), the classified sliding window with the most facial motion.
        prediction: label of the highest-scoring interval; None when no micro-expression was
            spotted (no class is given then). A clip shorter than one window is labelled from its
            one window, as the models know no "no expression" class.
        probs: (classes,) probabilities behind ``prediction`` (None when it is None).
        timings_ms: milliseconds per stage (decode, landmarks, spot, windows, align, model, total).
        notices: remarks for the user (short clip, nothing found, gaps interpolated, ...).
        clip, track: the decoded clip and the tracked face.
        aligned: aligned crops of the classified windows, in the order of their WindowResult.
        inputs: normalised model inputs of the classified windows, one (N, C, T, S, S) per region.
        model: a short description of the model (architecture and its source).
        motion_contrast: motion of the most moving sliding window over the median one's.
        intervals: the spotted micro-expressions, highest score first.
        spot: the spotting result (per-frame score curve, intervals, notices).
        excerpt: the clip was taken as an excerpt around one expression (module docstring): its
            interval is the spotter's top candidate, whatever its score, and it is always labelled.
        apex_spread: the window offsets whose mean probabilities labelled each interval
            (``Predictor.apex_spread``).
        mirror: every window's probabilities are the mean of its own and its mirror's (``Predictor.mirror``).
    """

    labels: tuple[str, ...]
    windows: tuple[WindowResult, ...]
    best_window: int
    prediction: str | None
    probs: np.ndarray | None
    timings_ms: dict[str, float]
    notices: tuple[str, ...]
    clip: Clip
    track: FaceTrack
    aligned: tuple[AlignedWindow, ...]
    inputs: tuple[torch.Tensor, ...]
    model: str = ""
    motion_contrast: float = float("nan")
    intervals: tuple[IntervalResult, ...] = ()
    spot: SpotResult | None = None
    excerpt: bool = False
    apex_spread: tuple[float, ...] = APEX_SPREAD
    mirror: bool = False

    @property
    def sliding(self) -> tuple[WindowResult, ...]:
        """The sliding windows only, in time order (for curves over time)."""
        return tuple(r for r in self.windows if not r.centred)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable summary (no frames, no tensors)."""

        def probs(p: np.ndarray | None) -> list[float] | None:  # in ``labels`` order
            return None if p is None else [round(float(v), 6) for v in p]

        return {
            "labels": list(self.labels),
            "intervals": [
                {
                    "onset": round(r.interval.onset, 4),
                    "apex": round(r.interval.apex, 4),
                    "offset": round(r.interval.offset, 4),
                    "score": round(r.interval.score, 3),
                    "label": r.label,
                    "probs": probs(r.probs),
                    "window": r.window,
                }
                for r in self.intervals
            ],
            "windows": [
                {
                    "start": round(r.window.start, 4),
                    "end": round(r.window.end, 4),
                    "probs": probs(r.probs),
                    "coverage": round(r.coverage, 4),
                    "skipped": r.skipped,
                    "motion": None if r.motion is None else round(r.motion, 4),
                    "centred": r.centred,
                }
                for r in self.windows
            ],
            "prediction": self.prediction,
            "excerpt": self.excerpt,
            "apex_spread": list(self.apex_spread),
            "mirror": self.mirror,
            "best_window": self.best_window,
            "probs": probs(self.probs),
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "notices": list(self.notices),
            "model": self.model,
            "motion_contrast": round(self.motion_contrast, 3),
            "clip": {
                "source": self.clip.source,
                "frames": len(self.clip),
                "fps": round(self.clip.fps, 3),
                "seconds": round(self.clip.duration, 3),
                "size": list(self.clip.frames.shape[2:0:-1]),
            },
        }


def motion_energy(aligned: AlignedWindow) -> float:
    """How much the aligned face moves inside a window: per-pixel standard deviation over time, averaged.

    Measured on the crops before normalisation (grey levels), over all regions of the spec, so it is
    comparable between the windows of one clip. Rigid head motion is already removed by the alignment;
    what remains is facial movement (and blinks), the cue micro-expression spotting relies on.
    """
    return float(np.mean([crop.std(axis=0).mean() for crop in aligned.crops.values()]))


def preprocess_clip(
    clip: Clip, track: FaceTrack, spec: InputSpec, windows: Sequence[Window], min_coverage: float = 0.0
) -> list[AlignedWindow]:
    """Align every window whose face coverage reaches ``min_coverage``; others are left out.

    Args:
        clip: decoded frames.
        track: the face tracked through ``clip``.
        spec: the model's input spec.
        windows: windows of ``clip`` (:func:`~microexp.windows.make_windows` or ``window_at``).
        min_coverage: least fraction of really detected frames a window needs.

    Returns:
        Aligned windows in the order given, without those below ``min_coverage`` or with no usable
        landmarks at all (check ``aligned.window.index`` to see which are present).
    """
    out = []
    pyramid = SourcePyramid(clip.frames)  # used only by specs that opt in to "prescaled" resampling
    for window in windows:
        first, stop = window.frame_range()
        if not track.valid[first:stop].any() or track.coverage(first, stop) < min_coverage:
            continue
        out.append(align_window(clip.frames, track, window, spec, pyramid))
    return out


class Predictor:
    """Classify the micro-expressions of a clip, window by window.

    Args:
        model: a MicroExp model (its ``spec`` drives all preprocessing).
        landmarker: a FaceLandmarker to share; one with :func:`inference_face_settings` is created
            on first use otherwise.
        limits: what clips are accepted (size, duration).
        stride_seconds: step between windows (default: a third of the model's window).
        min_coverage: windows whose face was really detected in fewer frames are skipped.
        name: how the model is named in results (default: its architecture).
        landmark_stride: landmarks on every k-th frame only (faster; see ``FaceSettings``);
            None uses the landmarker's own setting (every 2nd frame for the one created here).
        spot_settings: thresholds of the spotting stage.
        excerpt: how a clip is taken: None (default) as an excerpt around one expression when it lasts
            at most :data:`EXCERPT_SECONDS`, as a recording to spot in otherwise; True or False for every
            clip.
        apex_spread: offsets, as fractions of the model's window, of the windows whose mean
            probabilities label a spotted interval (``(0.0,)``: the centred window alone). None (default):
            the model's own ``apex_spread`` (from its ``config.json``), else :data:`APEX_SPREAD`.
        mirror: also classify every window mirrored left-right and average the two probabilities (test-time
            flip; training flips clips at random, so both views are ones the model learned). None (default):
            the model's own ``mirror`` (from its ``config.json``), else False.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (default ``$MICROEXP_DEVICE``, else ``auto``):
            where the model runs (:func:`microexp.device.resolve_device`); the model is moved there.
            Windows are prepared on CPU and the returned tensors and probabilities stay on CPU.
    """

    def __init__(
        self,
        model: MicroExpModel,
        landmarker: FaceLandmarker | None = None,
        limits: VideoLimits = VideoLimits(),
        stride_seconds: float | None = None,
        min_coverage: float = 0.6,
        name: str | None = None,
        landmark_stride: int | None = None,
        spot_settings: SpotSettings = SpotSettings(),
        excerpt: bool | None = None,
        device: str | torch.device | None = None,
        apex_spread: Sequence[float] | None = None,
        mirror: bool | None = None,
    ) -> None:
        self.device = resolve_device(device)
        prepare(self.device)
        self.model = model.eval().to(self.device)
        self.spec: InputSpec = model.spec
        self.limits = limits
        self.stride_seconds = stride_seconds
        self.min_coverage = min_coverage
        self.name = name or getattr(model, "arch", type(model).__name__)
        self.landmark_stride = landmark_stride
        self.spot_settings = spot_settings
        self.excerpt = excerpt
        self.apex_spread = apex_offsets(getattr(model, "apex_spread", APEX_SPREAD) if apex_spread is None
                                        else apex_spread)
        self.mirror = bool(getattr(model, "mirror", False) if mirror is None else mirror)
        self._landmarker = landmarker
        self._owns_landmarker = landmarker is None

    @classmethod
    def from_pretrained(
        cls, model_id_or_dir: str | os.PathLike[str], revision: str | None = None, **kwargs: Any
    ) -> Predictor:
        """Load a model from a ``save_pretrained`` directory or a Hub repo id and wrap it."""
        name = str(model_id_or_dir)
        looks_local = Path(name).is_absolute() or name.startswith((".", "~")) or name.count("/") > 1
        if looks_local and not Path(name).expanduser().is_dir():
            raise ModelError(f"model directory {name} does not exist")
        model = load_model(Path(name).expanduser() if looks_local else name, revision=revision)
        kwargs.setdefault("name", f"{model.arch} ({model_id_or_dir})")
        return cls(model, **kwargs)

    @property
    def landmarker(self) -> FaceLandmarker:
        if self._landmarker is None:
            self._landmarker = FaceLandmarker(settings=inference_face_settings())
        return self._landmarker

    def close(self) -> None:
        """Release the landmarker if this Predictor created it."""
        if self._owns_landmarker and self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __enter__(self) -> Predictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def predict(
        self, source: str | Path | Clip, progress: Progress | None = None, track: FaceTrack | None = None
    ) -> Prediction:
        """Run the whole pipeline on a file, a frame folder or an already decoded :class:`Clip`.

        Args:
            source: what to analyse.
            progress: called with (fraction done, stage name).
            track: the face already tracked through ``source`` (a :class:`Clip`), e.g. from an
                earlier Prediction's ``track``; landmarking is then skipped (timed as 0 ms).

        Raises:
            ValueError: ``track`` given with a file, or with a different number of frames.
            MicroExpError subclasses: unusable file, no face, several faces, no window with enough
            detected frames (NoFaceError).
        """
        report = progress or (lambda fraction, stage: None)
        timings: dict[str, float] = {}
        start = clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = (now - clock) * 1000.0
            clock = now

        if track is not None and (not isinstance(source, Clip) or len(track) != len(source)):
            raise ValueError("track= needs the decoded Clip it was tracked on")
        report(0.0, "decoding")
        clip = source if isinstance(source, Clip) else load_clip(source, self.limits)
        lap("decode")
        report(0.1, "face landmarks")
        if track is None:
            track = self.landmarker.track(clip.frames, clip.timestamps, landmark_stride=self.landmark_stride)
        lap("landmarks")
        report(0.5, "spotting")
        windows, notices = make_windows(clip.timestamps, self.spec, self.stride_seconds)
        short = bool(notices)  # shorter than one window: the whole clip is the one window, as before
        excerpt = not short and (clip.duration <= EXCERPT_SECONDS if self.excerpt is None else self.excerpt)
        spotted = self._spot(clip, track, excerpt)
        lap("spot")
        ranked = [] if short else sorted(spotted.intervals, key=lambda i: -i.score)
        centred = [window_at(clip.timestamps, self.spec, iv.apex, len(windows) + j) for j, iv in enumerate(ranked)]
        spread = self._spread(clip, ranked, centred)
        lap("windows")
        report(0.6, "alignment")
        extra = [w for ws in spread for w in ws if w.index >= len(windows) + len(centred)]
        everything = preprocess_clip(clip, track, self.spec, windows + centred + extra, self.min_coverage)
        lap("align")
        if not any(a.window.index < len(windows) for a in everything):
            raise NoFaceError(
                f"the face was detected in too few frames (less than {self.min_coverage:.0%} of every window); "
                "film one person facing the camera, well lit, without covering the face"
            )
        report(0.8, "model")
        everything_inputs = to_tensors(everything, self.spec)
        everything_probs = self._infer(everything_inputs)
        lap("model")
        probs_of = {a.window.index: everything_probs[k] for k, a in enumerate(everything)}
        # the spread windows come last (preprocess_clip keeps the order) and only feed the intervals' mean
        kept = sum(a.window.index < len(windows) + len(centred) for a in everything)
        aligned, inputs, probs = everything[:kept], tuple(x[:kept] for x in everything_inputs), everything_probs[:kept]

        by_index = {a.window.index: (k, a) for k, a in enumerate(aligned)}
        results = []
        for w in windows + centred:
            first, stop = w.frame_range()
            cov = track.coverage(first, stop)
            if w.index in by_index:
                k, a = by_index[w.index]
                one = tuple(x[k : k + 1] for x in inputs)
                results.append(WindowResult(w, probs[k], cov, None, motion_energy(a), w.index >= len(windows), a, one))
            else:
                reason = f"face detected in {cov:.0%} of frames"
                results.append(WindowResult(w, None, cov, reason, centred=w.index >= len(windows)))
        intervals = tuple(self._label(iv, w.index, probs_of.get(w.index), [probs_of.get(x.index) for x in ws])
                          for iv, w, ws in zip(ranked, centred, spread))  # fmt: skip
        sliding = [i for i in range(len(windows)) if results[i].probs is not None]
        most_motion = max(sliding, key=lambda i: results[i].motion)
        contrast = results[most_motion].motion / max(float(np.median([results[i].motion for i in sliding])), 1e-6)
        notes = list(notices) + list(track.notices) + list(spotted.notices)
        labelled = [r for r in intervals if r.label is not None]
        if excerpt:
            notes.append(self._excerpt_notice(clip, intervals))
        chosen = None
        if labelled and not short:
            best, prediction, chosen = labelled[0].window, labelled[0].label, labelled[0].probs
        else:
            best = most_motion
            prediction = self.spec.labels[int(np.argmax(results[best].probs))] if short or excerpt else None
            if not (short or excerpt):
                notes.append(NO_EXPRESSION if not intervals else
                             "micro-expressions were spotted, but the face was not detected well enough around them "
                             "to classify them")
        skipped = sum(r.probs is None for r in results[: len(windows)])
        if skipped:
            notes.append(f"{skipped} of {len(windows)} window(s) skipped: the face was not detected in enough frames")
        timings["total"] = (time.perf_counter() - start) * 1000.0
        report(1.0, "done")
        return Prediction(
            labels=self.spec.labels,
            windows=tuple(results),
            best_window=best,
            prediction=prediction,
            probs=chosen if chosen is not None else results[best].probs if prediction is not None else None,
            timings_ms=timings,
            notices=tuple(notes),
            clip=clip,
            track=track,
            aligned=tuple(aligned),
            inputs=inputs,
            model=self.name,
            motion_contrast=contrast,
            intervals=intervals,
            spot=spotted,
            excerpt=excerpt,
            apex_spread=self.apex_spread,
            mirror=self.mirror,
        )

    def _spread(self, clip: Clip, ranked: Sequence[Interval], centred: Sequence[Window]) -> list[list[Window]]:
        """For each interval, its windows at :attr:`apex_spread` (offset 0: its centred window itself; the
        others get indices after the centred windows')."""
        length, out, index = self.spec.window_seconds, [], centred[-1].index + 1 if centred else 0
        for iv, w in zip(ranked, centred):
            around = []
            for f in self.apex_spread:
                if f == 0.0:
                    around.append(w)
                else:
                    around.append(window_at(clip.timestamps, self.spec, iv.apex + f * length, index))
                    index += 1
            out.append(around)
        return out

    def _label(
        self, interval: Interval, window: int, own: np.ndarray | None, spread: Sequence[np.ndarray | None]
    ) -> IntervalResult:
        """An interval's label from the mean probabilities of its spread windows that were classified;
        none when its own centred window ``window`` (the one explained; probabilities ``own``) was not."""
        present = [p for p in spread if p is not None]
        if own is None or not present:
            return IntervalResult(interval, window, None, None)
        mean = np.mean(present, axis=0).astype(np.float32)
        return IntervalResult(interval, window, mean, self.spec.labels[int(np.argmax(mean))])

    def _spot(self, clip: Clip, track: FaceTrack, excerpt: bool) -> SpotResult:
        """Spot ``clip``; an excerpt keeps only the top candidate, found without the score thresholds, and
        when every peak is filtered out (held to the clip's end, repeated, ...) the strongest one: an excerpt
        holds one expression by definition, and its strongest peak lies nearer the apex than the window
        with the most motion (fresh probe clips: centred within 0.1 s of the apex 75 -> 79 of 96, bench/README.md)."""
        if not excerpt:
            return spot(clip, track, self.spot_settings)
        found = spot(clip, track, replace(self.spot_settings, min_score=0.0, min_contrast=0.0))
        top = found.top or found.strongest
        return replace(found, intervals=(top,) if top else ())

    def _excerpt_notice(self, clip: Clip, intervals: tuple[IntervalResult, ...]) -> str:
        head = (f"this {clip.duration:.1f} s clip is taken as an excerpt around one expression (as dataset samples "
                "are), so it is always labelled")
        if not intervals:
            return head + ": no brief movement stood out, so the window with the most facial motion is used"
        score, needed = intervals[0].interval.score, self.spot_settings.min_score
        weak = "" if score >= needed else f", under the {needed:g} a recording needs to report one"
        return head + f", at its strongest movement (spotting score {score:.1f}{weak})"

    def _infer(self, inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
        """Softmax probabilities (N, classes) for batched inputs, BATCH windows per forward pass; with
        :attr:`mirror`, the mean of each window's and its mirrored copy's."""
        n = inputs[0].shape[0]
        factors = mirror_factors(self.spec)
        out = []
        with torch.inference_mode(), autocast(self.device):
            for i in range(0, n, BATCH):
                batch = tuple(x[i : i + BATCH].to(self.device, non_blocking=True) for x in inputs)
                probs = torch.softmax(self.model(*batch).float(), dim=1)
                if self.mirror:
                    mirrored = tuple(mirror_window(x, factors) for x in batch)
                    probs = (probs + torch.softmax(self.model(*mirrored).float(), dim=1)) / 2
                out.append(probs.cpu())
        return torch.cat(out).numpy()


__all__ = [
    "APEX_SPREAD",
    "EXCERPT_SECONDS",
    "INFERENCE_LANDMARK_STRIDE",
    "NO_EXPRESSION",
    "IntervalResult",
    "Prediction",
    "Predictor",
    "WindowResult",
    "inference_face_settings",
    "preprocess_clip",
]
