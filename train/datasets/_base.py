"""Shared pieces of the dataset loaders: the clip record, the problem report, frame listing.

Every loader turns a dataset in its documented on-disk layout into ``ClipRecord`` objects plus a
``DatasetReport``. Annotation rows that cannot be used are skipped and reported, never fatal:
real annotation files contain typos, ``/`` cells and frame numbers that drift from the files.
"""

from __future__ import annotations

import csv
import re
from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microexp.errors import DatasetError
from microexp.spec import MEGC_LABELS
from microexp.video import natural_key  # one natural order for the whole project

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})

# MEGC2019 composite: the three-class mapping of native emotion labels.
NEGATIVE = frozenset({"anger", "contempt", "disgust", "sadness", "fear", "repression"})
LABEL3_GENERAL: dict[str, str] = {
    **{name: "negative" for name in NEGATIVE},
    "happiness": "positive",
    "surprise": "surprise",
    "negative": "negative",
    "positive": "positive",
}
# CASME II's part of the composite keeps only disgust + repression as negative (145 clips);
# fear and sadness (few clips) are dropped together with "others".
LABEL3_CASME2: dict[str, str] = {
    "disgust": "negative",
    "repression": "negative",
    "happiness": "positive",
    "surprise": "surprise",
}
_LABEL_ALIASES = {"other": "others", "happy": "happiness", "surprised": "surprise"}


@dataclass(frozen=True)
class ClipRecord:
    """One annotated clip of a dataset.

    Attributes:
        dataset: ``casme2`` | ``samm`` | ``smic`` | ``casme_sq`` | ``synthetic``.
        subject: dataset-prefixed subject id, unique across composites (``casme2/sub01``).
        clip: clip id, unique within dataset + subject (``EP02_01f``).
        frames: frame files in natural order (img2 before img10); ``()`` when ``video`` is set.
        video: a video file holding the clip instead of frames.
        fps: frame rate of the recording.
        onset, apex, offset: 0-based indices into ``frames`` (or the video's frames), converted
            from the annotation's frame numbers; ``None`` where unknown.
        label: native label, lower case (``happiness``, ``repression``, ``others``).
        label3: MEGC three-class label (negative/positive/surprise); ``None`` when excluded.
        aus: action units as written in the annotation.
        person: who the clip shows, where a dataset says so apart from ``subject`` (synthetic sets
            name the photographed person); ``""`` when the subject is the person.
    """

    dataset: str
    subject: str
    clip: str
    frames: tuple[Path, ...]
    video: Path | None
    fps: float
    onset: int | None
    apex: int | None
    offset: int | None
    label: str
    label3: str | None
    aus: str = ""
    person: str = ""

    @property
    def key(self) -> str:
        """``subject/clip``, unique within a composite (subject is already dataset-prefixed)."""
        return f"{self.subject}/{self.clip}"


@dataclass(frozen=True)
class Issue:
    """One problem found while loading.

    Attributes:
        kind: ``missing_on_disk`` (annotated, no folder), ``not_in_annotation`` (folder, no row),
            ``apex_filled`` / ``offset_filled`` (missing value filled; ``detail`` says how),
            ``out_of_range`` (frame number outside the clip's files), ``frame_snapped`` (number
            inside the range but no file with it: nearest later file used), ``unknown_label``,
            ``bad_row`` (unparsable or inconsistent annotation), ``duplicate``, ``no_frames``.
        subject, clip: where, as far as known.
        detail: human-readable explanation.
        skipped: whether the clip was left out of the records.
    """

    kind: str
    subject: str
    clip: str
    detail: str
    skipped: bool


