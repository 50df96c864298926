"""Write a probe dataset in the layout ``train.datasets.synthetic`` reads, and its command line.

Layout: ``DIR/sub01/probe_0001.mp4`` (or a JPEG frame folder ``DIR/sub01/probe_0001/img1.jpg``),
``DIR/annotations.csv`` (1-based frame numbers, CASME II convention) and ``DIR/probe_config.json``
which marks the set, and every clip in it, as probe-generated. One subject per person (the same
photo identities as ``train.synth``, so the two generators can be crossed person by person).
The whole folder is built beside ``DIR`` and renamed into place; same seed, same bytes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from train.generated import dataset_folder, write_clip, write_tables
from train.generator_cli import add_output_arguments, add_run_arguments, run_generator, span

from .aus import LABELS, RECIPES
from .render import ProbeSettings, make_probe_clip

GENERATOR = "train.probe"
COLUMNS = (
    "subject", "person", "clip", "onset", "apex", "offset", "label", "aus", "fps", "amplitude",
    "frames", "photo", "generator", "width", "height",
)  # fmt: skip


@dataclass(frozen=True)
class ProbeConfig:
    """A whole probe dataset.

    Attributes:
        clips: number of clips; persons take turns and each person cycles through the classes.
        seed: everything is drawn from it.
        settings: how each clip is drawn.
        format: ``mp4`` (H.264, a random crf per clip) or ``jpg`` (frame folders, a random quality per clip).
        crf, jpeg_quality: the per-clip compression ranges.
        faces_dir: neutral face photos ("" = the project's public-domain set).
    """

    clips: int = 60
    seed: int = 0
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    format: str = "mp4"
    crf: tuple[int, int] = (18, 30)
    jpeg_quality: tuple[int, int] = (60, 92)
    faces_dir: str = ""

    def __post_init__(self) -> None:
        if self.clips < 1:
            raise ValueError("ProbeConfig.clips must be >= 1")
        if self.format not in ("mp4", "jpg"):
            raise ValueError(f"ProbeConfig.format must be mp4 or jpg, got {self.format!r}")


def generate_probe(
    config: ProbeConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    photos: Sequence[Any] | None = None,
    progress: bool = True,
) -> Path:
    """Write the probe dataset to ``out_dir``; return the path of its ``annotations.csv``.

    Args:
        photos: already loaded ``train.synth.FacePhoto`` records (default: ``load_faces(config.faces_dir)``).

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty, and ``overwrite`` is False.
    """
    from tqdm.auto import tqdm

    from train.synth import load_faces

    with dataset_folder(out_dir, overwrite) as tmp:
        if photos is None:
            photos = load_faces(config.faces_dir) if config.faces_dir else load_faces()
        persons = sorted({p.person for p in photos})
        by_person = {person: [p for p in photos if p.person == person] for person in persons}
        subject_of = {person: f"sub{i + 1:02d}" for i, person in enumerate(persons)}
        start_label = np.random.default_rng([config.seed, 7]).integers(len(LABELS), size=len(persons))
        rows, clips_meta = [], {}
        for i in tqdm(range(config.clips), desc="probe", unit="clip", disable=not progress):
            rng = np.random.default_rng([config.seed, 11, i])
            k = i % len(persons)
            person = persons[k]
            label = LABELS[(i // len(persons) + int(start_label[k])) % len(LABELS)]
            photo = by_person[person][int(rng.integers(len(by_person[person])))]
            clip = make_probe_clip(photo.rgb, photo.landmarks, label, rng, config.settings)
            name, subject = f"probe_{i + 1:04d}", subject_of[person]
            # One compression level per clip: an x264 crf for mp4, a JPEG quality for frame folders.
            lo, hi = config.crf if config.format == "mp4" else config.jpeg_quality
            level = int(rng.integers(lo, hi + 1))
            write_clip(tmp / subject, name, clip.frames, clip.fps, config.format, level, level)
            h, w = clip.frames.shape[1:3]
            rows.append({
                "subject": subject, "person": person, "clip": name,
                "onset": clip.onset + 1, "apex": clip.apex + 1, "offset": clip.offset + 1,
                "label": clip.label, "aus": clip.recipe, "fps": f"{clip.fps:g}", "amplitude": f"{clip.amplitude:.4f}",
                "frames": len(clip.frames), "photo": photo.name, "generator": GENERATOR, "width": w, "height": h,
            })  # fmt: skip
            compression = {"crf" if config.format == "mp4" else "jpeg_quality": level}
            clips_meta[f"{subject}/{name}"] = {"generator": GENERATOR, "probe": True, **compression}
        meta = {
            "generator": GENERATOR,
            "probe": True,
            "synthetic": True,
            "config": asdict(config),
            "recipes": {label: [r for r, _ in options] for label, options in RECIPES.items()},
            "subjects": {subject_of[p]: {"person": p} for p in persons},
            "clips": clips_meta,
            "note": "Probe clips: an independent generator (piecewise-affine mesh warp, its own AU recipes, "
            "timing and nuisances) for cross-generator tests of models trained on train.synth. Synthetic data.",
        }
        write_tables(tmp, "annotations.csv", COLUMNS, rows, "probe_config.json", meta)
    return Path(out_dir).resolve() / "annotations.csv"


def build_parser() -> argparse.ArgumentParser:
    d, s = ProbeConfig(), ProbeSettings()
    p = argparse.ArgumentParser(
        prog="python -m train probe",
        description="Make a probe dataset with an independent generator (piecewise-affine mesh warp, own AU "
        "recipes, timing and nuisances) in the synthetic layout; load it with --data synthetic=DIR.",
    )
    add_output_arguments(p, d.clips, d.seed, "bytes")
    p.add_argument("--fps", type=span(int), default=s.fps, help="frame rate range MIN:MAX (default 25:60)")
    p.add_argument("--amplitude", type=span(float), default=s.amplitude, help="apex displacement / IOD (0.02:0.10)")
    p.add_argument("--seconds", type=span(float), default=s.seconds, help="clip length in s (default 1.4:2.2)")
    p.add_argument("--no-nuisances", action="store_true", help="no head motion, lighting gradient or noise")
    p.add_argument("--format", choices=("mp4", "jpg"), default=d.format)
    add_run_arguments(p, "", "folder of neutral face photos (default: the project's set)")
    return p


def _config(args: argparse.Namespace) -> ProbeConfig:
    settings = ProbeSettings(
        fps=args.fps, amplitude=args.amplitude, seconds=args.seconds, nuisances=not args.no_nuisances
    )
    return ProbeConfig(clips=args.clips, seed=args.seed, settings=settings, format=args.format, faces_dir=args.faces)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train probe ...``; returns the exit status."""
    return run_generator(
        build_parser(), argv, _config, generate_probe,
        lambda config, took, path: f"{config.clips} probe clips in {took:.1f} s: {path}",
    )  # fmt: skip
