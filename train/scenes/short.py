"""Short recognition clips (2-4 s) whose one micro-expression sits among talking, blinks and head motion.

The layout is synth's (``DIR/sub01/clip_0001/img1.jpg ...`` or ``.mp4``, ``DIR/annotations.csv`` with
onset/apex/offset and label of the micro-expression, 1-based frames, ``DIR/scenes_config.json``), so
``--data synthetic=DIR`` trains on it unchanged. Extra columns name the distractors of each clip.
Training on these teaches a model that a talking mouth, a blink or a head turn is not the class
signal. ``python -m train synth-scenes --out DIR --clips N``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.generated import balanced_labels, dataset_folder, dataset_meta, write_clip, write_tables
from train.generator_cli import add_output_arguments, add_run_arguments, label_list, run_generator
from train.synth import COLUMNS as SYNTH_COLUMNS
from train.synth.morph import add_morph_argument, with_morphs
from train.synth import (
    FACES_DIR,
    LABELS,
    FacePhoto,
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
from .plan import Draft
from .render import render_frames

COLUMNS = (*SYNTH_COLUMNS, "distractors", "speech", "head")


@dataclass(frozen=True)
class SceneConfig:
    """Everything that decides a set of short scene clips; same config (incl. seed) -> same clips.

    Attributes:
        clips, seed, labels, fps, me_seconds, amplitude, size, subjects_per_person, nuisances,
            format, jpeg_quality, crf, faces_dir, morphs: as in ``train.synth.SynthConfig``.
        seconds: (min, max) clip length.
        speech: probability that the person talks during the clip (a turn of 1 s up to the whole clip).
        jaw: (min, max) jaw opening of the talking / IOD.
        blinks: (min, max) number of blinks (each count equally likely).
        double_blink: probability that a blink is a double blink.
        head: probability of one head turn, nod, tilt or shift of 0.5-2 s.
    """

    clips: int = 120
    seed: int = 0
    labels: tuple[str, ...] = LABELS
    fps: float = 30.0
    seconds: tuple[float, float] = (2.0, 4.0)
    me_seconds: tuple[float, float] = (0.2, 0.5)
    amplitude: tuple[float, float] = (0.035, 0.08)
    size: tuple[int, int] = (320, 240)
    speech: float = 0.6
    jaw: tuple[float, float] = (0.05, 0.15)
    blinks: tuple[int, int] = (0, 2)
    double_blink: float = 0.15
    head: float = 0.4
    subjects_per_person: int = 1
    nuisances: bool = True
    format: str = "jpg"
    jpeg_quality: int = 90
    crf: int = 18
    faces_dir: str = str(FACES_DIR)
    morphs: int = 0

    def __post_init__(self) -> None:
        ranges = (
            ("seconds", 0.5, 60.0), ("me_seconds", 0.04, 0.5), ("amplitude", 1e-4, 0.5), ("jaw", 0.0, 0.3),
            ("blinks", 0, 10),
        )  # fmt: skip
        problems = head_problems(self) + range_problems(self, ranges)
        if self.me_seconds[1] + 0.2 > self.seconds[0]:
            problems.append("seconds must leave at least 0.2 s beside the longest micro-expression")
        problems += probability_problems(self, ("speech", "double_blink", "head")) + tail_problems(self)
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class SceneClip:
    """One short clip: frames (N, H, W, 3) uint8 RGB, its micro event and every event (0-based frames)."""

    frames: np.ndarray
    fps: float
    micro: Event
    amplitude: float
    events: tuple[Event, ...]


def plan_short(
    rng: np.random.Generator,
    n: int,
    fps: float,
    landmarks: np.ndarray,
    size: tuple[int, int],
    label: str,
    config: SceneConfig,
) -> tuple[Scene, float]:
    """One micro-expression of class ``label`` at a random time, then distractors placed regardless of it."""
    d = Draft(rng, n, fps, landmarks, size)
    lo, hi = (max(2, round(s * fps)) for s in config.me_seconds)
    span = int(rng.integers(lo, hi + 1))
    margin = d.frames(0.1)
    if span + 2 * margin >= n:
        raise ValueError(f"a {n}-frame clip is too short for a {span}-frame micro-expression")
    onset = int(rng.integers(margin, n - margin - span))
    apex = onset + max(1, min(span - 1, round(span * rng.uniform(0.3, 0.5))))
    amp = float(rng.uniform(*config.amplitude))
    d.expression("micro", label, onset, apex, apex, onset + span, amp)
    if rng.random() < config.speech:
        start = int(rng.integers(0, max(1, n // 2)))
        d.speech(start, min(n - 2, start + d.frames(rng.uniform(1.0, n / fps))), float(rng.uniform(*config.jaw)))
    for _ in range(int(rng.integers(config.blinks[0], config.blinks[1] + 1))):
        d.blink(int(rng.integers(0, max(1, n - d.frames(0.3)))), bool(rng.random() < config.double_blink))
    if rng.random() < config.head:
        start = int(rng.integers(0, max(1, n - d.frames(0.5))))
        d.head(start, min(n - 1, start + d.frames(rng.uniform(0.5, 2.0))))
    return d.scene(), amp


def make_scene_clip(
    photo: FacePhoto,
    label: str,
    rng: np.random.Generator | int | None,
    config: SceneConfig = SceneConfig(),
    variant: Variant = Variant(),
) -> SceneClip:
    """Render one short clip of ``photo`` (framed at ``config.size``) with a ``label`` micro-expression."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    rgb, lm = frame_face(photo, config.size, variant)
    n = max(3, round(rng.uniform(*config.seconds) * config.fps))
    scene, amp = plan_short(rng, n, config.fps, lm, config.size, label, config)
    frames = np.stack(list(render_frames(rgb, lm, scene, config.fps, rng, config.nuisances)))
    micro = next(e for e in scene.events if e.kind == "micro")
    return SceneClip(frames, float(config.fps), micro, amp, scene.events)


