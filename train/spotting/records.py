"""A long video and what happens in it, in frame units of the recording.

Ground truth for spotting is the micro- (and, for ``--kind all``, macro-) expressions; the other
events a synthetic long clip records (blinks, speech, head turns) are distractors, kept so an
evaluation can say which of them a spotter mistook for an expression.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KINDS = ("micro", "macro", "blink", "speech", "head")
GROUND_TRUTH_KINDS = ("micro", "macro")
# What ``--kind`` selects as ground truth.
EVALUATED_KINDS: dict[str, tuple[str, ...]] = {"micro": ("micro",), "macro": ("macro",), "all": ("micro", "macro")}


@dataclass(frozen=True)
class GTInterval:
    """One annotated event.

    Attributes:
        onset, apex, offset: 0-based frame indices into the recording, inclusive (onset <= apex <= offset).
        kind: one of :data:`KINDS`.
        label: MEGC class (negative/positive/surprise) of a micro/macro-expression; ``""`` when the
            event has none (a distractor, or an expression labelled ``others`` / not labelled).
        aus: action units as annotated.
    """

    onset: int
    apex: int
    offset: int
    kind: str
    label: str = ""
    aus: str = ""

    @property
    def frames(self) -> int:
        return self.offset - self.onset + 1


@dataclass(frozen=True)
class LongVideoRecord:
    """One long video of a dataset.

    Attributes:
        dataset: ``synthetic-long`` | ``samm-long`` | ``casme-sq-long``.
        subject: dataset-prefixed subject id (``samm-long/006``).
        name: video id, unique within the subject (``006_1``, ``long_0001``).
        video: a video file, or None when the recording is ``frames``.
        frames: frame files in natural order (``()`` when ``video`` is set).
        fps: frame rate of the recording; frame indices and seconds convert through it.
        intervals: every annotated event, ground truth and distractors, in onset order.
    """

    dataset: str
    subject: str
    name: str
    video: Path | None
    frames: tuple[Path, ...]
    fps: float
    intervals: tuple[GTInterval, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.name}"

    @property
    def source(self) -> Path:
        """What to decode: the video file or the frame folder."""
        return self.video if self.video is not None else self.frames[0].parent

    def truth(self, kind: str = "micro") -> tuple[GTInterval, ...]:
        """Ground-truth intervals of the evaluated ``kind`` (``micro``, ``macro`` or ``all``)."""
        kinds = EVALUATED_KINDS[kind]
        return tuple(i for i in self.intervals if i.kind in kinds)
