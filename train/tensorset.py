"""Preprocessed clips as tensors: the boundary between the data pipeline and the training loop."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from microexp.spec import InputSpec


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
