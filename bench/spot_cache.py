"""Spotter development on cached signals: track and register every clip once, then try spotter
decisions on all sets in seconds (synthetic only for tuning; the probe sets are measured, not tuned on).

Usage::

    python bench/spot_cache.py cache --data NAME=DIR ... --cache /tmp/spot/cache   # once per set
    python bench/spot_cache.py eval --cache /tmp/spot/cache NAME ...                # per variant
    python bench/spot_cache.py make --out DIR --seed 31 --amplitude 0.06 0.13       # tuning clips
    python bench/spot_cache.py make --out DIR --seed 33 --shake 0.7                 # 70 % of them hand-held

``make`` writes a ``train.scenes`` long-clip set shaped like the held-out clips (6 s, one
micro-expression of 6-13 % IOD, talking, blinks, head motion, optionally hand-held shake; H.264 at a
given crf) for tuning:
``synth-long`` has no option for the expressions' amplitude.

``DIR`` is a ``python -m train synth-long`` set (``intervals.csv``), a ``python -m train probe`` set
(``annotations.csv``, one expression per clip) or a ``bench/spot_dev.py`` folder (``*.npz``). Each
clip is decoded and tracked as ``spot-eval`` does (the pipeline's inference landmarker, longer side
640) and its :func:`microexp.spot.signals` (the slow part: registration, ECC, cell differences) are
pickled with its ground truth; ``eval`` then runs :func:`microexp.spot.decide` (or a variant) on
them and scores: MEGC TP/FP/FN/F1 at IoU 0.5 and apex hit-rate on micro-expressions
(:mod:`train.spotting.metrics`), the none-rate of clips without one, and for one-expression clips
whether the top interval holds the apex. The cache is a development aid in /tmp, never a product
file: the signals depend on the spotter's settings, so rebuild it when those change.
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexp.face import FaceTrack  # noqa: E402
from microexp.spot import SpotResult, SpotSettings, _Signals, combine, decide, registered_cells  # noqa: E402
from train.spotting.metrics import Spotted, VideoOutcome, score_outcomes  # noqa: E402
from train.spotting.records import GTInterval  # noqa: E402


@dataclass
class Cached:
    """One clip's spotting inputs: registered cell differences (:func:`microexp.spot.registered_cells`),
    track, times and ground truth (0-based frames of the recording at ``fps``)."""

    key: str
    fps: float
    times: np.ndarray
    events: tuple[GTInterval, ...]
    track: FaceTrack
    cells: list[np.ndarray]
    crops: np.ndarray
    labels: np.ndarray
    clip_fps: float
    _sig: _Signals | None = None

    @property
    def valid(self) -> np.ndarray:
        return self.track.valid

    @property
    def sig(self) -> _Signals:
        """Signals with the default settings (computed once)."""
        if self._sig is None:
            self._sig = self.signals(SpotSettings())
        return self._sig

    def signals(self, settings: SpotSettings) -> _Signals:
        return combine(self.cells, self.crops, self.labels, self.track, self.clip_fps, settings)


def _cached(key: str, fps: float, clip, track: FaceTrack, events, settings: SpotSettings) -> Cached:
    cells, crops, labels, clip_fps = registered_cells(clip, track, settings)
    times = np.asarray(clip.timestamps, np.float64)
    return Cached(key, fps, times, tuple(events), track, cells, crops, labels, clip_fps)


def _probe_clips(root: Path) -> Iterator[tuple[str, Path, float, tuple[GTInterval, ...]]]:
    with open(root / "annotations.csv", newline="") as f:
        for row in csv.DictReader(f):
            g = GTInterval(int(row["onset"]) - 1, int(row["apex"]) - 1, int(row["offset"]) - 1, "micro", row["label"])
            yield f"{row['subject']}/{row['clip']}", root / row["subject"] / f"{row['clip']}.mp4", float(row["fps"]), (g,)


def _dev_events(events: list[dict]) -> tuple[GTInterval, ...]:
    kinds = {"micro": "micro", "macro": "macro", "blink": "blink", "speech": "speech"}
    return tuple(GTInterval(e["onset"], e["apex"], e["offset"], kinds[e["kind"]], e.get("label", "")) for e in events)


def build(name: str, root: Path, cache: Path, settings: SpotSettings) -> None:
    """Decode, track and compute signals for every clip of one set; one pickle per set."""
    from bench.spot_dev import load as load_dev
    from microexp.face import FaceLandmarker
    from microexp.pipeline import inference_face_settings
    from microexp.video import load_clip
    from train.spotting.evaluate import LONG_VIDEO_LIMITS, load_record_clip
    from train.spotting.loaders import load_synthetic_long

    out = []
    if list(root.glob("*.npz")):  # bench/spot_dev.py: tracks already there
        for path in sorted(root.glob("*.npz")):
            clip, track, events = load_dev(path)
            out.append(_cached(path.stem, 30.0, clip, track, _dev_events(events), settings))
            print(name, path.stem, flush=True)
    else:
        with FaceLandmarker(settings=inference_face_settings()) as landmarker:
            if (root / "intervals.csv").is_file():
                records, _ = load_synthetic_long(root)
                items = [(r.key, lambda r=r: load_record_clip(r, 640), r.fps, r.intervals) for r in records]
            else:
                limits = LONG_VIDEO_LIMITS.__class__(**{**LONG_VIDEO_LIMITS.__dict__, "max_side": 640})
                items = [(k, lambda p=p: load_clip(p, limits), fps, ev) for k, p, fps, ev in _probe_clips(root)]
            for key, decode, fps, events in items:
                clip = decode()
                track = landmarker.track(clip.frames, clip.timestamps)
                out.append(_cached(key, fps, clip, track, events, settings))
                print(name, key, flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{name}.pkl", "wb") as f:
        pickle.dump(out, f, protocol=pickle.HIGHEST_PROTOCOL)
    return out


class _Unpickler(pickle.Unpickler):
    """Finds :class:`Cached` whether the cache was written with this file run as a script or imported."""

    def find_class(self, module: str, name: str):
        return Cached if name == "Cached" else super().find_class(module, name)


def load(cache: Path, name: str) -> list[Cached]:
    with open(cache / f"{name}.pkl", "rb") as f:
        return _Unpickler(f).load()


Decider = Callable[[Cached], SpotResult]


def default_decider(settings: SpotSettings = SpotSettings()) -> Decider:
    if settings == SpotSettings():
        return lambda c: decide(c.sig, c.times, c.valid, settings)
    return lambda c: decide(c.signals(settings), c.times, c.valid, settings)


def speech_share(clips: list[Cached], settings: SpotSettings) -> dict:
    """Speech mask against annotated talking: share of talking frames masked, of other frames masked."""
    from microexp.spot import speech_mask

    hit = talk = false = other = 0
    for c in clips:
        mask = speech_mask(c.track, c.clip_fps, settings, c.crops, c.labels)
        truth = np.zeros(len(mask), bool)
        for e in c.events:
            if e.kind == "speech":
                scale = c.clip_fps / c.fps
                truth[round(e.onset * scale) : round(e.offset * scale) + 1] = True
        hit, talk = hit + int((mask & truth).sum()), talk + int(truth.sum())
        false, other = false + int((mask & ~truth).sum()), other + int((~truth).sum())
    return {"talking_masked": round(hit / max(talk, 1), 3), "other_masked": round(false / max(other, 1), 3)}


def to_frame(seconds: float, fps: float, n: int) -> int:
    return int(min(max(round(seconds * fps), 0), n - 1))


def evaluate(clips: list[Cached], decider: Decider) -> dict:
    """MEGC scores, none-rate, and for clips with exactly one micro-expression the top interval's apex hit."""
    outcomes, top_hits, one, none_hits, none_total = [], 0, 0, 0, 0
    for c in clips:
        res = decider(c)
        n = len(c.times)
        spotted = tuple(
            Spotted(to_frame(i.onset, c.fps, n), to_frame(i.apex, c.fps, n), to_frame(i.offset, c.fps, n), i.score)
            for i in res.intervals
        )
        outcomes.append(VideoOutcome(c.key, c.events, spotted, seconds=float(c.times[-1])))
        micro = [e for e in c.events if e.kind == "micro"]
        if not micro:
            none_total += 1
            none_hits += not spotted
        elif len(micro) == 1:
            one += 1
            top = max(spotted, key=lambda s: s.score) if spotted else None
            top_hits += top is not None and top.onset <= micro[0].apex <= top.offset
    s = score_outcomes(outcomes, "micro")
    row = {"clips": len(clips)}
    if s["tp"] + s["fn"]:
        row.update(tp=s["tp"], fp=s["fp"], fn=s["fn"], f1=round(s["f1"], 3),
                   apex=f"{s['apex_hit_rate']['hits']}/{s['apex_hit_rate']['total']}")
    if one:
        row["top_apex"] = f"{top_hits}/{one}"
    if none_total:
        row["none"] = f"{none_hits}/{none_total}"
    row["fp_on"] = s["fp_by_event"]
    return row


