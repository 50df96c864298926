"""What a training run is asked to do (:class:`FitConfig`) and the error it raises when it cannot."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from microexp.device import DEVICES
from microexp.errors import MicroExpError
from microexp.models import ARCHITECTURES

from .presets import PRESETS, Preset
from .protocols import PROTOCOLS


class TrainingError(MicroExpError):
    """A training run cannot start or continue as asked (bad options, mismatched resume, no data)."""


@dataclass(frozen=True)
class FitConfig:
    """What to train and how; everything here is recorded in ``run.json`` and checked on resume.

    Attributes:
        arch: registry name of the architecture (``stcnn``, ``fusenet-intermediate``, ...).
        preset: the training recipe.
        protocol: ``loso``, ``paper-split`` (the original's clip-level 80/20 split, leaks identity) or
            ``cross-generator`` (train on ``data``, test on ``test_data``, one held-out person per fold).
        seed: run seed; fold and release seeds are derived from it.
        threads: torch intra-op threads (``None`` keeps torch's default).
        arch_kwargs: extra keyword arguments for the architecture (``filters``, ``hidden``, ...).
        data: the data source string, for the record (``synthetic=DIR``, ``casme2=DIR``, ...).
        test_data: the cross-generator protocol's test source string (empty otherwise).
        dataset_name: short name for the model card.
        synthetic: whether the data is synthetic (said loudly in the card).
        release: train and save the release model after evaluation.
        quiet: no progress bars.
        device: ``auto`` | ``cpu`` | ``cuda`` (``None``: ``$MICROEXP_DEVICE``, else ``auto``); on CUDA
            the reference layers train under mixed precision (``microexp.device.autocast``), on CPU
            the exact fp32 fast path. Not part of :meth:`recipe`: a run may resume on another device.
    """

    arch: str = "stcnn"
    preset: Preset = PRESETS["default"]
    protocol: str = "loso"
    seed: int = 0
    threads: int | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    test_data: str = ""
    dataset_name: str = ""
    synthetic: bool = False
    release: bool = True
    quiet: bool = False
    device: str | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise TrainingError(f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHITECTURES)}")
        if self.protocol not in PROTOCOLS:
            raise TrainingError(f"unknown protocol {self.protocol!r}; choose from {', '.join(PROTOCOLS)}")
        if (self.protocol == "cross-generator") != bool(self.test_data):
            raise TrainingError("--protocol cross-generator needs --test-data, and --test-data needs that protocol")
        if self.device is not None and self.device.partition(":")[0].lower() not in DEVICES:
            raise TrainingError(f"unknown device {self.device!r}; choose from {', '.join(DEVICES)} (or cuda:N)")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["preset"] = self.preset.to_dict()
        return out

    def recipe(self) -> dict[str, Any]:
        """The fields that decide the numbers; a resumed run must match them exactly."""
        keys = ("arch", "preset", "protocol", "seed", "arch_kwargs", "data", "release")
        recipe = {k: v for k, v in self.to_dict().items() if k in keys}
        if self.test_data:  # absent otherwise, so runs recorded before the field still resume
            recipe["test_data"] = self.test_data
        return json.loads(json.dumps(recipe))


__all__ = ["FitConfig", "TrainingError"]
