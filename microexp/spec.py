"""The input contract between preprocessing and a model.

An :class:`InputSpec` is stored in every model's ``config.json`` (under ``input_spec``) so that
inference reproduces exactly the tensors the model was trained on, with nothing else to know.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

MEGC_LABELS = ("negative", "positive", "surprise")
REGIONS = ("face", "eyes", "mouth")
NORMALIZATIONS = ("temporal_mean_zscore", "zscore", "dataset", "unit")
REPRESENTATIONS = ("frames", "flow", "frames+flow", "magnified")
FLOW_CHANNELS = 3  # u, v, optical strain (see microexp.flow)
SIGNED_FLOW_CHANNELS = 2  # u, v from the window's first frame, added to each frame by "frames+flow"
FLOW_SIZE = 28  # side of the flow maps, as in Off-ApexNet / STSTNet

# Bounds on every field, so a config.json from anywhere cannot make preprocessing or model building
# allocate without limit. Wide enough for every network of the paper (96 frames, 64 px crops).
MAX_FRAMES = 256
MAX_SIZE = 512
MIN_SIZE = 4
WINDOW_SECONDS = (0.05, 10.0)
MAX_LABELS = 64
MAX_LABEL_CHARS = 64


def _int_in(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"InputSpec.{name} must be an integer in [{lo}, {hi}], got {value!r}")


def _number_in(name: str, value: Any, lo: float, hi: float, open_low: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (lo < value if open_low else lo <= value) or not value <= hi:
        low = "(" if open_low else "["
        raise ValueError(f"InputSpec.{name} must be a number in {low}{lo:g}, {hi:g}], got {value!r}")


@dataclass(frozen=True)
class InputSpec:
    """Everything needed to turn aligned crops into a model input.

    Attributes:
        labels: class names, in logit order.
        frames: T, the number of frames each window is resampled to.
        window_seconds: duration of one analysis window in the source clip.
        regions: crops fed to the model, in ``forward`` argument order.
        face_size: side of the square face crop in pixels.
        region_size: side of the square eyes and mouth crops in pixels.
        channels: 1 for grey, 3 for RGB.
        normalization: ``temporal_mean_zscore`` subtracts each window's mean frame (identity
            removed, motion kept) then scales to unit variance; ``zscore`` only standardises the
            window; ``dataset`` uses the fixed ``mean``/``std``; ``unit`` divides by 255.
        mean, std: constants for ``dataset`` normalisation (grey levels 0-255).
        eye_y, inter_ocular: canonical face geometry as fractions of the face crop side: eye
            centres lie on the horizontal line ``eye_y`` at distance ``inter_ocular`` apart.
        reference: which frame of a window defines the alignment (``first`` = onset).
        representation: what the model sees of each crop. ``frames``: the normalised crops,
            (C, T, S, S). ``flow``: onset -> apex optical flow and optical strain computed from the
            grey crops (:mod:`microexp.flow`), (3, 1, 28, 28); ``normalization`` does not apply
            (flow has its own units) and ``channels`` must be 1 (flow is computed on grey).
            ``frames+flow``: each frame's normalised grey crop plus the signed optical flow (u, v) from
            the window's first frame to it (:func:`microexp.flow.signed_flow`), (3, T, S, S): where the
            face moves and which way; ``channels`` must be 1.
            ``magnified``: the frames with each one's motion from the window's first frame scaled by
            1 + alpha (geometric motion magnification by the same DIS flow, :func:`microexp.flow.magnify`;
            ``extra`` may set ``magnify_alpha`` and ``magnify_source``), then normalised as ``frames``,
            (1, T, S, S): the paper's networks take it unchanged; ``channels`` must be 1.
    """

    labels: tuple[str, ...] = MEGC_LABELS
    frames: int = 18
    window_seconds: float = 0.6
    regions: tuple[str, ...] = ("face",)
    face_size: int = 64
    region_size: int = 32
    channels: int = 1
    normalization: str = "temporal_mean_zscore"
    mean: float = 0.0
    std: float = 1.0
    eye_y: float = 0.38
    inter_ocular: float = 0.36
    reference: str = "first"
    representation: str = "frames"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # JSON round trips turn tuples into lists; keep the frozen dataclass hashable-ish and exact.
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "regions", tuple(self.regions))
        if not 1 <= len(self.labels) <= MAX_LABELS:
            raise ValueError(f"InputSpec.labels must name 1 to {MAX_LABELS} classes, got {len(self.labels)}")
        if any(not isinstance(x, str) or not 0 < len(x) <= MAX_LABEL_CHARS for x in self.labels):
            raise ValueError(f"InputSpec.labels must be non-empty strings of at most {MAX_LABEL_CHARS} characters")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"InputSpec.labels must be distinct, got {self.labels}")
        _int_in("frames", self.frames, 1, MAX_FRAMES)
        _number_in("window_seconds", self.window_seconds, *WINDOW_SECONDS)
        _int_in("face_size", self.face_size, MIN_SIZE, MAX_SIZE)
        _int_in("region_size", self.region_size, MIN_SIZE, MAX_SIZE)
        _number_in("mean", self.mean, -255.0, 255.0)
        _number_in("std", self.std, 0.0, 1e6, open_low=True)
        _number_in("eye_y", self.eye_y, 0.0, 1.0, open_low=True)
        _number_in("inter_ocular", self.inter_ocular, 0.0, 1.0, open_low=True)
        if not isinstance(self.extra, dict):
            raise ValueError(f"InputSpec.extra must be a JSON object, got {type(self.extra).__name__}")
        unknown = [r for r in self.regions if r not in REGIONS]
        if unknown or not self.regions or len(set(self.regions)) != len(self.regions):
            raise ValueError(f"InputSpec.regions must be distinct names from {REGIONS}, at least one, got {self.regions}")
        if isinstance(self.channels, bool) or self.channels not in (1, 3):
            raise ValueError("InputSpec.channels must be 1 (grey) or 3 (RGB)")
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(f"InputSpec.normalization must be one of {NORMALIZATIONS}")
        if self.reference != "first":
            raise ValueError("InputSpec.reference supports only 'first'")
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"InputSpec.representation must be one of {REPRESENTATIONS}, got {self.representation!r}")
        if self.representation != "frames" and (self.channels != 1 or self.frames < 2):
            raise ValueError(
                f"InputSpec.representation {self.representation!r} needs grey crops (channels=1) and frames >= 2"
            )

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def size_of(self, region: str) -> int:
        """Side in pixels of the square crop for ``region``."""
        return self.face_size if region == "face" else self.region_size

    def input_shapes(self) -> list[tuple[int, int, int, int]]:
        """Per-region tensor shapes without batch: (C, T, H, W); T = 1 for the flow representation,
        C = grey + u + v for ``frames+flow``."""
        if self.representation == "flow":
            return [(FLOW_CHANNELS, 1, FLOW_SIZE, FLOW_SIZE) for _ in self.regions]
        channels = self.channels + (SIGNED_FLOW_CHANNELS if self.representation == "frames+flow" else 0)
        return [(channels, self.frames, self.size_of(r), self.size_of(r)) for r in self.regions]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | InputSpec) -> InputSpec:
        if isinstance(data, InputSpec):
            return data
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def replace(self, **changes: Any) -> InputSpec:
        return replace(self, **changes)
