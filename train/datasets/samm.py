"""SAMM (200 fps, 159 micro-expressions, 32 subjects, grey frames).

Layout: ``SAMM/006/006_1_2/006_05562.jpg`` and ``SAMM_Micro_FACS_Codes_v2.xlsx``: 13 preamble rows,
then Subject, Filename, Inducement Code, Onset Frame, Apex Frame, Offset Frame, Duration, Micro,
Action Units, Estimated Emotion, Objective Classes, Notes. Frame numbers are the 5-digit numbers in
the file names. The header row is searched for, not assumed to be row 14.
"""

from __future__ import annotations

import re
from pathlib import Path

from microexp.errors import DatasetError

from ._base import (
    LABEL3_GENERAL,
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
LABELS = frozenset({"anger", "contempt", "disgust", "fear", "sadness", "happiness", "surprise", "others"})
CODING_PATTERNS = ("SAMM_Micro_FACS_Codes_v2*.xlsx", "SAMM_Micro_FACS_Codes*.xlsx", "*SAMM*FACS*.xlsx")


def _frames_root(root: Path) -> Path:
    if any(d.name.isdigit() for d in subdirs(root)):
        return root
    for name in ("SAMM", "samm", "SAMM/SAMM"):
        if any(d.name.isdigit() for d in subdirs(root / name)):
            return root / name
    raise DatasetError(f"No SAMM subject folders (006, 007, ...) in {root} or {root / 'SAMM'}")


def _positive(value: object) -> int | None:
    number = cell_int(value)
    return number if number is not None and number >= 0 else None  # SAMM writes -1 for unknown


def load_samm(root: str | Path, annotation: str | Path | None = None) -> tuple[list[ClipRecord], DatasetReport]:
    """Load SAMM micro-expression clips.

    Args:
        root: the folder holding the subject folders ``006``, ``007``, ... (or their parent
            holding ``SAMM/``).
        annotation: the FACS codes xlsx; found in/around ``root`` when omitted.

    Returns:
        Records in annotation order and the report; ``label3`` maps anger, contempt, disgust,
        fear, sadness to negative, happiness to positive, surprise to surprise, others to None.
    """
    root = require_dir(root, "SAMM")
    frames_root = _frames_root(root)
    where = (root, frames_root, root.parent, frames_root.parent)
    missing = f"SAMM_Micro_FACS_Codes_v2.xlsx not found around {root}; pass annotation=PATH."
    path = annotation_file(annotation, where, CODING_PATTERNS, missing)
    col = Collector("samm", frames_root, path)
    columns, rows = header_table(read_sheet(path), ("subject", "filename", "onsetframe", "offsetframe"), path)

    disk = {int(d.name): d for d in subdirs(frames_root) if d.name.isdigit()}
    for _, row in iter_nonblank(rows):
        raw_subject, clip = cell_str(get(row, columns, "subject")), cell_str(get(row, columns, "filename"))
        digits = re.findall(r"\d+", raw_subject) or re.findall(r"^\d+", clip)
        if not digits or not clip:
            col.add("bad_row", raw_subject, clip, f"row {row!r}", True)
            continue
        number = int(digits[0])
        folder = disk.get(number)
        subject_dir = folder.name if folder else f"{number:03d}"
        col.add_frame_clip(
            f"samm/{subject_dir}",
            clip,
            frames_root / subject_dir / clip,
            tuple(_positive(get(row, columns, k)) for k in ("onsetframe", "apexframe", "offsetframe")),
            fps=FPS,
            label=norm_label(get(row, columns, "estimatedemotion")),
            label3=LABEL3_GENERAL,
            known=LABELS,
            aus=cell_str(get(row, columns, "actionunits")),
        )
    col.report_unannotated(clip_dir for folder in disk.values() for clip_dir in subdirs(folder))
    return col.records, col.report()
