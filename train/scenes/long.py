"""Synthetic long clips for spotting: 10-60 s of a face that talks, blinks, moves its head and may
hold a macro-expression, with 0-3 micro-expressions among it all.

Layout (``python -m train synth-long --out DIR``)::

    DIR/sub01/long_0001.mp4     (or a frame folder DIR/sub01/long_0001/img1.jpg ...)
    DIR/intervals.csv           subject,person,clip,kind,onset,apex,offset,label,aus,fps
    DIR/long_config.json
    DIR/shake.csv               subject,clip,shake_px (only with --shake: RMS frame-to-frame jitter, px)

One csv row per event; ``kind`` is micro, macro, blink, speech or head; frames are 1-based and
inclusive (CASME II); ``label`` is the MEGC class of micro and macro events. A clip with no micro row
is a "none" clip. Micro-expressions never overlap each other or the macro-expression; a share of
them falls inside speech, the hard real case. Same config (incl. seed), same clips.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from train.generated import dataset_folder, dataset_meta, write_clip, write_tables
from train.generator_cli import add_output_arguments, add_run_arguments, run_generator
from train.synth import (
    FACES_DIR,
    LABELS,
    FacePhoto,
    _Geometry,
    Variant,
    _jitter,
    _subjects,
    frame_face,
    head_problems,
    load_faces,
    probability_problems,
    range_problems,
    subject_clips,
    tail_problems,
)

from .motions import Event, Scene
from .plan import Draft, overlaps
from .render import render_frames
from .shake import hand_shake

COLUMNS = ("subject", "person", "clip", "kind", "onset", "apex", "offset", "label", "aus", "fps")


@dataclass(frozen=True)
class LongConfig:
    """Everything that decides a set of long clips; same config (incl. seed) -> same clips.

    Attributes:
        clips: number of clips.
        seed: master seed; clip ``i`` draws from its own generator seeded by ``(seed, i)``.
        fps: frame rate.
        seconds: (min, max) clip length.
        size: (width, height) of the frames.
        micro: (min, max) micro-expressions per clip (each count equally likely).
        labels: classes the micro- and macro-expressions are drawn from.
        me_seconds: (min, max) onset-to-offset duration of a micro-expression.
        amplitude: (min, max) apex displacement of a micro-expression / IOD (synth's default).
        speech: probability that the person talks at all in a clip.
        jaw: (min, max) jaw opening of a talking turn / IOD (syllables reach 40-100 % of it).
        speech_overlap: probability that a micro-expression is placed inside a speech phrase.
        blinks_per_minute: (min, max) blink rate of a clip.
        double_blink: probability that a blink is a double blink.
        head_per_minute: (min, max) rate of head turns, nods, tilts and shifts.
        macro: probability of one macro-expression (held 1-4 s, onset and offset 0.5-1 s).
        macro_amplitude: (min, max) apex displacement of the macro-expression / IOD.
        nuisances: slow head drift, lighting change and sensor noise over the whole clip.
        shake: probability that a clip is filmed hand-held (:mod:`train.scenes.shake`: sway and hand
            tremor move the whole frame); 0 draws nothing, so sets made without it stay as they were.
        shake_px: (min, max) RMS frame-to-frame step of a hand-held clip's translation, output pixels.
        subjects_per_person: 1 = one subject per real person (see ``train.synth``).
        format: ``mp4`` (H.264) or ``jpg`` (frame folders).
        jpeg_quality, crf: compression of jpg frames / mp4 files.
        faces_dir: folder of neutral face photographs.
    """

    clips: int = 10
    seed: int = 0
    fps: float = 30.0
    seconds: tuple[float, float] = (10.0, 60.0)
    size: tuple[int, int] = (320, 240)
    micro: tuple[int, int] = (0, 3)
    labels: tuple[str, ...] = LABELS
    me_seconds: tuple[float, float] = (0.2, 0.5)
    amplitude: tuple[float, float] = (0.035, 0.08)
    speech: float = 0.75
    jaw: tuple[float, float] = (0.05, 0.15)
    speech_overlap: float = 0.3
    blinks_per_minute: tuple[float, float] = (8.0, 25.0)
    double_blink: float = 0.15
    head_per_minute: tuple[float, float] = (2.0, 8.0)
    macro: float = 0.5
    macro_amplitude: tuple[float, float] = (0.08, 0.15)
    nuisances: bool = True
    shake: float = 0.0
    shake_px: tuple[float, float] = (0.2, 1.0)
    subjects_per_person: int = 1
    format: str = "mp4"
    jpeg_quality: int = 90
    crf: int = 18
    faces_dir: str = str(FACES_DIR)

    def __post_init__(self) -> None:
        ranges = (
            ("seconds", 1.0, 60.0), ("me_seconds", 0.04, 0.5), ("amplitude", 1e-4, 0.5), ("jaw", 0.0, 0.3),
            ("blinks_per_minute", 0.0, 60.0), ("head_per_minute", 0.0, 60.0), ("macro_amplitude", 1e-4, 0.5),
            ("micro", 0, 10), ("shake_px", 0.0, 10.0),
        )  # fmt: skip
        problems = head_problems(self) + range_problems(self, ranges)
        problems += probability_problems(self, ("speech", "speech_overlap", "double_blink", "macro", "shake"))
        problems += tail_problems(self)
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class LongClip:
    """One long clip. ``frames``: (N, H, W, 3) uint8 RGB; ``events``: time order, 0-based frames;
    ``shake_px``: its hand-held jitter (RMS frame-to-frame step in pixels, 0 on a tripod)."""

    frames: np.ndarray
    fps: float
    events: tuple[Event, ...]
    shake_px: float = 0.0


# --------------------------------------------------------------------------------------------
# Planning: what moves when
# --------------------------------------------------------------------------------------------


def _f(seconds: float, fps: float) -> int:
    return max(1, round(seconds * fps))


def plan_long(
    rng: np.random.Generator, n: int, fps: float, landmarks: np.ndarray, size: tuple[int, int], config: LongConfig
) -> Scene:
    """Draw the motions of one ``n``-frame clip of ``size`` (W, H); :class:`LongConfig` has the distributions."""
    d = Draft(rng, n, fps, landmarks, size)

    # Talking turns of 1.5-8 s separated by 1-6 s of silence.
    if rng.random() < config.speech:
        t = _f(rng.uniform(0.0, 4.0), fps)
        while t < n - _f(1.0, fps):
            end = min(n - 2, t + _f(rng.uniform(1.5, 8.0), fps))
            d.speech(t, end, float(rng.uniform(*config.jaw)))
            t = end + _f(rng.uniform(1.0, 6.0), fps)
    phrases = [e for e in d.events if e.kind == "speech"]

    # Blinks: a Poisson process with at least 0.6 s between blinks.
    rate = rng.uniform(*config.blinks_per_minute) / 60.0
    t = rng.exponential(1 / rate) if rate > 0 else float("inf")
    while t * fps < n - _f(0.5, fps):
        ev = d.blink(int(t * fps), bool(rng.random() < config.double_blink))
        t = ev.offset / fps + 0.6 + rng.exponential(1 / rate)

    # Head movements of 0.5-2 s, one at a time.
    rate = rng.uniform(*config.head_per_minute) / 60.0
    t = rng.exponential(1 / rate) if rate > 0 else float("inf")
    while t * fps < n - _f(2.2, fps):
        start = int(t * fps)
        ev = d.head(start, start + _f(rng.uniform(0.5, 2.0), fps))
        t = ev.offset / fps + 0.3 + rng.exponential(1 / rate)

    # Micro-expressions first (the count asked for is kept whenever it fits): never overlapping each
    # other or the macro-expression, 0.3 s apart.
    margin, gap = _f(0.1, fps), _f(0.3, fps)
    lo, hi = (max(2, round(s * fps)) for s in config.me_seconds)
    for _ in range(int(rng.integers(config.micro[0], config.micro[1] + 1))):
        label = str(rng.choice(config.labels))
        span = int(rng.integers(lo, hi + 1))
        in_speech = bool(phrases) and rng.random() < config.speech_overlap
        taken = d.spans("micro")
        for _try in range(100):
            if in_speech and _try < 50:  # then anywhere: a phrase at the clip's very end may leave no room
                ph = phrases[int(rng.integers(len(phrases)))]
                onset = int(rng.integers(max(margin, ph.onset - span // 2), max(margin + 1, ph.offset - span // 2)))
            else:
                onset = int(rng.integers(margin, max(margin + 1, n - margin - span)))
            if onset + span <= n - 1 - margin and not any(overlaps((onset, onset + span), t, gap) for t in taken):
                break
        else:
            continue  # no room left in this clip: fewer micro-expressions, and the csv says so
        apex = onset + max(1, min(span - 1, round(span * rng.uniform(0.3, 0.5))))
        d.expression("micro", label, onset, apex, apex, onset + span, float(rng.uniform(*config.amplitude)))

    # At most one macro-expression: 0.5-1 s onset, held 1-4 s, 0.5-1 s offset, clear of the micro ones.
    if rng.random() < config.macro:
        rise, hold, fall = (_f(rng.uniform(*r), fps) for r in ((0.5, 1.0), (1.0, 4.0), (0.5, 1.0)))
        length = rise + hold + fall
        if length < n - 2:
            label = str(rng.choice(config.labels))
            amp = float(rng.uniform(*config.macro_amplitude))
            for _try in range(50):
                onset = int(rng.integers(0, n - 1 - length))
                if not any(overlaps((onset, onset + length), t, gap) for t in d.spans("micro")):
                    d.expression("macro", label, onset, onset + rise, onset + rise + hold, onset + length, amp)
                    break
    return d.scene()


def make_long_clip(
    photo: FacePhoto,
    rng: np.random.Generator | int | None,
    config: LongConfig = LongConfig(),
    variant: Variant = Variant(),
) -> LongClip:
    """Render one long clip of ``photo`` framed at ``config.size`` (length drawn from ``config.seconds``)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    rgb, lm = frame_face(photo, config.size, variant)
    n = max(3, round(rng.uniform(*config.seconds) * config.fps))
    scene = plan_long(rng, n, config.fps, lm, config.size, config)
    step = 0.0
    if config.shake > 0 and rng.random() < config.shake:  # no draw at all without shake: old sets repeat
        step = float(rng.uniform(*config.shake_px))
        shake = hand_shake(rng, n, config.fps, step, _Geometry(lm).frame.iod)
        scene = replace(scene, pose=scene.pose + shake)
    frames = np.empty((n, rgb.shape[0], rgb.shape[1], 3), np.uint8)
    for i, frame in enumerate(render_frames(rgb, lm, scene, config.fps, rng, config.nuisances)):
        frames[i] = frame
    return LongClip(frames, float(config.fps), scene.events, step)


# --------------------------------------------------------------------------------------------
# A dataset of long clips
# --------------------------------------------------------------------------------------------


def generate_long(
    config: LongConfig,
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    overwrite: bool = False,
    photos: Sequence[FacePhoto] | None = None,
) -> Path:
    """Write ``config.clips`` long clips, ``intervals.csv`` and ``long_config.json``; return the csv path.

    The folder is built beside ``out_dir`` and moved into place when complete (see
    :func:`train.generated.dataset_folder`).
    """
    with dataset_folder(out_dir, overwrite) as tmp:
        photos = tuple(photos) if photos is not None else load_faces(config.faces_dir)
        subjects = _subjects(photos, config.subjects_per_person, config.seed)
        rows, shaken = [], []
        draws = subject_clips(subjects, config.seed, 10, config.clips, "synth-long", progress)
        for i, rng, subject, photo in draws:
            clip = make_long_clip(photo, rng, config, _jitter(subject.variant, rng))
            name = f"long_{i + 1:04d}"
            write_clip(tmp / subject.id, name, clip.frames, config.fps, config.format, config.jpeg_quality, config.crf)
            rows += [
                {"subject": subject.id, "person": subject.person, "clip": name, "kind": e.kind,
                 "onset": e.onset + 1, "apex": e.apex + 1, "offset": e.offset + 1, "label": e.label,
                 "aus": e.aus, "fps": f"{config.fps:g}"}
                for e in clip.events
            ]  # fmt: skip
            shaken.append(f"{subject.id},{name},{clip.shake_px:.3f}\n")
        if config.shake > 0:  # which clips are hand-held (intervals.csv lists events, and shake is none)
            (tmp / "shake.csv").write_text("subject,clip,shake_px\n" + "".join(shaken))
        note = (
            "Synthetic long clips warped from public-domain photos: synthesised speech, blinks, head "
            "motion and macro-expressions around 0-3 micro-expressions. Frames in intervals.csv are 1-based, "
            "inclusive; a clip without a micro row holds no micro-expression."
        )
        meta = dataset_meta("train.scenes.long", config, subjects, note)
        write_tables(tmp, "intervals.csv", COLUMNS, rows, "long_config.json", meta)
    return Path(out_dir).resolve() / "intervals.csv"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    d = LongConfig()
    p = argparse.ArgumentParser(
        prog="python -m train synth-long",
        description="Make synthetic long clips for micro-expression spotting: talking, blinks, head motion and "
        "macro-expressions around 0-3 micro-expressions per clip (intervals.csv lists every event).",
    )
    add_output_arguments(p, d.clips, d.seed, "clips")
    p.add_argument("--seconds", type=float, nargs=2, metavar=("MIN", "MAX"), default=d.seconds,
                   help="clip length range in seconds (default 10 60)")  # fmt: skip
    p.add_argument("--fps", type=float, default=d.fps, help="frame rate (default 30)")
    p.add_argument("--format", choices=("mp4", "jpg"), default=d.format, help="H.264 files or frame folders")
    p.add_argument("--micro", type=int, nargs=2, metavar=("MIN", "MAX"), default=d.micro,
                   help="micro-expressions per clip (default 0 3)")  # fmt: skip
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=d.size, help="frame size (default 320 240)")
    p.add_argument("--no-nuisances", action="store_true", help="no drift, lighting change or noise")
    p.add_argument("--shake", type=float, default=d.shake,
                   help="share of clips filmed hand-held: sway and hand tremor move the frame (default 0)")
    p.add_argument("--shake-px", type=float, nargs=2, metavar=("MIN", "MAX"), default=d.shake_px,
                   help="RMS frame-to-frame jitter of a hand-held clip, pixels (default 0.2 1)")  # fmt: skip
    add_run_arguments(p, d.faces_dir)
    return p


def _config(args: argparse.Namespace) -> LongConfig:
    return LongConfig(
        clips=args.clips, seed=args.seed, seconds=tuple(args.seconds), fps=args.fps, format=args.format,
        micro=tuple(args.micro), size=tuple(args.size), nuisances=not args.no_nuisances, faces_dir=args.faces,
        shake=args.shake, shake_px=tuple(args.shake_px),
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train synth-long ...``; returns the exit status."""
    return run_generator(
        build_parser(), argv, _config, generate_long,
        lambda config, took, path: f"{config.clips} long clips in {took:.1f} s: {path}",
    )  # fmt: skip
