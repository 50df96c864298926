"""A draft of one clip's motions, filled motion by motion and then frozen into a :class:`Scene`.

The long-clip and the short-clip generators place motions by different rules; both add them here,
so a motion is built the same way in either.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from train.synth import _Geometry

from .motions import (
    POSE_DIMS,
    Event,
    Layer,
    Scene,
    blink_course,
    expression_course,
    expression_shift,
    head_course,
    speech_bases,
    speech_courses,
)

KINDS = ("micro", "macro", "blink", "speech", "head")


def overlaps(a: tuple[int, int], b: tuple[int, int], margin: int = 0) -> bool:
    return a[0] <= b[1] + margin and b[0] <= a[1] + margin


class Draft:
    """The motions of one ``n``-frame clip of a face with ``landmarks`` in frames of ``size`` (W, H)."""

    def __init__(self, rng: np.random.Generator, n: int, fps: float, landmarks: np.ndarray, size: tuple[int, int]):
        self.rng, self.n, self.fps, self.landmarks, self.size = rng, n, fps, landmarks, size
        self.iod = _Geometry(landmarks).frame.iod
        self.layers: list[Layer] = []
        self.events: list[Event] = []
        self.closure = np.zeros(n)
        self.pose = np.zeros((n, POSE_DIMS))
        self._speech: dict[str, np.ndarray] | None = None
        self._bases: dict[str, Layer] | None = None

    def frames(self, seconds: float) -> int:
        return max(1, round(seconds * self.fps))

    def spans(self, kind: str) -> list[tuple[int, int]]:
        return [(e.onset, e.offset) for e in self.events if e.kind == kind]

    def speech(self, start: int, end: int, jaw: float) -> list[Event]:
        """One talking turn from ``start`` to ``end`` with jaw opening ``jaw`` (IOD); its phrase events."""
        if self._bases is None:
            self._bases = speech_bases(self.landmarks, self.size)
            self._speech = {k: np.zeros(self.n) for k in self._bases}
        courses, phrases = speech_courses(self.rng, self.n, self.fps, start, end, jaw)
        for k, c in courses.items():
            self._speech[k] += c
        self.events += phrases
        return phrases

    def blink(self, start: int, double: bool) -> Event:
        closure, event = blink_course(self.rng, self.n, self.fps, start, double)
        self.closure = np.maximum(self.closure, closure)
        self.events.append(event)
        return event

    def head(self, start: int, end: int) -> Event:
        pose, event = head_course(self.rng, self.n, self.fps, start, end, self.iod)
        self.pose += pose
        self.events.append(event)
        return event

    def expression(
        self, kind: str, label: str, onset: int, apex: int, hold_end: int, offset: int, amplitude: float
    ) -> Event:
        """A ``micro`` or ``macro`` expression of class ``label`` (a recipe variant is drawn)."""
        aus, shift = expression_shift(self.landmarks, label, self.rng)
        course = expression_course(self.n, onset, apex, hold_end, offset) * amplitude
        self.layers.append(Layer(shift, course))
        event = Event(kind, onset, apex, offset, label, aus)
        self.events.append(event)
        return event

    def scene(self) -> Scene:
        layers = list(self.layers)
        if self._bases is not None:
            layers += [replace(self._bases[k], course=c) for k, c in self._speech.items() if c.any()]
        events = sorted(self.events, key=lambda e: (e.onset, KINDS.index(e.kind), e.offset))
        return Scene(tuple(layers), self.closure, self.pose, tuple(events))
