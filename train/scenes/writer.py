"""Writing generated clips and tables into a dataset folder that appears whole or not at all."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from microexp.atomic import replace_dir, temporary_dir


def write_clip(subject_dir: Path, name: str, frames: np.ndarray, fps: float, fmt: str, quality: int, crf: int) -> None:
    """``subject_dir/name.mp4`` (H.264) or ``subject_dir/name/img1.jpg ...`` (1-based, as CASME II)."""
    if fmt == "mp4":
        from microexp.video import write_video

        write_video(subject_dir / f"{name}.mp4", frames, fps, crf=crf)
        return
    folder = subject_dir / name
    folder.mkdir(parents=True)
    for i, rgb in enumerate(frames, start=1):
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise OSError(f"could not encode frame {i} of {folder}")
        (folder / f"img{i}.jpg").write_bytes(buf.tobytes())


def csv_text(columns: Sequence[str], rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def build_dataset(out_dir: str | Path, overwrite: bool, fill: Callable[[Path], None]) -> Path:
    """Run ``fill(tmp)`` on a fresh temporary folder beside ``out_dir``, then move it onto ``out_dir``.

    An exception (or Ctrl-C) inside ``fill`` removes the temporary and leaves ``out_dir`` untouched.

    Raises:
        FileExistsError: ``out_dir`` exists, is not empty, and ``overwrite`` is False.
    """
    import shutil

    out = Path(out_dir).resolve()
    if out.exists() and not (out.is_dir() and not any(out.iterdir())) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
    tmp = temporary_dir(out)
    try:
        fill(tmp)
        _usual_permissions(tmp)
        replace_dir(tmp, out, overwrite=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _usual_permissions(root: Path) -> None:
    """Temporary folders and files are private (0700/0600); a finished dataset gets the umask's modes."""
    mask = os.umask(0)
    os.umask(mask)
    for path in (root, *root.rglob("*")):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)
