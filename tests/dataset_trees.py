"""Tiny fake dataset trees in the exact documented layouts of CASME II, SAMM, SMIC, CAS(ME)^2
and the synthetic generator, for the loader tests.

Frames are 8x8 images; annotation files are written with openpyxl laid out as the real ones
(CASME II's blank columns, SAMM's 13 preamble rows, CAS(ME)^2's header-less coding sheet and
its two naming-rule sheets). Each tree also holds the flaws real copies have (a ``/`` apex, a
clip folder with no row, a row with no folder, a frame number past the files), documented per
builder so tests can assert the report.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from openpyxl import Workbook
from PIL import Image


def write_frames(folder: Path, names: Iterable[str], grey: bool = False) -> list[Path]:
    """Write one 8x8 image per name (format from the suffix); returns the paths in given order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)))
    paths = []
    for name in names:
        shape = (8, 8) if grey else (8, 8, 3)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(folder / name)
        paths.append(folder / name)
    return paths


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[Any]]]) -> Path:
    """One workbook, sheets in the given order, rows written as given (no header added)."""
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(list(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# --- CASME II ------------------------------------------------------------------------------

CASME2_HEADER = (
    "Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units", "Estimated Emotion",
)


def build_casme2(base: Path, coding_name: str = "CASME2-coding-20140508.xlsx") -> Path:
    """``base/CASME2/{CASME2_RAW_selected,Cropped}/subXX/...`` plus the coding xlsx in ``base/CASME2``.

    Rows (subject cell, clip, onset, apex, offset, emotion) and what the loader should do:
      1, EP02_01f, 46, 50, 55, happiness    frames img46..img55 -> indices 0, 4, 9
      "1", EP03_02, 1, 10, 12, repression   img1..img12 (img2 before img10) -> 0, 9, 11
      "02", EP01_11f, 100, "/", 108, disgust apex "/" -> midpoint index 4, reported
      "02", EP05_03, 100, 101, 103, others   label3 None
      "sub03", EP09_04, 5, 6, 7, fear        label3 None (CASME II's MEGC subset drops fear)
      3, EP07_01, 5, 6, 9, anxiety           unknown label, kept, reported
      1, EP04_01, 10, 12, 30, surprise       files img10..img20: offset 30 out of range, skipped
      2, EP99_99, 1, 2, 3, surprise          no folder -> missing on disk
    On disk only: sub03/EP_EXTRA (not in annotation).
    """
    root = base / "CASME2"
    clips = {
        ("sub01", "EP02_01f"): range(46, 56),
        ("sub01", "EP03_02"): range(1, 13),
        ("sub01", "EP04_01"): range(10, 21),
        ("sub02", "EP01_11f"): range(100, 109),
        ("sub02", "EP05_03"): range(100, 104),
        ("sub03", "EP09_04"): range(5, 9),
        ("sub03", "EP07_01"): range(5, 10),
        ("sub03", "EP_EXTRA"): range(1, 4),
    }
    for (subject, clip), numbers in clips.items():
        write_frames(root / "CASME2_RAW_selected" / subject / clip, [f"img{n}.jpg" for n in numbers])
        write_frames(root / "Cropped" / subject / clip, [f"reg_img{n}.jpg" for n in numbers])
    rows = [
        CASME2_HEADER,
        (1, "EP02_01f", None, 46, 50, 55, None, "12", "happiness"),
        ("1", "EP03_02", None, 1, 10, 12, None, "14", "repression"),
        ("02", "EP01_11f", None, 100, "/", 108, None, "4+7", "disgust"),
        ("02", "EP05_03", None, 100, 101, 103, None, "R17", "others"),
        ("sub03", "EP09_04", None, 5, 6, 7, None, "20", "fear"),
        (3, "EP07_01", None, 5, 6, 9, None, "1+2", "anxiety"),
        (1, "EP04_01", None, 10, 12, 30, None, "1+2", "surprise"),
        (2, "EP99_99", None, 1, 2, 3, None, "1", "surprise"),
    ]
    write_xlsx(root / coding_name, {"Sheet1": rows})
    return root


# --- SAMM ----------------------------------------------------------------------------------

SAMM_HEADER = (
    "Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame",
    "Duration", "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes",
)


def build_samm(base: Path) -> Path:
    """``base/SAMM/006/006_1_2/006_05562.jpg`` (grey) with the xlsx in ``base`` (beside SAMM/).

    The xlsx has 13 preamble rows, then the header, then:
      "006", 006_1_2, 5562, 5566, 5570, Anger      -> indices 0, 4, 8; negative
      "006", 006_1_3, 1001, -1, 1005, Happiness    apex -1 -> midpoint 2, reported; positive
      7, 007_3_1, 20, 22, 24, Other                -> label "others", label3 None
      7, 007_9_9, 1, 2, 3, Surprise                no folder -> missing on disk
    Returns ``base/SAMM``.
    """
    root = base / "SAMM"
    write_frames(root / "006" / "006_1_2", [f"006_{n:05d}.jpg" for n in range(5562, 5571)], grey=True)
    write_frames(root / "006" / "006_1_3", [f"006_{n:05d}.jpg" for n in range(1001, 1006)], grey=True)
    write_frames(root / "007" / "007_3_1", [f"007_{n:05d}.jpg" for n in range(20, 25)], grey=True)
    preamble: list[tuple[Any, ...]] = [("SAMM Micro-FACS Codes",), ("Version 2",)]
    preamble += [()] * 5 + [("Notes:", "frame numbers refer to file names")] + [()] * 5
    assert len(preamble) == 13
    rows = preamble + [
        SAMM_HEADER,
        ("006", "006_1_2", "1", 5562, 5566, 5570, 9, "Micro - 1/2", "4+7", "Anger", "I", ""),
        ("006", "006_1_3", "1", 1001, -1, 1005, 5, "Micro - 1/2", "12", "Happiness", "II", ""),
        (7, "007_3_1", "3", 20, 22, 24, 5, "Micro - 1/2", "R14", "Other", "VII", ""),
        (7, "007_9_9", "9", 1, 2, 3, 3, "Micro - 1/2", "1+2", "Surprise", "III", ""),
    ]
    write_xlsx(base / "SAMM_Micro_FACS_Codes_v2.xlsx", {"FACS codes": rows})
    return root


# --- SMIC ----------------------------------------------------------------------------------

SMIC_CLIPS = {
    ("s1", "negative", "s1_ne_01"): range(95, 104),  # image95..image103: natural order matters
    ("s1", "surprise", "s1_sur_01"): range(586120, 586125),
    ("s2", "positive", "s2_po_01"): range(10, 16),
}


def build_smic(base: Path) -> Path:
    """``base/SMIC/SMIC_all_raw/HS/sX/micro/<label>/<clip>/image*.bmp`` and the cropped twin
    ``base/SMIC/SMIC_all_cropped/HS/.../reg_image*.bmp`` (clips in ``SMIC_CLIPS``), plus a
    ``non_micro`` folder the loader must ignore. Returns ``base/SMIC``."""
    root = base / "SMIC"
    for (subject, label, clip), numbers in SMIC_CLIPS.items():
        rel = Path("HS", subject, "micro", label, clip)
        write_frames(root / "SMIC_all_raw" / rel, [f"image{n}.bmp" for n in numbers])
        write_frames(root / "SMIC_all_cropped" / rel, [f"reg_image{n}.bmp" for n in numbers])
    write_frames(root / "SMIC_all_raw" / "HS" / "s1" / "non_micro" / "s1_no_01", ["image1.bmp", "image2.bmp"])
    return root


# --- CAS(ME)^2 -----------------------------------------------------------------------------


CASME_SQ_RULE2 = {
    # Public code reading the release: code -> the coding sheet's video name.
    "video names": [("0101", "disgust1"), (401, "anger1"), ("0502", "happy2")],
    # The project's reference notes on the release: code -> the folder suffix. happy2 then resolves through the
    # release's own table (0503), which has no folder here either.
    "folder suffixes": [("code", "video"), ("0101", "disgustingteeth"), (401, "girlcrashing"), ("0502", "funnyerrors")],
    # Both in one row.
    "both": [("0101", "disgust1", "disgustingteeth"), (401, "anger1", "girlcrashing"), ("0502", "happy2", "funnyerrors")],
}


def build_casme_sq(base: Path, rule2: str = "video names") -> Path:
    """``base/CASME_sq/rawpic/s15/15_0101disgustingteeth/img1.jpg`` + ``CAS(ME)^2code_final.xlsx``.

    Sheets: ``CASMEcode_final`` (no header), ``naming rule1`` (s15 <- participant 1, s16 <- 2),
    ``naming rule2`` as ``CASME_SQ_RULE2[rule2]`` (by default 0101 disgust1, 0401 anger1, 0502
    happy2). Coding rows (the same under every ``rule2``):
      1, disgust1_1, 3, 6, 9, negative, micro     -> s15/15_0101..., indices 2, 5, 8
      1, disgust1_2, 12, 14, 0, positive, micro   offset 0 -> mirrored to 16, reported
      2, anger1_1, 2, 5, 8, others, micro         -> label3 None
      2, anger1_2, 4, 10, 18, negative, macro     dropped when micro_only
      1, happy2_1, 1, 2, 3, positive, micro       no folder s15/15_0502* (15_0503* under "folder
                                                  suffixes") -> missing on disk
      2, weird9_1, 1, 2, 3, negative, micro       neither in naming rule2 nor the release -> bad row
    On disk only: s16/16_0508funnyinnovations (not in annotation).
    """
    root = base / "CASME_sq"
    write_frames(root / "rawpic" / "s15" / "15_0101disgustingteeth", [f"img{n}.jpg" for n in range(1, 21)])
    write_frames(root / "rawpic" / "s16" / "16_0401girlcrashing", [f"img{n}.jpg" for n in range(1, 21)])
    write_frames(root / "rawpic" / "s16" / "16_0508funnyinnovations", [f"img{n}.jpg" for n in range(1, 4)])
    coding = [
        (1, "disgust1_1", 3, 6, 9, "4+7", "negative", "micro-expression", "disgust"),
        (1, "disgust1_2", 12, 14, 0, "12", "positive", "micro-expression", "happy"),
        (2, "anger1_1", 2, 5, 8, "1", "others", "micro-expression", "other"),
        (2, "anger1_2", 4, 10, 18, "4", "negative", "macro-expression", "anger"),
        (1, "happy2_1", 1, 2, 3, "12", "positive", "micro-expression", "happy"),
        (2, "weird9_1", 1, 2, 3, "12", "negative", "micro-expression", "?"),
    ]
    rule1 = [("s15", 15, 1), ("s16", 16, 2)]
    write_xlsx(
        root / "CAS(ME)^2code_final.xlsx",
        {"CASMEcode_final": coding, "naming rule1": rule1, "naming rule2": CASME_SQ_RULE2[rule2]},
    )
    return root


# --- synthetic -----------------------------------------------------------------------------


def write_video(path: Path, n_frames: int = 6, fps: int = 30) -> Path:
    """A real tiny MPEG-4 file (16x16) written with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 20 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def build_synthetic(base: Path) -> Path:
    """``base/synthetic/sub01/clip_0001/img1.jpg..img12.jpg``, ``sub01/clip_0002.mp4``, ``annotations.csv``.

    Rows (1-based frames): sub01 clip_0001 2/4/6 negative; sub01 clip_0002 1/-/5 happiness (apex
    blank -> midpoint 2, label3 positive); sub02 clip_0003 (no files -> missing on disk).
    On disk only: sub02/clip_0004 (not in annotation).
    """
    root = base / "synthetic"
    write_frames(root / "sub01" / "clip_0001", [f"img{n}.jpg" for n in range(1, 13)])
    write_video(root / "sub01" / "clip_0002.mp4")
    write_frames(root / "sub02" / "clip_0004", ["img1.jpg", "img2.jpg"])
    rows = [
        ("subject", "clip", "onset", "apex", "offset", "label", "aus", "fps"),
        ("sub01", "clip_0001", 2, 4, 6, "negative", "AU4", 30),
        ("sub01", "clip_0002", 1, "", 5, "happiness", "AU6+AU12", 30),
        ("sub02", "clip_0003", 1, 2, 3, "surprise", "AU1+AU2", 30),
    ]
    with (root / "annotations.csv").open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return root