@dataclass(frozen=True)
class DatasetReport:
    """What a loader found wrong or filled in; empty ``issues`` means a clean load."""

    dataset: str
    root: str
    annotation: str | None
    n_records: int
    issues: tuple[Issue, ...] = ()
    notes: tuple[str, ...] = ()

    def of_kind(self, kind: str) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.kind == kind)

    @property
    def missing_on_disk(self) -> tuple[Issue, ...]:
        return self.of_kind("missing_on_disk")

    @property
    def not_in_annotation(self) -> tuple[Issue, ...]:
        return self.of_kind("not_in_annotation")

    @property
    def apex_filled(self) -> tuple[Issue, ...]:
        return self.of_kind("apex_filled")

    @property
    def out_of_range(self) -> tuple[Issue, ...]:
        return self.of_kind("out_of_range")

    @property
    def unknown_labels(self) -> tuple[Issue, ...]:
        return self.of_kind("unknown_label")

    @property
    def skipped(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.skipped)

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def name(self) -> str:
        return self.dataset

    @property
    def synthetic(self) -> bool:
        """True when every clip is generated (model cards and the UI must say so)."""
        return self.dataset == "synthetic"

    @property
    def labels(self) -> tuple[str, ...]:
        """The classes of ``ClipRecord.label3``, the training target of every loader."""
        return MEGC_LABELS

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "root": self.root,
            "annotation": self.annotation,
            "n_records": self.n_records,
            "notes": list(self.notes),
            "issues": [vars(i) for i in self.issues],
        }

    def summary(self) -> str:
        """A few lines for logs: counts per issue kind and the notes."""
        counts: dict[str, int] = {}
        for issue in self.issues:
            counts[issue.kind] = counts.get(issue.kind, 0) + 1
        lines = [f"{self.dataset}: {self.n_records} clips from {self.root}"]
        lines += [f"  {kind}: {n}" for kind, n in sorted(counts.items())]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    @staticmethod
    def merge(
        dataset: str, reports: Sequence[DatasetReport], n_records: int, notes: Sequence[str] = ()
    ) -> DatasetReport:
        """Combine the reports of a composite's parts (issues keep their prefixed subjects)."""
        return DatasetReport(
            dataset=dataset,
            root=";".join(r.root for r in reports),
            annotation=";".join(r.annotation or "" for r in reports) or None,
            n_records=n_records,
            issues=tuple(i for r in reports for i in r.issues),
            notes=tuple(f"{r.dataset}: {n}" for r in reports for n in r.notes) + tuple(notes),
        )


@dataclass
class Collector:
    """Mutable scratchpad a loader fills, frozen into a ``DatasetReport`` at the end.

    Besides the issues it holds the records made so far and every (subject, clip) an annotation
    row names, so the per-row flow shared by the loaders lives here once: ``first_row`` (duplicate
    check), ``add_frame_clip`` (frames, phases, record), ``add_record`` and ``report_unannotated``.
    """

    dataset: str
    root: Path
    annotation: Path | None = None
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    records: list[ClipRecord] = field(default_factory=list)
    annotated: set[tuple[str, str]] = field(default_factory=set)  # named by a row, usable or not
    _made: set[tuple[str, str]] = field(default_factory=set, init=False, repr=False)  # those with a record

    def add(self, kind: str, subject: str, clip: str, detail: str, skipped: bool) -> None:
        self.issues.append(Issue(kind, subject, clip, detail, skipped))

    def first_row(self, subject: str, clip: str, detail: str = "second annotation row ignored") -> bool:
        """Note that a row names (subject, clip); ``False`` (reported ``duplicate``) when an earlier
        row already made its record. A row that was skipped does not make the next one a duplicate."""
        self.annotated.add((subject, clip))
        if (subject, clip) in self._made:
            self.add("duplicate", subject, clip, detail, True)
            return False
        return True

    def add_record(
        self,
        subject: str,
        clip: str,
        phases: tuple[int, int, int],
        *,
        frames: tuple[Path, ...] = (),
        video: Path | None = None,
        fps: float,
        label: str,
        label3: Mapping[str, str],
        known: Collection[str],
        aus: str = "",
        person: str = "",
    ) -> None:
        """Append a record; a label outside ``known`` is kept and reported ``unknown_label``.

        Args:
            phases: (onset, apex, offset) as 0-based indices.
            label3: native label -> MEGC three-class label; labels it lacks get ``None``.
            known: the dataset's native labels.
        """
        if label not in known:
            self.add("unknown_label", subject, clip, f"label {label!r}", False)
        onset, apex, offset = phases
        record = ClipRecord(
            self.dataset, subject, clip, frames, video, fps, onset, apex, offset, label, label3.get(label), aus, person
        )
        self.records.append(record)
        self._made.add((subject, clip))

    def add_frame_clip(
        self,
        subject: str,
        clip: str,
        folder: Path,
        numbers: tuple[int | None, int | None, int | None],
        **record: Any,
    ) -> None:
        """One annotation row of a dataset whose clips are frame folders and whose onset, apex and
        offset are the numbers in the frame file names (CASME II, SAMM): duplicate check, frames
        (``missing_on_disk`` if none), ``resolve_phases``, then ``add_record(**record)``."""
        if not self.first_row(subject, clip):
            return
        frames = list_frames(folder)
        if not frames:
            self.add("missing_on_disk", subject, clip, f"no frames in {folder}", True)
            return
        phases = resolve_phases(FrameIndex(frames), numbers, self, subject, clip)
        if phases is not None:
            self.add_record(subject, clip, phases, frames=frames, **record)

    def report_unannotated(self, clips: Iterable[Path]) -> None:
        """Report as ``not_in_annotation`` each ``<subject dir>/<clip>`` on disk that no row names."""
        for path in clips:
            subject = f"{self.dataset}/{path.parent.name}"
            if (subject, path.name) not in self.annotated:
                self.add("not_in_annotation", subject, path.name, str(path), True)

    def report(self) -> DatasetReport:
        return DatasetReport(
            dataset=self.dataset,
            root=str(self.root),
            annotation=str(self.annotation) if self.annotation else None,
            n_records=len(self.records),
            issues=tuple(self.issues),
            notes=tuple(self.notes),
        )


