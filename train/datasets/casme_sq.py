"""CAS(ME)^2 (30 fps, 57 micro- + 300 macro-expressions, 22 subjects, long videos).

Layout: ``rawpic/s15/15_0101disgustingteeth/img1.jpg`` (also ``rawvideo/s15/15_0101....avi``,
``cropped/``) and ``CAS(ME)^2code_final.xlsx``:

- sheet ``CASMEcode_final`` (``CASFEcode_final`` in some copies), **no header**: participant,
  name (``anger1_1``: video ``anger1``, expression 1), onset, apex, offset (0 = unknown), AUs,
  emotion (negative/positive/surprise/others), type (macro-/micro-expression), self-report;
- sheet ``naming rule1``: folder (``s15``), folder prefix (``15``), participant number (``1``);
- sheet ``naming rule2``: video code (``0101``) and a name for it. Public code that reads the
  release takes that name to be the coding sheet's video name (``disgust1``); the project's notes
  read it as the folder suffix (``disgustingteeth``). Both are accepted: every text cell of a row
  names its code, and a video name the sheet lacks is looked up among the release's nine videos
  (``RELEASE_VIDEOS``).

So row (1, ``disgust1_1``) lives in ``rawpic/s15/15_0101*/``: the folder glob on participant prefix
and video code is the anchor, whatever follows the code. A record's frames are the whole video;
onset/apex/offset index into it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from microexp.errors import DatasetError

from ._base import (
    VIDEO_SUFFIXES,
    ClipRecord,
    Collector,
    DatasetReport,
    FrameIndex,
    annotation_file,
    cell_int,
    cell_str,
    iter_nonblank,
    list_frames,
    norm_header,
    norm_label,
    read_sheet,
    require_dir,
    resolve_phases,
    sheet_names,
    subdirs,
)

FPS = 30.0
LABELS = ("negative", "positive", "surprise")
LABEL3 = {name: name for name in LABELS}  # the sheet's emotions already are the three classes
KNOWN_LABELS = (*LABELS, "others")
# The release's stimulus videos: coding-sheet video name -> code in the folder name
# (``15_0101disgustingteeth``, ``15_0503unnyfarting``, ...), as public code reading it maps them.
RELEASE_VIDEOS = {
    "disgust1": "0101",
    "disgust2": "0102",
    "anger1": "0401",
    "anger2": "0402",
    "happy1": "0502",
    "happy2": "0503",
    "happy3": "0505",
    "happy4": "0507",
    "happy5": "0508",
}
CODING_PATTERNS = ("CAS(ME)^2code_final*.xlsx", "CAS(ME)*code_final*.xlsx", "*code_final*.xlsx")


def _pick_sheet(names: list[str], wanted: tuple[str, ...], path: Path) -> str:
    for want in wanted:
        for name in names:
            if norm_header(name) == want:
                return name
    raise DatasetError(f"Sheet {wanted[0]!r} not found in {path} (sheets: {names})")


def _cell(row: tuple[Any, ...], i: int) -> Any:
    return row[i] if i < len(row) else None


def _subjects(rows: list[tuple[Any, ...]]) -> dict[int, tuple[str, str]]:
    """``naming rule1``: participant number -> (subject folder ``s15``, folder prefix ``15``)."""
    out: dict[int, tuple[str, str]] = {}
    for _, row in iter_nonblank(rows):
        folder, participant = cell_str(_cell(row, 0)), cell_int(_cell(row, 2))
        prefix = cell_str(_cell(row, 1)) or "".join(re.findall(r"\d+", folder))
        if participant is None or not prefix:
            continue  # a header or note row
        out[participant] = (folder or f"s{prefix}", prefix)
    return out


def _videos(rows: list[tuple[Any, ...]]) -> dict[str, str]:
    """``naming rule2``: each name in a row (``disgust1`` and/or ``disgustingteeth``) -> its
    4-digit code (``0101``, the row's first cell)."""
    out: dict[str, str] = {}
    for _, row in iter_nonblank(rows):
        code = cell_int(_cell(row, 0))
        if code is None:
            continue  # a header or note row
        for cell in row[1:]:
            name = cell_str(cell).lower()
            if name and cell_int(cell) is None:
                out[name] = f"{code:04d}"
    return out


def _frames_dir(root: Path, cropped: bool) -> Path:
    for name in ("cropped", "Cropped") if cropped else ("rawpic", "RawPic", "rawpic/rawpic"):
        if (root / name).is_dir():
            return root / name
    if not cropped and (root / "rawvideo").is_dir():
        return root / "rawpic"  # frames absent: the videos are used
    raise DatasetError(f"No CAS(ME)^2 {'cropped' if cropped else 'rawpic'}/ folder in {root}")


def load_casme_sq(
    root: str | Path,
    micro_only: bool = True,
    annotation: str | Path | None = None,
    cropped: bool = False,
) -> tuple[list[ClipRecord], DatasetReport]:
    """Load CAS(ME)^2 expressions.

    Args:
        root: the CAS(ME)^2 folder holding ``rawpic/`` (or ``rawvideo/``, ``cropped/``).
        micro_only: keep only rows typed micro-expression (57 in the release).
        annotation: ``CAS(ME)^2code_final.xlsx``; found in/around ``root`` when omitted.
        cropped: read frames from ``cropped/`` instead of ``rawpic/``.

    Returns:
        Records and the report. Clips whose frame folder is missing fall back to
        ``rawvideo/sXX/<same name>.avi`` (then indices are frame number - 1).
    """
    root = require_dir(root, "CAS(ME)^2")
    frames_root = _frames_dir(root, cropped)
    missing = f"CAS(ME)^2code_final.xlsx not found around {root}; pass annotation=PATH."
    path = annotation_file(annotation, (root, root.parent), CODING_PATTERNS, missing)
    names = sheet_names(path)
    coding = read_sheet(path, _pick_sheet(names, ("casmecodefinal", "casfecodefinal"), path))
    subjects = _subjects(read_sheet(path, _pick_sheet(names, ("namingrule1",), path)))
    videos = _videos(read_sheet(path, _pick_sheet(names, ("namingrule2",), path)))
    col = Collector("casme_sq", frames_root, path)

    used_dirs: set[Path] = set()
    n_macro = 0
    frame_cache: dict[Path, tuple[Path, ...]] = {}  # one video folder serves several expressions
    for n, row in iter_nonblank(coding):
        participant, name = cell_int(_cell(row, 0)), cell_str(_cell(row, 1))
        if participant is None:
            if n > 0:  # a stray header in the first row is not a problem
                col.add("bad_row", cell_str(_cell(row, 0)), name, f"row {n + 1}: participant not a number", True)
            continue
        folder, prefix = subjects.get(participant, (f"s{participant}", ""))
        subject = f"casme_sq/{folder}"
        video_name = re.sub(r"_\d+$", "", name).lower()  # disgust1_2 -> disgust1
        code = videos.get(video_name) or RELEASE_VIDEOS.get(video_name)
        if not prefix or code is None:
            why = (
                "participant not in 'naming rule1'"
                if not prefix
                else f"video name {video_name!r} neither in 'naming rule2' nor a release video"
            )
            col.add("bad_row", subject, name, f"row {n + 1}: {why}", True)
            continue
        matches = sorted((frames_root / folder).glob(f"{prefix}_{code}*"))
        video_dirs = [m for m in matches if m.is_dir()]
        used_dirs.update(video_dirs)
        if "micro" not in cell_str(_cell(row, 7)).lower():
            n_macro += 1
            if micro_only:
                continue
        if not col.first_row(subject, name):
            continue
        if video_dirs and video_dirs[0] not in frame_cache:
            frame_cache[video_dirs[0]] = list_frames(video_dirs[0])
        frames = frame_cache[video_dirs[0]] if video_dirs else ()
        video = None
        if not frames:
            videos_found = [
                p for p in sorted((root / "rawvideo" / folder).glob(f"{prefix}_{code}*"))
                if p.suffix.lower() in VIDEO_SUFFIXES
            ]
            if not videos_found:
                col.add("missing_on_disk", subject, name, f"no {frames_root / folder}/{prefix}_{code}*", True)
                continue
            video = videos_found[0]
        onset_n, apex_n, offset_n = (cell_int(_cell(row, i)) or None for i in (2, 3, 4))  # 0 = unknown
        if offset_n is None and onset_n is not None and apex_n is not None:
            offset_n = apex_n + (apex_n - onset_n)
            if frames:
                offset_n = min(offset_n, FrameIndex(frames).numbers[-1])
            col.add("offset_filled", subject, name, f"offset unknown: mirrored around apex (frame {offset_n})", False)
        if video is None:
            phases = resolve_phases(FrameIndex(frames), (onset_n, apex_n, offset_n), col, subject, name)
        else:  # frame numbers are 1-based positions in the video
            phases = None
            if onset_n is None or offset_n is None or offset_n < onset_n:
                col.add("bad_row", subject, name, f"onset/offset ({onset_n}, {offset_n})", True)
            else:
                apex_n = apex_n if apex_n is not None and onset_n <= apex_n <= offset_n else (onset_n + offset_n) // 2
                phases = (onset_n - 1, apex_n - 1, offset_n - 1)
        if phases is None:
            continue
        col.add_record(
            subject,
            name,
            phases,
            frames=frames,
            video=video,
            fps=FPS,
            label=norm_label(_cell(row, 6)),
            label3=LABEL3,
            known=KNOWN_LABELS,
            aus=cell_str(_cell(row, 5)),
        )
    for subject_dir in subdirs(frames_root):
        for video_dir in subdirs(subject_dir):
            if video_dir not in used_dirs:
                col.add("not_in_annotation", f"casme_sq/{subject_dir.name}", video_dir.name, str(video_dir), True)
    if micro_only and n_macro:
        col.notes.append(f"{n_macro} macro-expression rows left out (micro_only=True)")
    return col.records, col.report()
