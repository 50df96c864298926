"""Synthetic clips written by the project's generator (CASME II-like layout).

Layout: ``root/sub01/clip_0001/img1.jpg ...`` or ``root/sub01/clip_0001.mp4``, plus
``root/annotations.csv`` with columns subject, clip, onset, apex, offset, label, aus, fps (and
optionally person, the photographed person a subject shows).
Frame numbers in the csv are 1-based positions in the clip (frame 1 = first frame), whatever
the frame files are called; a clip may be a frame folder or a video file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from microexp.errors import DatasetError

from ._base import (
    LABEL3_GENERAL,
    VIDEO_SUFFIXES,
    ClipRecord,
    Collector,
    DatasetReport,
    cell_int,
    cell_str,
    find_video,
    list_frames,
    norm_label,
    read_csv_table,
    require_dir,
    subdirs,
)

REQUIRED = ("subject", "clip", "onset", "offset", "label", "fps")
KNOWN_LABELS = frozenset({*LABEL3_GENERAL, "others"})


def _clips_on_disk(root: Path) -> Iterator[Path]:
    """``root/<subject>/<clip>`` for every clip folder and video file (``<clip>.mp4`` gives ``<clip>``)."""
    for subject_dir in subdirs(root):
        names = {p.name for p in subdirs(subject_dir)}
        names |= {p.stem for p in subject_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES}
        yield from (subject_dir / name for name in sorted(names))


def load_synthetic(root: str | Path) -> tuple[list[ClipRecord], DatasetReport]:
    """Load a synthetic dataset from ``root/annotations.csv`` and its clip folders/videos."""
    root = require_dir(root, "Synthetic dataset")
    path = root / "annotations.csv"
    if not path.is_file():
        raise DatasetError(f"{path} not found: a synthetic dataset folder needs annotations.csv")
    fields, rows = read_csv_table(path)
    missing = [c for c in REQUIRED if c not in fields]
    if missing:
        raise DatasetError(f"{path} lacks columns {missing} (needs {', '.join(REQUIRED)})")

    col = Collector("synthetic", root, path)
    for n, row in enumerate(rows, start=2):  # line numbers as a spreadsheet shows them
        subject_dir, clip = cell_str(row.get("subject")), cell_str(row.get("clip"))
        subject = f"synthetic/{subject_dir}"
        fps = cell_float(row.get("fps"))
        onset_n, apex_n, offset_n = (cell_int(row.get(k)) for k in ("onset", "apex", "offset"))
        if not subject_dir or not clip or fps is None or fps <= 0:
            col.add("bad_row", subject, clip, f"line {n}: subject, clip and a positive fps are required", True)
            continue
        if not col.first_row(subject, clip, f"line {n} ignored"):
            continue
        frames = list_frames(root / subject_dir / clip)
        video = None if frames else find_video(root / subject_dir, clip)
        if not frames and video is None:
            col.add("missing_on_disk", subject, clip, f"no frames or video for {root / subject_dir / clip}", True)
            continue
        if onset_n is None or offset_n is None or not 1 <= onset_n <= offset_n:
            col.add("bad_row", subject, clip, f"line {n}: onset/offset ({onset_n}, {offset_n})", True)
            continue
        if frames and offset_n > len(frames):
            col.add("out_of_range", subject, clip, f"offset {offset_n} > {len(frames)} frames", True)
            continue
        onset, offset = onset_n - 1, offset_n - 1
        if apex_n is None or not onset_n <= apex_n <= offset_n:
            apex = (onset + offset) // 2
            col.add("apex_filled", subject, clip, f"apex {apex_n!r} missing or outside: midpoint (index {apex})", False)
        else:
            apex = apex_n - 1
        col.add_record(
            subject,
            clip,
            (onset, apex, offset),
            frames=frames,
            video=video,
            fps=fps,
            label=norm_label(row.get("label")),
            label3=LABEL3_GENERAL,
            known=KNOWN_LABELS,
            aus=cell_str(row.get("aus")),
            person=cell_str(row.get("person")),  # optional column: groups the variants of one person
        )
    col.report_unannotated(_clips_on_disk(root))
    return col.records, col.report()


def cell_float(value: object) -> float | None:
    try:
        return float(cell_str(value))
    except ValueError:
        return None
