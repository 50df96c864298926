"""Dev clips for tuning and measuring ``microexp.spot`` (synthetic only, made with ``train.synth``).

Kinds (6 s at 30 fps by default, head drift, lighting change and sensor noise in all of them):
  micro        one micro-expression (0.2-0.5 s, class drawn at random), 0-2 random blinks;
  micro_speech one micro-expression while the mouth opens and closes as in speech (3-5 Hz, AU26);
  still        no expression, 0-2 random blinks;
  blink        no expression, 2-4 blinks;
  speech       no expression, speech-like mouth movement over 2-5 s, 0-2 blinks;
  macro        one expression lasting 1.5-2.5 s (a macro-expression), 0-2 blinks.

Usage: ``python bench/spot_dev.py --out /tmp/spotdev --per-kind 8 [--seed 0]`` writes one .npz per clip
(frames are not kept: the face track, timestamps and grey frames are enough for spotting) and prints
how often the top spotted interval holds the true apex, and the none-rate of the clips without one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microexp.face import FaceLandmarker, FaceTrack  # noqa: E402
from microexp.pipeline import inference_face_settings  # noqa: E402
from microexp.video import clip_from_frames  # noqa: E402
from train import synth  # noqa: E402

KINDS = ("micro", "micro_speech", "still", "blink", "speech", "macro")
FPS = 30.0
SECONDS = 6.0


def _speech_course(rng: np.random.Generator, n: int, fps: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Mouth opening 0..1 over time: syllables at 3-5 Hz with a varying envelope, for 2-5 s."""
    length = int(rng.uniform(2.0, min(5.0, n / fps - 0.4)) * fps)
    start = int(rng.integers(int(0.2 * fps), n - length))
    t = np.arange(length) / fps
    rate = rng.uniform(3.0, 5.0)
    phase = 2 * np.pi * np.cumsum(rate * (1 + 0.25 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))) / fps
    syll = np.clip(0.5 - 0.5 * np.cos(phase), 0, 1)
    env = np.clip(0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 6)), 0.2, 1)
    ramp = np.minimum(1, np.minimum(t, t[-1] - t) / 0.15)
    course = np.zeros(n)
    course[start : start + length] = syll * env * ramp
    return course, (start, start + length - 1)


def _blinks(rng: np.random.Generator, n: int, fps: float, count: int) -> tuple[np.ndarray, tuple]:
    closure, spans = np.zeros(n), []
    for _ in range(count):
        length = max(3, round(rng.uniform(0.1, 0.25) * fps))
        start = int(rng.integers(0, n - length - 1))
        peak = start + max(1, round(length * rng.uniform(0.35, 0.5)))
        end = start + length
        closure = np.maximum(closure, rng.uniform(0.75, 1.0) * synth._bump_curve(n, start, peak, end))
        spans.append((start, end))
    return closure, tuple(sorted(spans))