def generate_scenes(
    config: SceneConfig,
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    overwrite: bool = False,
    photos: Sequence[FacePhoto] | None = None,
) -> Path:
    """Write ``config.clips`` short scene clips in synth's layout; return the ``annotations.csv`` path."""
    with dataset_folder(out_dir, overwrite) as tmp:
        photos = with_morphs(tuple(photos) if photos is not None else load_faces(config.faces_dir), config.morphs)
        subjects = _subjects(photos, config.subjects_per_person, config.seed)
        # Balanced labels, shuffled by the seed; subjects in turn (as synth does).
        labels = balanced_labels(config.labels, config.clips, np.random.default_rng([config.seed, 21]))
        rows = []
        draws = subject_clips(subjects, config.seed, 20, config.clips, "synth-scenes", progress)
        for i, rng, subject, photo in draws:
            clip = make_scene_clip(photo, labels[i], rng, config, _jitter(subject.variant, rng))
            name = f"clip_{i + 1:04d}"
            write_clip(tmp / subject.id, name, clip.frames, config.fps, config.format, config.jpeg_quality, config.crf)
            kinds = [e.kind for e in clip.events if e.kind != "micro"]
            m = clip.micro
            rows.append({
                "subject": subject.id, "person": subject.person, "clip": name,
                "onset": m.onset + 1, "apex": m.apex + 1, "offset": m.offset + 1, "label": m.label, "aus": m.aus,
                "fps": f"{config.fps:g}", "amplitude": f"{clip.amplitude:.4f}", "frames": len(clip.frames),
                "photo": photo.name, "blinks": kinds.count("blink"), "width": config.size[0],
                "height": config.size[1], "distractors": "+".join(sorted(set(kinds))),
                "speech": kinds.count("speech"), "head": kinds.count("head"),
            })  # fmt: skip
        note = (
            "Synthetic micro-expressions among synthesised talking, blinks and head motion, warped from "
            "public-domain photos; LOSO over variants of one person leaks identity (group by `person`)."
        )
        meta = dataset_meta("train.scenes.short", config, subjects, note)
        write_tables(tmp, "annotations.csv", COLUMNS, rows, "scenes_config.json", meta)
    return Path(out_dir).resolve() / "annotations.csv"


def build_parser() -> argparse.ArgumentParser:
    d = SceneConfig()
    p = argparse.ArgumentParser(
        prog="python -m train synth-scenes",
        description="Make short synthetic recognition clips (synth's layout) whose micro-expression sits among "
        "talking, blinks and head motion.",
    )
    add_output_arguments(p, d.clips, d.seed, "clips")
    p.add_argument("--labels", default=",".join(d.labels), help="comma-separated classes (default: all three)")
    p.add_argument("--seconds", type=float, nargs=2, metavar=("MIN", "MAX"), default=d.seconds,
                   help="clip length range in seconds (default 2 4)")  # fmt: skip
    p.add_argument("--fps", type=float, default=d.fps, help="frame rate (default 30)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=d.size, help="frame size (default 320 240)")
    p.add_argument("--speech", type=float, default=d.speech, help="probability of talking in a clip (default 0.6)")
    p.add_argument("--head", type=float, default=d.head, help="probability of a head movement (default 0.4)")
    p.add_argument("--subjects-per-person", type=int, default=d.subjects_per_person,
                   help="subjects per real person (1 = honest LOSO; more = procedural variants)")  # fmt: skip
    p.add_argument("--format", choices=("jpg", "mp4"), default=d.format, help="frame folders or H.264 files")
    p.add_argument("--no-nuisances", action="store_true", help="no drift, lighting change or noise")
    add_morph_argument(p)
    add_run_arguments(p, d.faces_dir)
    return p


def _config(args: argparse.Namespace) -> SceneConfig:
    return SceneConfig(
        clips=args.clips, seed=args.seed, labels=label_list(args.labels),
        seconds=tuple(args.seconds), fps=args.fps, size=tuple(args.size), speech=args.speech, head=args.head,
        subjects_per_person=args.subjects_per_person, format=args.format, nuisances=not args.no_nuisances,
        faces_dir=args.faces, morphs=args.morphs,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train synth-scenes ...``; returns the exit status."""
    return run_generator(
        build_parser(), argv, _config, generate_scenes,
        lambda config, took, path: f"{config.clips} scene clips in {took:.1f} s: {path}",
    )  # fmt: skip
