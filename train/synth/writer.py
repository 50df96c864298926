"""The dataset writer: many clips over the subjects, in a CASME II-like tree with ``annotations.csv``.

Output: ``DIR/sub01/clip_0001/img1.jpg ...`` or ``DIR/sub01/clip_0001.mp4``, plus
``DIR/annotations.csv`` (:data:`COLUMNS`; frame numbers 1-based as CASME II counts) and
``DIR/synth_config.json``. The tree is built in a temporary sibling folder and moved into place whole
(:mod:`microexp.atomic`), so an interrupted run never leaves an ``annotations.csv`` pointing to
missing clips.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from microexp.atomic import replace_dir, temporary_dir, write_json, write_text

from .clip import make_clip
from .config import COLUMNS, STYLE_COLUMNS, SynthConfig
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


def _write_frames(folder: Path, frames: np.ndarray, quality: int) -> None:
    folder.mkdir(parents=True)
    for i, rgb in enumerate(frames, start=1):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError(f"could not encode frame {i} of {folder}")
        (folder / f"img{i}.jpg").write_bytes(buf.tobytes())


def _write_mp4(path: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    from microexp.video import write_video

    write_video(path, frames, fps, crf=crf)


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


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
    from tqdm.auto import tqdm

    out = Path(out_dir).resolve()
    if out.exists() and not _is_empty_dir(out) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    photos = tuple(photos) if photos is not None else load_faces(config.faces_dir)
    subjects = make_subjects(photos, config.subjects_per_person, config.seed)
    # Balanced labels, shuffled by the seed; subjects in turn, so every subject gets every class.
    labels = [config.labels[i % len(config.labels)] for i in range(config.clips)]
    labels = [labels[i] for i in np.random.default_rng([config.seed, 1]).permutation(config.clips)]
    varied = config.variety != Variety()
    tmp = temporary_dir(out)
    rows = []
    try:
        for i in tqdm(range(config.clips), desc="synth", unit="clip", disable=not progress):
            rng = np.random.default_rng([config.seed, 0, i])
            subject = subjects[i % len(subjects)]
            photo = subject.photos[int(rng.integers(len(subject.photos)))]
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
            if config.format == "jpg":
                _write_frames(tmp / subject.id / name, clip.frames, quality)
            else:
                _write_mp4(tmp / subject.id / f"{name}.mp4", clip.frames, fps, quality)
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
        meta = {
            "synthetic": True,
            "generator": "train.synth",
            "config": asdict(config) | {"faces_dir": Path(config.faces_dir).name},
            "subjects": {s.id: {"person": s.person, "variant": asdict(s.variant)} for s in subjects},
            "note": "Synthetic micro-expressions warped from public-domain photos; LOSO over variants of one "
            "person leaks identity (group by the `person` column).",
        }
        write_json(tmp / "synth_config.json", meta)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS + STYLE_COLUMNS if varied else COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text(tmp / "annotations.csv", buf.getvalue())
        # An empty folder in the way is not the user's data: replacing it needs no --overwrite.
        replace_dir(tmp, out, overwrite=overwrite or _is_empty_dir(out))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "annotations.csv"
