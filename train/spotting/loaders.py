"""Loaders for long videos with annotated intervals: synthetic long clips, SAMM-LV, CAS(ME)^2.

Each returns ``(records, report)`` like the clip loaders in :mod:`train.datasets`: one
:class:`LongVideoRecord` per video, intervals as 0-based inclusive frame indices, and a
:class:`~train.datasets.DatasetReport` of every row that was skipped or repaired. One bad row
never stops a load. A video on disk that no row names is kept with no intervals: spotting is
scored over every video of the set, and one where nothing happens is where false positives show.
A video with a micro- or macro-expression row that cannot be read is left out (``incomplete_truth``):
kept, a correct detection of that expression would count as a false positive.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from microexp.errors import DatasetError
from train.datasets import load_casme_sq
from train.datasets._base import (
    LABEL3_GENERAL,
    VIDEO_SUFFIXES,
    DatasetReport,
    FrameIndex,
    Issue,
    annotation_file,
    cell_int,
    cell_str,
    find_video,
    get,
    header_table,
    iter_nonblank,
    list_frames,
    norm_header,
    norm_label,
    read_csv_table,
    read_sheet,
    require_dir,
    sheet_names,
    subdirs,
)

from .records import GROUND_TRUTH_KINDS, KINDS, GTInterval, LongVideoRecord

SAMM_FPS = 200.0
CASME_SQ_FPS = 30.0
MEGC_LABELS = ("negative", "positive", "surprise")
SAMM_PATTERNS = ("SAMM_LongVideos_V2_Release*.xlsx", "SAMM_LongVideos*.xlsx", "*SAMM*Long*.xlsx")


@dataclass
class _Issues:
    """Issues and notes gathered while loading one dataset."""

    dataset: str
    issues: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, subject: str, name: str, detail: str, skipped: bool) -> None:
        self.issues.append(Issue(kind, subject, name, detail, skipped))

    def report(self, root: Path, annotation: Path | None, n_records: int) -> DatasetReport:
        return DatasetReport(
            self.dataset, str(root), str(annotation) if annotation else None, n_records,
            tuple(self.issues), tuple(self.notes),
        )  # fmt: skip


def _sorted(intervals: list[GTInterval]) -> tuple[GTInterval, ...]:
    return tuple(sorted(intervals, key=lambda i: (i.onset, i.offset)))


# --- synthetic long clips -------------------------------------------------------------------

SYNTH_REQUIRED = ("subject", "clip", "kind", "onset", "apex", "offset", "fps")


def _video_fps(path: Path) -> float | None:
    """Nominal frame rate from the container (no decoding)."""
    import av

    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate
            return float(rate) if rate else None
    except (av.FFmpegError, IndexError, OSError):
        return None


def _synthetic_media(subject_dir: Path, clip: str) -> tuple[Path | None, tuple[Path, ...]]:
    video = find_video(subject_dir, clip)
    return (video, ()) if video is not None else (None, list_frames(subject_dir / clip))


def load_synthetic_long(root: str | Path) -> tuple[list[LongVideoRecord], DatasetReport]:
    """Long clips written by ``python -m train synth-long``: ``root/sub01/long_0001.mp4`` (or a
    frame folder ``root/sub01/long_0001/``), ``root/intervals.csv`` with columns subject, person,
    clip, kind, onset, apex, offset, label, aus, fps (frames 1-based, inclusive; one row per
    event) and ``root/long_config.json`` (its ``fps`` serves clips that no row names).

    Every kind is kept; :meth:`LongVideoRecord.truth` picks micro/macro as ground truth.
    """
    root = require_dir(root, "Synthetic long-clip set")
    path = root / "intervals.csv"
    if not path.is_file():
        raise DatasetError(f"{path} not found: a synthetic long-clip folder needs intervals.csv")
    fields, rows = read_csv_table(path, strip_values=True)
    missing = [c for c in SYNTH_REQUIRED if c not in fields]
    if missing:
        raise DatasetError(f"{path} lacks column(s) {missing}; it has {sorted(fields)}")
    config_fps = None
    config_path = root / "long_config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config = config.get("config", config)  # the generator nests its settings under "config"
            config_fps = float(config.get("fps") or 0) or None
        except (ValueError, TypeError, AttributeError):
            config_fps = None
    log = _Issues("synthetic-long")

    events: dict[tuple[str, str], list[GTInterval]] = defaultdict(list)
    rates: dict[tuple[str, str], float] = {}
    broken: Counter[tuple[str, str]] = Counter()  # unreadable micro/macro rows per clip
    for n, row in enumerate(rows, start=2):  # line numbers as an editor shows them
        subject, clip, kind = row.get("subject", ""), row.get("clip", ""), row.get("kind", "").lower()
        onset, apex, offset = (cell_int(row.get(k)) for k in ("onset", "apex", "offset"))
        try:
            fps = float(row.get("fps") or "nan")
        except ValueError:
            fps = float("nan")
        why = (
            "subject or clip empty" if not subject or not clip
            else f"kind {kind!r} not one of {KINDS}" if kind not in KINDS
            else f"onset/offset ({row.get('onset')!r}, {row.get('offset')!r}) not frame numbers >= 1"
            if onset is None or offset is None or onset < 1 or offset < onset
            else f"fps {row.get('fps')!r} not positive" if not fps > 0
            else ""
        )  # fmt: skip
        if why:
            log.add("bad_row", subject, clip, f"line {n}: {why}", True)
            if kind in GROUND_TRUTH_KINDS:
                broken[(subject, clip)] += 1
            continue
        if apex is None or not onset <= apex <= offset:
            log.add("apex_filled", subject, clip, f"line {n}: apex {row.get('apex')!r}: midpoint used", False)
            apex = (onset + offset) // 2
        key = (subject, clip)
        if rates.setdefault(key, fps) != fps:
            log.add("bad_row", subject, clip, f"line {n}: fps {fps} differs from {rates[key]}", True)
            broken[key] += kind in GROUND_TRUTH_KINDS
            continue
        label = norm_label(row.get("label")) if kind in ("micro", "macro") else ""
        label = LABEL3_GENERAL.get(label, "")
        events[key].append(GTInterval(onset - 1, apex - 1, offset - 1, kind, label, row.get("aus", "")))

    clips = set(events) | set(rates)
    for subject_dir in subdirs(root):  # clips with no row: nothing happens in them
        names = {p.name for p in subdirs(subject_dir)}
        names |= {p.stem for p in subject_dir.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES}
        clips |= {(subject_dir.name, name) for name in names}
    records = []
    for subject, clip in sorted(clips):
        video, frames = _synthetic_media(root / subject, clip)
        if video is None and not frames:
            log.add("missing_on_disk", subject, clip, f"no {root / subject / clip}.mp4 nor frame folder", True)
            continue
        if broken[(subject, clip)]:
            log.add("incomplete_truth", subject, clip, f"{broken[(subject, clip)]} expression row(s) unreadable", True)
            continue
        fps = rates.get((subject, clip)) or (_video_fps(video) if video else None) or config_fps
        if fps is None:
            log.add("bad_row", subject, clip, "no row gives its fps, nor the video or long_config.json", True)
            continue
        if (subject, clip) not in rates:
            log.add("no_events", subject, clip, "no row names it: a clip where nothing happens", False)
        records.append(
            LongVideoRecord("synthetic-long", f"synthetic-long/{subject}", clip, video, frames, fps,
                            _sorted(events.get((subject, clip), [])))
        )  # fmt: skip
    log.notes.append("synthetic data: scores on it say how the spotter does on the generator's clips only")
    return records, log.report(root, path, len(records))


# --- SAMM Long Videos -----------------------------------------------------------------------


def _samm_frames_root(root: Path) -> Path:
    for candidate in (
        root,
        root / "SAMM_longvideos",
        root / "SAMM_LongVideos",
        root / "SAMM_longvideos" / "SAMM_longvideos",
    ):
        if any(re.fullmatch(r"\d+_\d+", d.name) for d in subdirs(candidate)):
            return candidate
    raise DatasetError(f"No SAMM long-video folders (006_1, 006_2, ...) in {root} or {root / 'SAMM_longvideos'}")


def _samm_kind(value: object) -> str | None:
    text = cell_str(value).lower()
    return "micro" if text.startswith("micro") else "macro" if text.startswith("macro") else None


def load_samm_long(
    root: str | Path, annotation: str | Path | None = None
) -> tuple[list[LongVideoRecord], DatasetReport]:
    """SAMM Long Videos (200 fps): ``SAMM_longvideos/006_1/006_1_0001.jpg ...`` and
        ``SAMM_LongVideos_V2_Release.xlsx`` (a preamble, then a header row with Subject, Filename,
        Inducement Code, Onset, Apex, Offset, Duration, Type, Action Units, Notes; found by search).

        ``Filename`` ``006_1_3`` is expression 3 of video ``006_1``. ``Type`` is ``Micro - 1/2`` or
        ``Macro`` (a row of another type is skipped, its video kept). Frame numbers are the numbers in
    the file names. SAMM-LV has no emotion labels,
        so its intervals carry none and STRS cannot be computed on it. Repairs, as public MEGC code
        makes them: onset 0 (unknown) takes the apex; an offset past the last file is clipped to it.
    """
    root = require_dir(root, "SAMM Long Videos")
    frames_root = _samm_frames_root(root)
    where = (root, frames_root, root.parent, frames_root.parent)
    missing = f"SAMM_LongVideos_V2_Release.xlsx not found around {root}; pass annotation=PATH."
    path = annotation_file(annotation, where, SAMM_PATTERNS, missing)
    names = sheet_names(path)
    sheet = next((s for s in names if norm_header(s) == "facsmovementonly"), names[0])
    columns, rows = header_table(read_sheet(path, sheet), ("subject", "filename", "onset", "offset", "type"), path)
    log = _Issues("samm-long")

    videos = {d.name: d for d in subdirs(frames_root) if re.fullmatch(r"\d+_\d+", d.name)}
    frame_lists: dict[str, tuple[Path, ...]] = {}
    indices: dict[str, FrameIndex] = {}
    events: dict[str, list[GTInterval]] = defaultdict(list)
    broken: Counter[str] = Counter()  # unreadable expression rows per video
    for n, row in iter_nonblank(rows):
        name = cell_str(get(row, columns, "filename"))
        parts = name.split("_")
        video = "_".join(parts[:2])
        subject = f"samm-long/{parts[0]}" if parts and parts[0] else "samm-long/?"
        kind = _samm_kind(get(row, columns, "type"))
        if len(parts) < 3 or not all(p.isdigit() for p in parts[:3]):
            log.add("bad_row", subject, name, f"filename {name!r} is not SUBJECT_VIDEO_N", True)
            continue
        if kind is None:
            log.add(
                "bad_row",
                subject,
                name,
                f"type {cell_str(get(row, columns, 'type'))!r} is neither Micro nor Macro",
                True,
            )
            continue
        if video not in videos:
            log.add("missing_on_disk", subject, name, f"no {frames_root / video}", True)
            continue
        if video not in indices:
            frame_lists[video] = list_frames(videos[video])
            indices[video] = FrameIndex(frame_lists[video])
        index = indices[video]
        if not index.numbers:
            log.add("no_frames", subject, name, f"no numbered frames in {videos[video]}", True)
            broken[video] += 1
            continue
        onset_n, apex_n, offset_n = (cell_int(get(row, columns, k)) for k in ("onset", "apex", "offset"))
        if (not onset_n or onset_n < 0) and apex_n and apex_n > 0:
            log.add("onset_filled", subject, name, f"onset {onset_n}: apex {apex_n} used", False)
            onset_n = apex_n
        if onset_n is None or offset_n is None or onset_n <= 0 or offset_n < onset_n:
            log.add("bad_row", subject, name, f"onset/offset ({onset_n}, {offset_n})", True)
            broken[video] += 1
            continue
        if offset_n > index.numbers[-1] >= onset_n:
            log.add("offset_clipped", subject, name, f"offset {offset_n} past the last file {index.numbers[-1]}", False)
            offset_n = index.numbers[-1]
        onset, why_on = index.lookup(onset_n)
        offset, why_off = index.lookup(offset_n)
        if onset is None or offset is None:
            log.add("out_of_range", subject, name, why_on if onset is None else why_off, True)
            broken[video] += 1
            continue
        apex = index.lookup(apex_n)[0] if apex_n is not None and onset_n <= apex_n <= offset_n else None
        if apex is None:
            apex = (onset + offset) // 2
            log.add("apex_filled", subject, name, f"apex {apex_n}: midpoint (index {apex})", False)
        aus = cell_str(get(row, columns, "actionunits"))
        events[video].append(GTInterval(onset, apex, offset, kind, "", aus))

    records = []
    for video, folder in sorted(videos.items()):
        frames = frame_lists.get(video) or list_frames(folder)
        if not frames:
            log.add("no_frames", f"samm-long/{video.split('_')[0]}", video, f"no frames in {folder}", True)
            continue
        if broken[video]:
            detail = f"{broken[video]} expression row(s) unreadable"
            log.add("incomplete_truth", f"samm-long/{video.split('_')[0]}", video, detail, True)
            continue
        if video not in events:
            log.add("no_events", f"samm-long/{video.split('_')[0]}", video, "no row names it", False)
        records.append(
            LongVideoRecord("samm-long", f"samm-long/{video.split('_')[0]}", video, None, frames, SAMM_FPS,
                            _sorted(events.get(video, [])))
        )  # fmt: skip
    log.notes.append("SAMM-LV has no emotion labels: recognition F1 and STRS are not computed on it")
    return records, log.report(frames_root, path, len(records))


# --- CAS(ME)^2 long videos ------------------------------------------------------------------


def load_casme_sq_long(
    root: str | Path, annotation: str | Path | None = None
) -> tuple[list[LongVideoRecord], DatasetReport]:
    """CAS(ME)^2 long videos (30 fps): :func:`train.datasets.load_casme_sq` parses the coding
        sheet (its repairs and skips are reported here too); its expression records, which all point
        at their whole video, are grouped back into one record per video. ``others`` expressions
        keep an empty label (scored for spotting, left out of recognition). A row that clip loader skips
    (reported) leaves its video in without that expression: the coding sheet names videos through
    two lookup sheets, so a broken row cannot always be traced to its video."""
    everything, report = load_casme_sq(root, micro_only=False, annotation=annotation)
    micro, _ = load_casme_sq(root, micro_only=True, annotation=annotation)
    micro_keys = {r.key for r in micro}
    log = _Issues("casme-sq-long")
    log.issues.extend(i for i in report.issues if i.kind != "not_in_annotation")

    grouped: dict[Path, list] = defaultdict(list)
    for r in everything:
        grouped[r.video if r.video is not None else r.frames[0].parent].append(r)
    for issue in report.not_in_annotation:  # a video folder no row names: nothing coded in it
        folder = Path(issue.detail)
        if list_frames(folder):
            grouped.setdefault(folder, [])
            log.add(
                "no_events", issue.subject.replace("casme_sq/", "casme-sq-long/"), issue.clip, "no row names it", False
            )
        else:
            log.add("no_frames", issue.subject, issue.clip, f"no frames in {folder}", True)

    records = []
    for source, members in sorted(grouped.items(), key=lambda kv: str(kv[0])):
        subject = "casme-sq-long/" + (members[0].subject.split("/", 1)[1] if members else source.parent.name)
        intervals = [
            GTInterval(r.onset, r.apex, r.offset, "micro" if r.key in micro_keys else "macro",
                       r.label3 if r.label3 in MEGC_LABELS else "", r.aus)
            for r in members
        ]  # fmt: skip
        video = source if source.is_file() else None
        frames = () if video is not None else (members[0].frames if members else list_frames(source))
        records.append(LongVideoRecord("casme-sq-long", subject, source.stem if video else source.name,
                                       video, frames, CASME_SQ_FPS, _sorted(intervals)))  # fmt: skip
    annotation_path = Path(report.annotation) if report.annotation else None
    return records, log.report(Path(report.root), annotation_path, len(records))


# --- by name --------------------------------------------------------------------------------

LOADERS = {
    "synthetic-long": load_synthetic_long,
    "samm-long": load_samm_long,
    "casme-sq-long": load_casme_sq_long,
}


def load_long_dataset(spec: str) -> tuple[list[LongVideoRecord], DatasetReport]:
    """``NAME=DIR`` with NAME one of ``synthetic-long``, ``samm-long``, ``casme-sq-long``."""
    name, sep, folder = spec.partition("=")
    name = name.strip().lower().replace("_", "-")
    if not sep or not folder.strip():
        raise DatasetError(f"--data takes NAME=DIR (NAME one of {', '.join(LOADERS)}), got {spec!r}")
    if name not in LOADERS:
        raise DatasetError(f"unknown long-video dataset {name!r}; choose from {', '.join(LOADERS)}")
    return LOADERS[name](folder.strip())
