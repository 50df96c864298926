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
    """

    inputs: tuple[torch.Tensor, ...]
    labels: torch.Tensor
    subjects: tuple[str, ...]
    clips: tuple[str, ...]
    spec: InputSpec

    def __post_init__(self) -> None:
        n = len(self.labels)
        if len(self.inputs) != len(self.spec.regions):
            raise ValueError(f"{len(self.inputs)} input tensors for regions {self.spec.regions}")
        if any(x.shape[0] != n for x in self.inputs) or len(self.subjects) != n or len(self.clips) != n:
            raise ValueError("inputs, labels, subjects and clips must all have N entries")

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
        )


def save_tensor_set(
    tensor_set: TensorSet, path: str | os.PathLike[str], *, dataset_name: str = "", synthetic: bool = False
) -> Path:
    """Write a TensorSet as one safetensors file: ``input.<region>``, ``labels`` and JSON metadata.

    Useful for your own preprocessing: build the tensors any way you like, save them, and train with
    ``python -m train fit --data tensors=FILE.safetensors``.
    """
    path = Path(path)
    tensors = {f"input.{r}": x.float() for r, x in zip(tensor_set.spec.regions, tensor_set.inputs, strict=True)}
    tensors["labels"] = tensor_set.labels.long()
    meta = {
        "spec": tensor_set.spec.to_dict(),
        "subjects": list(tensor_set.subjects),
        "clips": list(tensor_set.clips),
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
        )
    except TrainingError:
        raise
    except Exception as exc:  # corrupt header, missing key, wrong shapes: all the user's file
        raise TrainingError(f"cannot read TensorSet from {path}: {exc}") from exc
    return tensor_set, meta


__all__ = ["TENSORSET_KEY", "TensorSet", "load_tensor_set", "save_tensor_set"]
