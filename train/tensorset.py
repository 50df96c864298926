"""Preprocessed clips as tensors: the boundary between the data pipeline and the training loop.

A :class:`TensorSet` can be saved as one safetensors file (``input.<region>``, ``labels`` and JSON
metadata) and trained on with ``python -m train fit --data tensors=FILE.safetensors``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from microexp.atomic import save_tensors
from microexp.spec import InputSpec

from .config import TrainingError

TENSORSET_KEY = "microexp_tensorset"  # safetensors metadata key of a saved TensorSet


@dataclass(frozen=True)
class TensorSet:
    """N preprocessed clips, ready for a model whose spec is ``spec``.

    Attributes:
        inputs: one float32 tensor per region of ``spec.regions``, each (N, C, T, H, W), normalised.
        labels: (N,) int64 class indices into ``spec.labels``.
        subjects: subject id per clip (dataset-prefixed for composites, e.g. ``casme2/sub01``).
        clips: clip id per clip, unique within the set.
        spec: the input spec the tensors were made for.
        jitter: optional, one tensor per region, each (N, K, C, T, H, W): K windows per clip whose
            centres are offset from the apex; training draws one of them per clip and epoch, while
            ``inputs`` (the centred windows) stay what evaluation sees. Empty for a set without them.
        offsets: (N, K) float32 seconds, each jittered window's centre minus the apex time; ``None``
            exactly when ``jitter`` is empty.
        persons: who each clip shows, to match people across two data sets (the cross-generator
            protocol); empty when unknown, and then :attr:`people` falls back to ``subjects``.
    """

    inputs: tuple[torch.Tensor, ...]
    labels: torch.Tensor
    subjects: tuple[str, ...]
    clips: tuple[str, ...]
    spec: InputSpec
    jitter: tuple[torch.Tensor, ...] = ()
    offsets: torch.Tensor | None = None
    persons: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "persons", tuple(self.persons))
        n = len(self.labels)
        if len(self.inputs) != len(self.spec.regions):
            raise ValueError(f"{len(self.inputs)} input tensors for regions {self.spec.regions}")
        if any(x.shape[0] != n for x in self.inputs) or len(self.subjects) != n or len(self.clips) != n:
            raise ValueError("inputs, labels, subjects and clips must all have N entries")
        if self.persons and len(self.persons) != n:
            raise ValueError("persons must be empty or have N entries")
        if bool(self.jitter) != (self.offsets is not None):
            raise ValueError("jitter windows and their offsets come together")
        if self.jitter:
            k = self.offsets.shape[1] if self.offsets.ndim == 2 else -1
            if len(self.jitter) != len(self.inputs) or self.offsets.shape[0] != n or any(
                j.shape[:2] != (n, k) or j.shape[2:] != x.shape[1:] for j, x in zip(self.jitter, self.inputs)
            ):
                raise ValueError("jitter must hold (N, K, C, T, H, W) per region and offsets (N, K)")

    @property
    def people(self) -> tuple[str, ...]:
        """The person of each clip: ``persons`` where known, else the subject."""
        return self.persons or self.subjects

    @property
    def windows_per_clip(self) -> int:
        """K, the jittered windows stored per clip (1 when only the centred window is stored)."""
        return int(self.offsets.shape[1]) if self.offsets is not None else 1

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor | list[int]) -> TensorSet:
        idx = torch.as_tensor(index, dtype=torch.long)
        pick = idx.tolist()
        return TensorSet(
            inputs=tuple(x[idx] for x in self.inputs),
            labels=self.labels[idx],
            subjects=tuple(self.subjects[i] for i in pick),
            clips=tuple(self.clips[i] for i in pick),
            spec=self.spec,
            jitter=tuple(j[idx] for j in self.jitter),
            offsets=self.offsets[idx] if self.offsets is not None else None,
            persons=tuple(self.persons[i] for i in pick) if self.persons else (),
        )


def save_tensor_set(
    tensor_set: TensorSet, path: str | os.PathLike[str], *, dataset_name: str = "", synthetic: bool = False
) -> Path:
    """Write a TensorSet as one safetensors file: ``input.<region>``, ``labels``, JSON metadata and, for
    a jittered set, ``jitter.<region>`` (N, K, C, T, H, W) and ``offsets`` (N, K).

    Useful for your own preprocessing: build the tensors any way you like, save them, and train with
    ``python -m train fit --data tensors=FILE.safetensors``.
    """
    path = Path(path)
    tensors = {f"input.{r}": x.float() for r, x in zip(tensor_set.spec.regions, tensor_set.inputs, strict=True)}
    tensors["labels"] = tensor_set.labels.long()
    for region, j in zip(tensor_set.spec.regions, tensor_set.jitter):  # nothing for a centred-only set
        tensors[f"jitter.{region}"] = j.float()
    if tensor_set.offsets is not None:
        tensors["offsets"] = tensor_set.offsets.float()
    meta = {
        "spec": tensor_set.spec.to_dict(),
        "subjects": list(tensor_set.subjects),
        "clips": list(tensor_set.clips),
        "persons": list(tensor_set.persons),
        "dataset_name": dataset_name,
        "synthetic": bool(synthetic),
    }
    save_tensors(path, tensors, {TENSORSET_KEY: json.dumps(meta)})
    return path


def load_tensor_set(path: str | os.PathLike[str]) -> tuple[TensorSet, dict[str, Any]]:
    """Read a file written by :func:`save_tensor_set`; returns the set and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"tensors file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(TENSORSET_KEY)
        if raw is None:
            raise TrainingError(f"{path} is a safetensors file but not a saved TensorSet (no {TENSORSET_KEY} metadata)")
        meta = json.loads(raw)
        tensors = load_file(str(path))
        spec = InputSpec.from_dict(meta["spec"])
        tensor_set = TensorSet(
            inputs=tuple(tensors[f"input.{r}"] for r in spec.regions),
            labels=tensors["labels"].long(),
            subjects=tuple(meta["subjects"]),
            clips=tuple(meta["clips"]),
            spec=spec,
            jitter=tuple(tensors[f"jitter.{r}"] for r in spec.regions) if "offsets" in tensors else (),
            offsets=tensors.get("offsets"),  # absent in files saved before jitter: centred windows only
            persons=tuple(meta.get("persons", ())),
        )
    except TrainingError:
        raise
    except Exception as exc:  # corrupt header, missing key, wrong shapes: all the user's file
        raise TrainingError(f"cannot read TensorSet from {path}: {exc}") from exc
    return tensor_set, meta


__all__ = ["TENSORSET_KEY", "TensorSet", "load_tensor_set", "save_tensor_set"]
