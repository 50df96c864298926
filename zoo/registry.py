"""The zoo's entries: one frozen record per published model, the contract its weights must meet.

An entry names where the weights live (Hub repo id + pinned revision), what input they expect
(the :class:`~microexp.spec.InputSpec` fields that matter), what they were trained on and under
which licence. Adding a model is one more :class:`ZooEntry` in :data:`ENTRIES`.

Honesty note: the ``microexp/*`` repos are not published on the Hugging Face Hub yet, so
``revision`` is ``main`` until they are; every default entry is trained on synthetic clips and
says so (``synthetic=True``), here, in its model card and in the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from microexp.spec import MEGC_LABELS

SYNTHETIC_DATA = (
    "synthetic micro-expression clips generated from public-domain face photographs "
    "(FACS-inspired landmark warps, onset-apex-offset 0.2-0.5 s; `python -m train synth`)"
)
PUBLISHED = False  # flip when the microexp/* repos exist on the Hub at a pinned revision


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo.

    Attributes:
        name: short id used by the CLI, the app and ``zoo/local/<name>``.
        title: human-readable name for menus.
        arch: architecture registry name (:data:`microexp.models.ARCHITECTURES`).
        repo_id: Hugging Face Hub repo id.
        revision: pinned Hub revision (commit sha once published; ``main`` until then).
        input_spec: the InputSpec fields the weights were trained with (frames, regions, ...).
        labels: class names in logit order.
        training_data: what the weights were trained on, in words.
        synthetic: True when trained on synthetic clips only.
        licence: SPDX licence of the weights.
        description: one line for ``zoo list`` and the app's model picker.
        arch_kwargs: extra architecture keyword arguments for training.
    """

    name: str
    title: str
    arch: str
    repo_id: str
    revision: str
    input_spec: dict[str, Any]
    labels: tuple[str, ...]
    training_data: str
    synthetic: bool
    licence: str
    description: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def provenance(self) -> str:
        """One line on where the weights come from and what they were trained on."""
        origin = "synthetic-trained" if self.synthetic else "trained on real data"
        hub = "" if PUBLISHED else " (not yet published on the Hub: built locally with `python -m zoo build`)"
        return f"{origin}: {self.training_data}; Hub {self.repo_id}@{self.revision}{hub}; licence {self.licence}"


def _megc18(regions: tuple[str, ...]) -> dict[str, Any]:
    # The MEGC 3-class, 18-frame spec (SMIC-length windows, 0.6 s) shared by all default entries.
    return {"frames": 18, "window_seconds": 0.6, "regions": list(regions), "labels": list(MEGC_LABELS)}


def _entry(name: str, title: str, arch: str, regions: tuple[str, ...], description: str, **arch_kwargs: Any) -> ZooEntry:
    return ZooEntry(
        name=name,
        title=title,
        arch=arch,
        repo_id=f"microexp/{name}",
        revision="main",
        input_spec=_megc18(regions),
        labels=MEGC_LABELS,
        training_data=SYNTHETIC_DATA,
        synthetic=True,
        licence="mit",
        description=description,
        arch_kwargs=arch_kwargs,
    )


ENTRIES: dict[str, ZooEntry] = {
    e.name: e
    for e in (
        _entry("stcnn-t18", "MicroExpSTCNN (face, 18 frames)", "stcnn", ("face",),
               "The paper's single-stream 3D-CNN on the aligned 64x64 grey face; fastest."),
        _entry("fusenet-intermediate-t18", "Intermediate MicroExpFuseNet (eyes + mouth)", "fusenet-intermediate",
               ("eyes", "mouth"), "Two 3D-CNN branches on 32x32 eye and mouth crops, features fused before the dense layers."),
        _entry("fusenet-late-t18", "Late MicroExpFuseNet (eyes + mouth)", "fusenet-late", ("eyes", "mouth"),
               "Two 3D-CNN branches on 32x32 eye and mouth crops, each with its own dense layers, fused at the end."),
        _entry("twostream-t18", "Two-stream 3D-CNN (appearance + motion)", "twostream", ("face",),
               "An appearance stream on the face and a motion stream on frame differences, fused before the classifier."),
    )
}
DEFAULT_ENTRY = "stcnn-t18"


def get_entry(name: str) -> ZooEntry:
    """The entry called ``name``; a ``ModelError`` listing the known names otherwise."""
    from microexp.errors import ModelError

    if name not in ENTRIES:
        raise ModelError(f"unknown zoo model {name!r}; known: {', '.join(ENTRIES)}")
    return ENTRIES[name]