def make_dev_clip(photo: synth.FacePhoto, kind: str, seed: int) -> tuple[np.ndarray, list[dict]]:
    """Frames and events (0-based frames) of one dev clip."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    rgb, lm = synth.frame_face(photo, (320, 240), synth._jitter(synth.random_variant(rng), rng))
    n = int(SECONDS * FPS)
    geo = synth._Geometry(lm)
    nz = synth._nuisances(rng, n, FPS, True)
    if kind == "blink":
        closure, spans = _blinks(rng, n, FPS, int(rng.integers(2, 5)))
        nz = replace(nz, closure=closure, blinks=spans)
    events = [{"kind": "blink", "onset": a, "apex": a, "offset": b} for a, b in nz.blinks]
    layers = []  # (field, course)
    if kind in ("micro", "micro_speech", "macro"):
        label = str(rng.choice(synth.LABELS))
        aus = str(rng.choice(synth.RECIPES[label]))
        lo, hi = (0.2, 0.5) if kind != "macro" else (1.5, 2.5)
        span = int(rng.integers(round(lo * FPS), round(hi * FPS) + 1))
        onset = int(rng.integers(int(0.4 * FPS), n - int(0.4 * FPS) - span))
        apex = onset + max(1, round(span * rng.uniform(0.3, 0.5)))
        if kind == "macro":  # rise, hold, fall
            rise = int(rng.integers(round(0.2 * FPS), round(0.4 * FPS)))
            course = np.zeros(n)
            course[onset : onset + span + 1] = 1.0
            up = synth._bump_curve(n, onset, onset + rise, onset + 2 * rise)
            down = synth._bump_curve(n, onset + span - 2 * rise, onset + span - rise, onset + span)
            course[onset : onset + rise] = up[onset : onset + rise]
            course[onset + span - rise : onset + span + 1] = down[onset + span - rise : onset + span + 1]
            apex = onset + rise
        else:
            course = synth._bump_curve(n, onset, apex, onset + span)
        amp = float(rng.uniform(0.035, 0.08))
        shift = synth.landmark_displacement(lm, aus, amp, rng)
        layers.append((synth.dense_field(lm, shift, (320, 240)), course))
        events.append({"kind": "micro" if kind != "macro" else "macro", "onset": onset, "apex": apex,
                       "offset": onset + span, "label": label, "aus": aus, "amplitude": amp})
    if kind in ("speech", "micro_speech"):
        course, (a, b) = _speech_course(rng, n, FPS)
        shift = synth.landmark_displacement(lm, "AU26", float(rng.uniform(0.06, 0.14)))
        layers.append((synth.dense_field(lm, shift, (320, 240)), course))
        events.append({"kind": "speech", "onset": a, "apex": a, "offset": b})
    frames = np.empty((n, 240, 320, 3), np.uint8)
    zero = np.zeros((240, 320, 2), np.float32)
    for i in range(n):
        field = sum((f * np.float32(c[i]) for f, c in layers), zero)
        one = replace(nz, shift=nz.shift[i : i + 1], angle=nz.angle[i : i + 1], zoom=nz.zoom[i : i + 1],
                      closure=nz.closure[i : i + 1], gain=nz.gain[i : i + 1], gradient=nz.gradient[i : i + 1])
        frames[i] = synth._render(rgb, geo, field, np.array([1.0 if np.any(field) else 0.0]), one, rng)[0]
    return frames, events


def build(out: Path, per_kind: int, seed: int, kinds=KINDS) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with FaceLandmarker(settings=inference_face_settings(workers=1)) as landmarker:
        photos = synth.load_faces(landmarker=landmarker)
        for kind in kinds:
            for j in range(per_kind):
                path = out / f"{kind}_{seed}_{j:02d}.npz"
                if path.exists():
                    continue
                photo = photos[(j + seed) % len(photos)]
                frames, events = make_dev_clip(photo, kind, seed * 1000 + j)
                clip = clip_from_frames(frames, FPS)
                track = landmarker.track(clip.frames, clip.timestamps)
                np.savez_compressed(
                    path, frames=frames, timestamps=clip.timestamps, landmarks=track.landmarks,
                    detected=track.detected, valid=track.valid, events=json.dumps(events), photo=photo.name,
                )
                print(path.name, [e["kind"] for e in events], flush=True)


def load(path: Path):
    d = np.load(path)
    clip = clip_from_frames(d["frames"], FPS)
    n = len(clip)
    track = FaceTrack(d["landmarks"], d["detected"], d["valid"], np.zeros((n, 0), np.float32), (), (320, 240))
    return clip, track, json.loads(str(d["events"]))


def evaluate(folder: Path, settings=None, verbose: bool = False) -> dict:
    from microexp.spot import SpotSettings, spot

    settings = settings or SpotSettings()
    hits = {k: [] for k in KINDS}
    took = 0.0
    seconds = 0.0
    for path in sorted(folder.glob("*.npz")):
        kind = path.name.split("_")[0] if not path.name.startswith("micro_speech") else "micro_speech"
        clip, track, events = load(path)
        t0 = time.perf_counter()
        res = spot(clip, track, settings)
        took += time.perf_counter() - t0
        seconds += clip.duration
        target = [e for e in events if e["kind"] == "micro"]
        if target:
            apex = clip.timestamps[target[0]["apex"]]
            top = max(res.intervals, key=lambda iv: iv.score) if res.intervals else None
            ok = top is not None and top.onset - 0.034 <= apex <= top.offset + 0.034
            near = top is not None and abs(top.apex - apex) <= 0.1
            hits[kind].append((ok, near, len(res.intervals)))
        else:
            hits[kind].append((not res.intervals, False, len(res.intervals)))
        if verbose:
            print(path.name, [(e["kind"], round(float(clip.timestamps[e["apex"]]), 2)) for e in events],
                  [(round(i.onset, 2), round(i.apex, 2), round(i.offset, 2), round(i.score, 1)) for i in res.intervals])
    summary = {}
    for kind, rows in hits.items():
        if not rows:
            continue
        if kind.startswith("micro"):
            summary[kind] = {"clips": len(rows), "top_holds_apex": int(sum(r[0] for r in rows)),
                             "top_apex_within_0.1s": int(sum(r[1] for r in rows)),
                             "mean_intervals": round(float(np.mean([r[2] for r in rows])), 2)}
        else:
            summary[kind] = {"clips": len(rows), "none": int(sum(r[0] for r in rows))}
    summary["spot_ms_per_second_of_video"] = round(1000 * took / max(seconds, 1e-9), 1)
    return summary


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-kind", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-only", action="store_true")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args()
    if not args.eval_only:
        build(args.out, args.per_kind, args.seed)
    print(json.dumps(evaluate(args.out, verbose=args.verbose), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
