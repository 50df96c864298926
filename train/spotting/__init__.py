"""Spotting evaluation: long-video records, their loaders, MEGC spotting metrics and ``spot-eval``.

- :mod:`.records`: a long video with its annotated intervals (ground truth and distractors);
- :mod:`.loaders`: synthetic long clips, SAMM Long Videos, CAS(ME)^2 long videos;
- :mod:`.metrics`: IoU matching, precision/recall/F1 summed over the set, STRS, apex hit-rate,
  none-rate;
- :mod:`.evaluate`: decode, track once, spot, optionally recognise each spotted interval;
- :mod:`.cli`: ``python -m train spot-eval``.
"""

from __future__ import annotations

from .loaders import load_casme_sq_long, load_long_dataset, load_samm_long, load_synthetic_long
from .metrics import SpotCounts, Spotted, VideoOutcome, frame_iou, match_intervals, score_outcomes
from .records import GROUND_TRUTH_KINDS, KINDS, GTInterval, LongVideoRecord

__all__ = [
    "GROUND_TRUTH_KINDS",
    "KINDS",
    "GTInterval",
    "LongVideoRecord",
    "SpotCounts",
    "Spotted",
    "VideoOutcome",
    "frame_iou",
    "load_casme_sq_long",
    "load_long_dataset",
    "load_samm_long",
    "load_synthetic_long",
    "match_intervals",
    "score_outcomes",
]
