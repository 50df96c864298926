"""MEGC spotting scores, computed from per-video outcomes in frame units.

- A spotted interval is a true positive when its IoU with a ground-truth interval of the evaluated
  kind is >= 0.5 (frames inclusive: |W n G| / |W u G|). Each ground-truth interval and each
  spotted interval is matched at most once, **greedily by IoU**: all pairs at or above the
  threshold, highest IoU first (ties: higher spotting score first), each pair taken when both
  sides are still free.
- TP, FP and FN are summed over all videos, then precision = TP / spotted, recall = TP / ground
  truth, F1 = 2PR / (P + R): not a per-video average.
- STRS (Liong, See and Chan 2023) = spotting F1 x recognition F1, the recognition F1 being the UF1
  (:func:`train.metrics.summarize`) of the predicted class against the ground-truth class on the
  true positives whose ground truth has a MEGC class.
- Apex hit-rate: share of ground-truth micro-expressions whose apex frame lies inside some spotted
  interval (what a recogniser centred on the spotted apex needs most).
- None-rate: share of videos without any micro-expression where nothing was spotted.
- Localisation of the apex hits: for each ground-truth micro-expression whose apex a spotted
  interval holds, that interval's IoU and its length over the ground truth's (the best-IoU one when
  several hold the apex). A spotter that finds apexes but draws intervals too short or too long
  shows here, not in F1 alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from train.metrics import summarize

from .records import EVALUATED_KINDS, GTInterval

MEGC_LABELS = ("negative", "positive", "surprise")
IOU_THRESHOLD = 0.5
MATCHING = "greedy by IoU (highest first, ties by spotting score), each interval matched at most once"


@dataclass(frozen=True)
class Spotted:
    """One spotted interval in frame units of its video (0-based, inclusive).

    Attributes:
        score: the spotter's confidence.
        label, probs: the recogniser's class and probabilities for the interval; None when no
            model was given or the interval could not be classified.
    """

    onset: int
    apex: int
    offset: int
    score: float = 1.0
    label: str | None = None
    probs: tuple[float, ...] | None = None


@dataclass(frozen=True)
class VideoOutcome:
    """What the spotter did on one video.

    Attributes:
        key: the record's ``subject/name``.
        intervals: every annotated event of the video (ground truth and distractors).
        spotted: the spotted intervals (``()`` = none found).
        error: why the video could not be processed (its ground truth then counts as missed).
        seconds: length of the video; the ``*_seconds`` after it: time each stage took on it.
    """

    key: str
    intervals: tuple[GTInterval, ...]
    spotted: tuple[Spotted, ...] = ()
    error: str | None = None
    seconds: float = 0.0
    spot_seconds: float = 0.0
    decode_seconds: float = 0.0
    track_seconds: float = 0.0
    recognise_seconds: float = 0.0


@dataclass(frozen=True)
class SpotCounts:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def frame_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """IoU of two inclusive frame ranges ``(onset, offset)``."""
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


def match_intervals(
    spotted: Sequence[Spotted], truth: Sequence[GTInterval], threshold: float = IOU_THRESHOLD
) -> list[tuple[int, int, float]]:
    """Pairs ``(spotted index, truth index, IoU)`` matched as the module docstring says."""
    pairs = []
    for i, s in enumerate(spotted):
        for j, g in enumerate(truth):
            iou = frame_iou((s.onset, s.offset), (g.onset, g.offset))
            if iou >= threshold:
                pairs.append((-iou, -s.score, i, j))
    used_s, used_g, out = set(), set(), []
    for neg_iou, _, i, j in sorted(pairs):
        if i not in used_s and j not in used_g:
            used_s.add(i)
            used_g.add(j)
            out.append((i, j, -neg_iou))
    return sorted(out)


def _rate(hits: int, total: int) -> dict[str, Any]:
    return {"hits": hits, "total": total, "rate": hits / total if total else None}


def _fp_event(s: Spotted, events: Sequence[GTInterval]) -> str:
    """The kind of the annotated event a false positive overlaps most, ``background`` if none."""
    best = max(events, key=lambda g: frame_iou((s.onset, s.offset), (g.onset, g.offset)), default=None)
    if best is None or frame_iou((s.onset, s.offset), (best.onset, best.offset)) == 0.0:
        return "background"
    return best.kind


def score_outcomes(
    outcomes: Sequence[VideoOutcome],
    kind: str = "micro",
    labels: Sequence[str] = MEGC_LABELS,
    threshold: float = IOU_THRESHOLD,
) -> dict[str, Any]:
    """Spotting (and, where the spotted intervals carry labels, spot-then-recognise) scores.

    Args:
        outcomes: one per video of the set, failed videos included.
        kind: ground truth evaluated: ``micro``, ``macro`` or ``all`` (micro + macro).
        labels: the recogniser's classes; true positives whose ground truth has another (or no)
            class are left out of the recognition F1.

    Returns:
        A JSON-able dict: counts, precision, recall, f1, apex_hit_rate, none_rate, fp_by_event
        (which annotated event each false positive overlaps most), recognition (None without
        labels) and strs.
    """
    if kind not in EVALUATED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(EVALUATED_KINDS)}, got {kind!r}")
    kinds = EVALUATED_KINDS[kind]
    tp = fp = fn = 0
    apex_hits = apex_total = none_hits = none_total = 0
    fp_by: Counter[str] = Counter()
    true_labels: list[str] = []
    pred_labels: list[str] = []
    unrecognised = 0
    hit_ious: list[float] = []
    hit_lengths: list[float] = []
    for o in outcomes:
        truth = [g for g in o.intervals if g.kind in kinds]
        matches = match_intervals(o.spotted, truth, threshold)
        tp += len(matches)
        fp += len(o.spotted) - len(matches)
        fn += len(truth) - len(matches)
        matched = {i for i, _, _ in matches}
        fp_by.update(_fp_event(s, o.intervals) for i, s in enumerate(o.spotted) if i not in matched)
        for i, j, _ in matches:
            if truth[j].label in labels:
                if o.spotted[i].label in labels:
                    true_labels.append(truth[j].label)
                    pred_labels.append(o.spotted[i].label)
                else:
                    unrecognised += 1
        micro = [g for g in o.intervals if g.kind == "micro"]
        apex_total += len(micro)
        for g in micro:
            holding = [s for s in o.spotted if s.onset <= g.apex <= s.offset]
            if holding:
                apex_hits += 1
                best = max(holding, key=lambda s: frame_iou((s.onset, s.offset), (g.onset, g.offset)))
                hit_ious.append(frame_iou((best.onset, best.offset), (g.onset, g.offset)))
                hit_lengths.append((best.offset - best.onset + 1) / g.frames)
        if not micro and o.error is None:
            none_total += 1
            none_hits += not o.spotted
    counts = SpotCounts(tp, fp, fn)
    recognition = summarize(true_labels, pred_labels, list(labels)) if true_labels else None
    return {
        "kind": kind,
        "iou_threshold": threshold,
        "matching": MATCHING,
        "videos": len(outcomes),
        "failed": sum(o.error is not None for o in outcomes),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": counts.precision,
        "recall": counts.recall,
        "f1": counts.f1,
        "apex_hit_rate": _rate(apex_hits, apex_total),
        "none_rate": _rate(none_hits, none_total),
        "apex_hits_localisation": {
            "median_iou": median(hit_ious) if hit_ious else None,
            "median_length_ratio": median(hit_lengths) if hit_lengths else None,
            "share_iou_at_threshold": sum(i >= threshold for i in hit_ious) / len(hit_ious) if hit_ious else None,
        },
        "fp_by_event": dict(sorted(fp_by.items())),
        "recognition": recognition,
        "recognition_unlabelled_tp": unrecognised,
        "strs": counts.f1 * recognition["uf1"] if recognition else None,
    }