def _setting(text: str) -> tuple[str, object]:
    """``field=value`` -> (field, value typed as the field's default; floats where it is None)."""
    key, _, value = text.partition("=")
    default = getattr(SpotSettings(), key)
    if value == "None":
        return key, None
    if isinstance(default, bool):
        return key, value.lower() in ("1", "true", "yes")
    return key, (float if default is None else type(default))(value)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--data", nargs="+", required=True, help="NAME=DIR")
    c.add_argument("--cache", type=Path, default=Path("/tmp/spot/cache"))
    m = sub.add_parser("make")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--clips", type=int, default=40)
    m.add_argument("--seed", type=int, default=31)
    m.add_argument("--seconds", type=float, nargs=2, default=(5.5, 6.5))
    m.add_argument("--amplitude", type=float, nargs=2, default=(0.06, 0.13))
    m.add_argument("--micro", type=int, nargs=2, default=(1, 1))
    m.add_argument("--fps", type=float, default=30.0)
    m.add_argument("--crf", type=int, default=24)
    m.add_argument("--shake", type=float, default=0.0, help="share of hand-held clips (train.scenes.shake)")
    m.add_argument("--shake-px", type=float, nargs=2, default=(0.2, 1.0), help="their RMS frame-to-frame jitter, px")
    m.add_argument("--head-per-minute", type=float, nargs=2, default=(2.0, 8.0), help="rate of head turns, nods, tilts")
    m.add_argument("--speech", type=float, default=0.75, help="probability that the person talks in a clip")
    m.add_argument("--speech-overlap", type=float, default=0.3,
                   help="probability that an expression lies inside talking")
    e = sub.add_parser("eval")
    e.add_argument("names", nargs="+")
    e.add_argument("--cache", type=Path, default=Path("/tmp/spot/cache"))
    e.add_argument("--set", nargs="*", default=[], help="SpotSettings field=value")
    e.add_argument("--speech", action="store_true", help="also score the speech mask")
    args = p.parse_args(argv)
    if args.command == "make":
        from train.scenes import LongConfig, generate_long

        config = LongConfig(clips=args.clips, seed=args.seed, seconds=tuple(args.seconds), fps=args.fps,
                            amplitude=tuple(args.amplitude), micro=tuple(args.micro), crf=args.crf,
                            shake=args.shake, shake_px=tuple(args.shake_px),
                            head_per_minute=tuple(args.head_per_minute), speech=args.speech,
                            speech_overlap=args.speech_overlap)
        print(generate_long(config, args.out, progress=False))
        return 0
    if args.command == "cache":
        for spec in args.data:
            name, _, root = spec.partition("=")
            if not (args.cache / f"{name}.pkl").exists():
                build(name, Path(root), args.cache, SpotSettings())
        return 0
    settings = SpotSettings(**dict(_setting(a) for a in args.set))
    for name in args.names:
        clips = load(args.cache, name)
        extra = speech_share(clips, settings) if args.speech else {}
        print(name, json.dumps({**evaluate(clips, default_decider(settings)), **extra}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
