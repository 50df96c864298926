"""The dataset writer: many clips over the subjects, in a CASME II-like tree with ``annotations.csv``.

Output: ``DIR/sub01/clip_0001/img1.jpg ...`` or ``DIR/sub01/clip_0001.mp4``, plus
``DIR/annotations.csv`` (:data:`COLUMNS`; frame numbers 1-based as CASME II counts) and
``DIR/synth_config.json``. The tree is built in a temporary sibling folder and moved into place whole
(:mod:`microexp.atomic`), so an interrupted run never leaves an ``annotations.csv`` pointing to
missing clips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train.generated import balanced_labels, dataset_folder, dataset_meta, write_clip, write_tables

from .clip import make_clip
from .config import COLUMNS, STYLE_COLUMNS, SynthConfig
from .morph import with_morphs
from .photos import FacePhoto, Variant, frame_face, jitter, load_faces, random_variant
from .variety import Variety, draw_fps


@dataclass(frozen=True)
class Subject:
    """One subject of the dataset: a person's photos seen through one framing/colour variant."""

    id: str
    person: str
    photos: tuple[FacePhoto, ...]
    variant: Variant


def make_subjects(photos: Sequence[FacePhoto], per_person: int, seed: int) -> list[Subject]:
    """``per_person`` subjects for each person (the first one as photographed, the others variants)."""
    persons: dict[str, list[FacePhoto]] = {}
    for p in photos:
        persons.setdefault(p.person, []).append(p)
    subjects = []
    for pi, (person, own) in enumerate(persons.items()):
        for k in range(per_person):
            variant = Variant() if k == 0 else random_variant(np.random.default_rng([seed, 2, pi, k]))
            subjects.append(Subject(f"sub{len(subjects) + 1:02d}", person, tuple(own), variant))
    return subjects


def subject_clips(
    subjects: Sequence[Subject], seed: int, stream: int, clips: int, desc: str, progress: bool
) -> Iterator[tuple[int, np.random.Generator, Subject, FacePhoto]]:
    """Clip ``i`` of ``clips``: its own generator seeded by ``(seed, stream, i)``, the subjects in turn,
    and one of the subject's photos (the generator's first draw). A tqdm bar named ``desc`` when ``progress``.
    """
    from tqdm.auto import tqdm

    for i in tqdm(range(clips), desc=desc, unit="clip", disable=not progress):
        rng = np.random.default_rng([seed, stream, i])
        subject = subjects[i % len(subjects)]
        yield i, rng, subject, subject.photos[int(rng.integers(len(subject.photos)))]


def generate(
    config: SynthConfig,
    out_dir: str | os.PathLike[str],
    progress: bool = True,
    *,
    overwrite: bool = False,
    photos: Sequence[FacePhoto] | None = None,
) -> Path:
    """Write a synthetic dataset to ``out_dir``; return the path of its ``annotations.csv``.

    Args:
        config: what to make.
        out_dir: destination folder (must not exist or be empty, unless ``overwrite``).
        progress: show a tqdm progress bar.
        overwrite: replace an existing non-empty ``out_dir``.
        photos: already loaded photos (default: :func:`load_faces` of ``config.faces_dir``).

    Raises:
        FileExistsError: ``out_dir`` holds files and ``overwrite`` is False (checked before any work).
    """
    with dataset_folder(out_dir, overwrite) as tmp:
        photos = with_morphs(tuple(photos) if photos is not None else load_faces(config.faces_dir), config.morphs)
        subjects = make_subjects(photos, config.subjects_per_person, config.seed)
        # Balanced labels, shuffled by the seed; subjects in turn, so every subject gets every class.
        labels = balanced_labels(config.labels, config.clips, np.random.default_rng([config.seed, 1]))
        varied = config.variety != Variety()
        rows = []
        for i, rng, subject, photo in subject_clips(subjects, config.seed, 0, config.clips, "synth", progress):
            rgb, lm = frame_face(photo, config.size, jitter(subject.variant, rng))
            # Per-clip frame rate and compression: drawn only when the variety sets them.
            v = config.variety
            fps = config.fps if v.fps is None else draw_fps(rng, v.fps)
            quality = config.jpeg_quality if config.format == "jpg" else config.crf
            span = v.jpeg_quality if config.format == "jpg" else v.crf
            if span is not None:
                quality = int(rng.integers(span[0], span[1] + 1))
            clip = make_clip(
                rgb, lm, labels[i], rng, fps=fps, seconds=config.seconds, me_seconds=config.me_seconds,
                amplitude=config.amplitude, nuisances=config.nuisances, variety=v,
            )  # fmt: skip
            name = f"clip_{i + 1:04d}"
            write_clip(tmp / subject.id, name, clip.frames, fps, config.format, quality, quality)
            row = {
                "subject": subject.id, "person": subject.person, "clip": name,
                "onset": clip.onset + 1, "apex": clip.apex + 1, "offset": clip.offset + 1,
                "label": clip.label, "aus": clip.aus, "fps": f"{fps:g}", "amplitude": f"{clip.amplitude:.4f}",
                "frames": len(clip.frames), "photo": photo.name, "blinks": len(clip.blinks),
                "width": config.size[0], "height": config.size[1],
            }  # fmt: skip
            if varied:
                s = clip.style
                row |= {
                    "quality": quality, "warp_step": s.warp_step, "warp_kernel": s.warp_kernel,
                    "blur": f"{s.blur:.2f}", "asymmetry": f"{s.asymmetry:.3f}", "tilt": f"{s.tilt:.2f}",
                    "occluder": s.occluder,
                }  # fmt: skip
            rows.append(row)
        note = (
            "Synthetic micro-expressions warped from public-domain photos; LOSO over variants of one "
            "person leaks identity (group by the `person` column)."
        )
        columns = COLUMNS + STYLE_COLUMNS if varied else COLUMNS
        meta = dataset_meta("train.synth", config, subjects, note)
        write_tables(tmp, "annotations.csv", columns, rows, "synth_config.json", meta)
    return Path(out_dir).resolve() / "annotations.csv"