# --- names, numbers and frames ------------------------------------------------------------

_DIGITS = re.compile(r"(\d+)")


def _by_name(path: Path) -> tuple[Any, ...]:
    return natural_key(path.name)


def frame_number(path: Path) -> int | None:
    """The last run of digits in a frame's file stem (``reg_img46`` -> 46, ``006_05562`` -> 5562)."""
    runs = _DIGITS.findall(path.stem)
    return int(runs[-1]) if runs else None


def list_frames(folder: Path) -> tuple[Path, ...]:
    """Image files directly in ``folder``, naturally sorted; ``()`` if it is not a folder."""
    if not folder.is_dir():
        return ()
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return tuple(sorted(files, key=_by_name))


def subdirs(folder: Path) -> list[Path]:
    """Sub-folders, naturally sorted, hidden ones skipped."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=_by_name)


class FrameIndex:
    """Maps annotation frame numbers to 0-based positions in a naturally sorted frame list.

    Annotations count frames by the number in the file name (CASME II clips start at e.g.
    ``img46``), so the index is looked up, never computed as ``number - 1``.
    """

    def __init__(self, frames: Sequence[Path]) -> None:
        pairs = sorted((n, i) for i, p in enumerate(frames) if (n := frame_number(p)) is not None)
        self.numbers = [n for n, _ in pairs]
        self.positions = [i for _, i in pairs]

    def lookup(self, number: int) -> tuple[int | None, str]:
        """Position of frame ``number``: (index, "") if exact, (index, "snapped") if the number
        lies inside the range but has no file (next file used), (None, reason) if outside."""
        if not self.numbers:
            return None, "no numbered frames"
        if not self.numbers[0] <= number <= self.numbers[-1]:
            return None, f"frame {number} outside files {self.numbers[0]}..{self.numbers[-1]}"
        k = bisect_left(self.numbers, number)
        return self.positions[k], "" if self.numbers[k] == number else "snapped"


def resolve_phases(
    index: FrameIndex,
    numbers: tuple[int | None, int | None, int | None],
    col: Collector,
    subject: str,
    clip: str,
) -> tuple[int, int, int] | None:
    """Convert (onset, apex, offset) frame numbers to indices, filling a missing apex.

    Onset and offset are required; a missing apex becomes the midpoint of onset and offset.
    Returns ``None`` (and reports why) when the clip must be skipped.
    """
    onset_n, apex_n, offset_n = numbers
    if onset_n is None or offset_n is None:
        col.add("bad_row", subject, clip, f"onset/offset missing ({onset_n}, {offset_n})", True)
        return None
    out: list[int] = []
    for name, number in (("onset", onset_n), ("offset", offset_n)):
        pos, why = index.lookup(number)
        if pos is None:
            col.add("out_of_range", subject, clip, f"{name} {why}", True)
            return None
        if why == "snapped":
            col.add("frame_snapped", subject, clip, f"{name} frame {number} has no file", False)
        out.append(pos)
    onset, offset = out
    if offset < onset:
        col.add("bad_row", subject, clip, f"offset {offset_n} before onset {onset_n}", True)
        return None
    if apex_n is None:
        apex = (onset + offset) // 2
        col.add("apex_filled", subject, clip, f"apex missing: midpoint of onset/offset (index {apex})", False)
        return onset, apex, offset
    apex, why = index.lookup(apex_n)
    if apex is None or not onset <= apex <= offset:
        filled = (onset + offset) // 2
        col.add("apex_filled", subject, clip, f"apex {apex_n} outside onset..offset: midpoint (index {filled})", False)
        return onset, filled, offset
    if why == "snapped":
        col.add("frame_snapped", subject, clip, f"apex frame {apex_n} has no file", False)
    return onset, apex, offset


# --- annotation cells ---------------------------------------------------------------------


def cell_int(value: Any) -> int | None:
    """An integer frame number from a spreadsheet/csv cell; ``None`` for blanks, ``/``, text."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def cell_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def norm_label(value: Any) -> str:
    label = cell_str(value).lower()
    return _LABEL_ALIASES.get(label, label)


