"""What the dataset generators (``train.synth``, ``train.scenes``, ``train.probe``) write, written one way.

All three make a CASME II-like tree (``DIR/sub01/clip_0001/img1.jpg ...`` or ``DIR/sub01/clip_0001.mp4``)
plus a csv table and a JSON description, built in a temporary sibling folder and moved into place
whole (:mod:`microexp.atomic`), so an interrupted run never leaves a table pointing to missing clips.
Sharing the writer keeps the three layouts, overwrite rules and file modes the same.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from microexp.atomic import replace_dir, temporary_dir, write_json, write_text


def write_frames(folder: Path, frames: np.ndarray, quality: int) -> None:
    """``folder/img1.jpg ...`` (1-based, as CASME II counts) from (N, H, W, 3) uint8 RGB frames."""
    folder.mkdir(parents=True)
    for i, rgb in enumerate(frames, start=1):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError(f"could not encode frame {i} of {folder}")
        (folder / f"img{i}.jpg").write_bytes(buf.tobytes())


def write_mp4(path: Path, frames: np.ndarray, fps: float, crf: int) -> None:
    """One H.264 file at constant rate factor ``crf``, the same bytes for the same frames (generated sets
    promise that; ``microexp.video.deterministic_x264``)."""
    from microexp.video import write_video

    write_video(path, frames, fps, crf=crf, deterministic=True)


def write_clip(subject_dir: Path, name: str, frames: np.ndarray, fps: float, fmt: str, quality: int, crf: int) -> None:
    """``subject_dir/name.mp4`` (``fmt`` mp4, x264 ``crf``) or ``subject_dir/name/img1.jpg ...`` (JPEG ``quality``)."""
    if fmt == "mp4":
        write_mp4(subject_dir / f"{name}.mp4", frames, fps, crf)
    else:
        write_frames(subject_dir / name, frames, quality)


def csv_text(columns: Sequence[str], rows: Sequence[dict]) -> str:
    """The csv table of ``rows`` under a ``columns`` header, ``\\n`` line ends (same rows, same bytes)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_tables(
    tmp: Path, table: str, columns: Sequence[str], rows: Sequence[dict], description: str, meta: dict
) -> None:
    """``tmp/table`` (csv of ``rows``) and ``tmp/description`` (``meta`` as sorted, indented JSON)."""
    write_json(tmp / description, meta)
    write_text(tmp / table, csv_text(columns, rows))


def balanced_labels(labels: Sequence[str], clips: int, rng: np.random.Generator) -> list[str]:
    """``clips`` labels, each class equally often (to one), in an order shuffled by ``rng``."""
    cycle = [labels[i % len(labels)] for i in range(clips)]
    return [cycle[i] for i in rng.permutation(clips)]


def dataset_meta(generator: str, config: Any, subjects: Sequence[Any], note: str) -> dict:
    """The JSON description: the config (faces folder by name only), each subject's person and variant."""
    return {
        "synthetic": True,
        "generator": generator,
        "config": asdict(config) | {"faces_dir": Path(config.faces_dir).name},
        "subjects": {s.id: {"person": s.person, "variant": asdict(s.variant)} for s in subjects},
        "note": note,
    }


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not any(path.iterdir())


@contextmanager
def dataset_folder(out_dir: str | os.PathLike[str], overwrite: bool) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``out_dir``; when the block ends it becomes ``out_dir``.

    ``out_dir`` is checked on entry, before any work. An empty folder in the way is not the user's
    data, so replacing it needs no ``overwrite``. An exception (or Ctrl-C) in the block removes the
    temporary and leaves ``out_dir`` untouched.

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty, and ``overwrite`` is False.
    """
    out = Path(out_dir).resolve()
    if out.exists() and not _is_empty_dir(out) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    tmp = temporary_dir(out)
    try:
        yield tmp
        _usual_permissions(tmp)
        replace_dir(tmp, out, overwrite=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _usual_permissions(root: Path) -> None:
    """Temporary folders and files are private (0700/0600); a finished dataset gets the umask's modes."""
    mask = os.umask(0)
    os.umask(mask)
    for path in (root, *root.rglob("*")):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)
