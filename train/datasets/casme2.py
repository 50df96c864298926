"""CASME II (200 fps, 247 clips, 26 subjects).

Layout: ``CASME2_RAW_selected/sub01/EP02_01f/img46.jpg`` (cropped: ``Cropped/sub01/EP02_01f/
reg_img46.jpg``) and ``CASME2-coding-20140508.xlsx`` (or ``-20190701``, ``-updated``) with columns
Subject, Filename, (blank), OnsetFrame, ApexFrame, OffsetFrame, (blank), Action Units, Estimated
Emotion. Subjects are written ``1`` in the sheet but ``sub01`` on disk; frame numbers are those in
the file names and do not start at 1; some apex cells are ``/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from microexp.errors import DatasetError

from ._base import (
    LABEL3_CASME2,
    ClipRecord,
    Collector,
    DatasetReport,
    annotation_file,
    cell_int,
    cell_str,
    get,
    header_table,
    iter_nonblank,
    norm_label,
    read_sheet,
    require_dir,
    subdirs,
)

FPS = 200.0
LABELS = frozenset({"happiness", "surprise", "disgust", "repression", "fear", "sadness", "others"})
RAW_DIRS = ("CASME2_RAW_selected", "CASME2_RAW", "CASME2-RAW", "CASME2_RAW_selected/CASME2_RAW_selected")
CROPPED_DIRS = ("Cropped", "cropped", "CASME2_Cropped", "Cropped/Cropped")
# Newest coding file first: later releases fix annotation errors of the 2014 one.
CODING_PATTERNS = (
    "CASME2-coding-updated*.xlsx",
    "CASME2-coding-20190701*.xlsx",
    "CASME2-coding-20140508*.xlsx",
    "CASME2*coding*.xlsx",
)


def _frames_root(root: Path, cropped: bool) -> Path:
    for name in CROPPED_DIRS if cropped else RAW_DIRS:
        if (root / name).is_dir():
            return root / name
    if any(re.fullmatch(r"sub\d+", d.name, re.IGNORECASE) for d in subdirs(root)):
        return root  # the user pointed straight at the folder holding sub01, sub02, ...
    wanted = " or ".join(CROPPED_DIRS[:2] if cropped else RAW_DIRS[:2])
    raise DatasetError(f"No CASME II frame folder ({wanted}, or sub01/...) in {root}")


def _subject_number(value: object) -> int | None:
    digits = re.findall(r"\d+", cell_str(value))
    return int(digits[-1]) if digits else None


def load_casme2(
    root: str | Path, annotation: str | Path | None = None, cropped: bool = False
) -> tuple[list[ClipRecord], DatasetReport]:
    """Load CASME II clips.

    Args:
        root: the CASME II folder (holding ``CASME2_RAW_selected`` / ``Cropped`` and usually the
            coding xlsx), or the frame folder itself.
        annotation: coding xlsx; found in ``root`` (or its parent) when omitted.
        cropped: use the aligned ``Cropped/.../reg_img*.jpg`` frames.

    Returns:
        Records in annotation order and the report. ``label3`` follows MEGC2019: negative =
        disgust + repression, fear/sadness/others excluded.
    """
    root = require_dir(root, "CASME II")
    frames_root = _frames_root(root, cropped)
    missing = (
        f"CASME II coding file not found (looked for {', '.join(CODING_PATTERNS[:3])} in {root}); "
        "pass annotation=PATH."
    )
    path = annotation_file(annotation, (root, frames_root, root.parent), CODING_PATTERNS, missing)
    col = Collector("casme2", frames_root, path)
    columns, rows = header_table(read_sheet(path), ("subject", "filename", "onsetframe", "offsetframe"), path)

    disk = {n: d for d in subdirs(frames_root) if (n := _subject_number(d.name)) is not None}
    for _, row in iter_nonblank(rows):
        number, clip = _subject_number(get(row, columns, "subject")), cell_str(get(row, columns, "filename"))
        if number is None or not clip:
            col.add("bad_row", cell_str(get(row, columns, "subject")), clip, f"row {row!r}", True)
            continue
        folder = disk.get(number)
        subject_dir = folder.name if folder else f"sub{number:02d}"
        col.add_frame_clip(
            f"casme2/{subject_dir}",
            clip,
            frames_root / subject_dir / clip,
            tuple(cell_int(get(row, columns, k)) for k in ("onsetframe", "apexframe", "offsetframe")),
            fps=FPS,
            label=norm_label(get(row, columns, "estimatedemotion")),
            label3=LABEL3_CASME2,
            known=LABELS,
            aus=cell_str(get(row, columns, "actionunits")),
        )
    col.report_unannotated(clip_dir for folder in disk.values() for clip_dir in subdirs(folder))
    return col.records, col.report()