def norm_header(value: Any) -> str:
    """Header cell for matching: lower case, letters and digits only (``Onset Frame`` -> ``onsetframe``)."""
    return re.sub(r"[^a-z0-9]", "", cell_str(value).lower())


def read_csv_table(path: Path, strip_values: bool = False) -> tuple[set[str], list[dict[str, Any]]]:
    """A csv table's column names and rows, keys matched loosely (stripped, lower case).

    Values are kept as read (``None`` where a row is short) unless ``strip_values``, which makes
    every value a stripped string.
    """
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = {(name or "").strip().lower() for name in reader.fieldnames or ()}
        rows = [
            {(k or "").strip().lower(): (v or "").strip() if strip_values else v for k, v in row.items()}
            for row in reader
        ]
    return fields, rows


def find_video(folder: Path, clip: str) -> Path | None:
    """``folder/<clip>.<video suffix>`` (first by name), or None."""
    for path in sorted(folder.glob(f"{clip}.*")):
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            return path
    return None


def read_sheet(path: Path, sheet: str | None = None) -> list[tuple[Any, ...]]:
    """All rows of one worksheet as value tuples (first sheet when ``sheet`` is None)."""
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises several types for non-xlsx input
        raise DatasetError(f"Cannot read annotation file {path}: {err}") from err
    try:
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        return [tuple(row) for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def sheet_names(path: Path) -> list[str]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True)
    except Exception as err:
        raise DatasetError(f"Cannot read annotation file {path}: {err}") from err
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def header_table(
    rows: Sequence[tuple[Any, ...]], required: Iterable[str], path: Path, search_rows: int = 40
) -> tuple[dict[str, int], list[tuple[Any, ...]]]:
    """Find the header row (the first containing all ``required`` normalised names).

    Returns (column index per normalised header name, the data rows after the header).
    Preamble rows above the header (SAMM has 13) are skipped this way.
    """
    need = set(required)
    for r, row in enumerate(rows[:search_rows]):
        names = [norm_header(c) for c in row]
        if need <= set(names):
            columns: dict[str, int] = {}
            for c, name in enumerate(names):
                if name and name not in columns:
                    columns[name] = c
            return columns, list(rows[r + 1 :])
    raise DatasetError(
        f"No header row with columns {sorted(need)} in the first {search_rows} rows of {path}."
    )


def get(row: tuple[Any, ...], columns: dict[str, int], name: str) -> Any:
    c = columns.get(name)
    return row[c] if c is not None and c < len(row) else None


def blank(row: tuple[Any, ...]) -> bool:
    return all(cell_str(c) == "" for c in row)


def find_file(roots: Iterable[Path], patterns: Sequence[str]) -> Path | None:
    """First file matching the patterns (in preference order) directly inside any of ``roots``."""
    roots = [r for r in roots if r.is_dir()]
    for pattern in patterns:
        for root in roots:
            hits = sorted(root.glob(pattern), key=_by_name)
            if hits:
                return hits[0]
    return None


def annotation_file(
    annotation: str | Path | None, where: Iterable[Path], patterns: Sequence[str], missing: str
) -> Path:
    """``annotation`` when given, else the first file of ``patterns`` in ``where``.

    Raises:
        DatasetError: with the message ``missing`` when there is no such file.
    """
    path = Path(annotation) if annotation else find_file(where, patterns)
    if path is None or not path.is_file():
        raise DatasetError(missing)
    return path


def require_dir(path: str | Path, what: str) -> Path:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{what} folder not found: {root}")
    return root


def iter_nonblank(rows: Iterable[tuple[Any, ...]]) -> Iterator[tuple[int, tuple[Any, ...]]]:
    for n, row in enumerate(rows):
        if not blank(row):
            yield n, row
