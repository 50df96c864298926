"""The zoo's entries: one frozen record per published model, the contract its weights must meet.

An entry names what input its weights expect
(the :class:`~microexp.spec.InputSpec` fields that matter), what they were trained on and how
(:class:`Recipe`), its parameter count, its evaluation protocol and its scores with the data they
were measured on (:class:`Metrics`), and its licence. Adding a model is one more :class:`ZooEntry`
in :data:`ENTRIES`; a malformed entry fails at import, and ``tests/zoo/test_zoo.py`` checks the rest of
the contract (registered architecture, parameter count of the built model) for every entry.

Where the weights live on the Hub is not part of an entry: the repo is ``<namespace>/<name>`` at the
commit sha pinned in ``zoo/pins.json`` (:mod:`zoo.pins`), written by ``python -m zoo publish``. Every
default entry is trained on synthetic clips and says so (``synthetic=True``), here, in its model card
and in the app.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from microexp.spec import MEGC_LABELS, InputSpec
from microexp.windows import APEX_SPREAD, apex_offsets

from .pins import hub_source

SYNTHETIC_DATA = (
    "synthetic micro-expression clips generated from public-domain face photographs of four people "
    "(FACS-inspired landmark warps, onset 40-250 ms, 2-10 % IOD; half `python -m train synth --varied`, "
    "half `synth-scenes` with speech, blinks and head motion around the expression; 5 apex-offset windows "
    "per clip; recipe `zoo.build.ZOO_RECIPE`)"
)
OWN_GENERATOR = "own_generator"  # metrics key: evaluated on held-out people of the data it was trained on
CROSS_GENERATOR = "cross_generator"  # metrics key: trained on one synthetic generator, tested on another's clips
# metrics key, optional: the same architecture and recipe trained the other way round (on the probe
# generator, tested on ours), the second direction of the cross-generator protocol
CROSS_GENERATOR_REVERSE = "cross_generator_reverse"
METRIC_KEYS = (OWN_GENERATOR, CROSS_GENERATOR, CROSS_GENERATOR_REVERSE)
REQUIRED_METRICS = (OWN_GENERATOR, CROSS_GENERATOR)


def _text(owner: str, **values: Any) -> None:
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{owner}: {key} must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class Metrics:
    """Pooled scores of one evaluation, with what they were measured on (so a figure never travels alone).

    Attributes:
        protocol: how the data was split (``loso``, or the cross-generator person folds).
        data: the evaluation data in words (dataset or generator, clips, people).
        uf1, uar, accuracy: pooled over the folds, each in [0, 1] (MEGC convention); the mean over
            seeds when ``uf1_sd`` is given.
        source: where the figures come from (a bench result file or a README table).
        uf1_sd: sample standard deviation of the UF1 over training seeds (None: one run).
        recall: per-class recall, class -> [0, 1] (empty: not recorded).
    """

    protocol: str
    data: str
    uf1: float
    uar: float
    accuracy: float
    source: str
    uf1_sd: float | None = None
    recall: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _text("Metrics", protocol=self.protocol, data=self.data, source=self.source)
        values = {"uf1": self.uf1, "uar": self.uar, "accuracy": self.accuracy, **self.recall}
        if self.uf1_sd is not None:
            values["uf1_sd"] = self.uf1_sd
        for key, value in values.items():
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or math.isnan(value) or not 0.0 <= value <= 1.0:
                raise ValueError(f"Metrics: {key} must be a number in [0, 1], got {value!r}")

    def summary(self) -> str:
        """``UF1 0.848 +- 0.010 / UAR 0.850 / accuracy 0.850, recall negative 0.80 ... (loso on ...)``."""
        sd = f" +- {self.uf1_sd:.3f}" if self.uf1_sd is not None else ""
        recall = ", recall " + " / ".join(f"{c} {v:.2f}" for c, v in self.recall.items()) if self.recall else ""
        return (f"UF1 {self.uf1:.3f}{sd} / UAR {self.uar:.3f} / accuracy {self.accuracy:.3f}{recall} "
                f"({self.protocol} on {self.data})")


@dataclass(frozen=True)
class Recipe:
    """How the weights were trained: enough to reproduce them with the project's CLIs.

    Attributes:
        preset: ``train.presets`` name (optimiser, epochs, augmentation).
        seed: seed of data generation and training.
        epochs: epochs when not the preset's (``None``: the preset's).
        command: the command that rebuilds the weights.
    """

    preset: str
    seed: int
    command: str
    epochs: int | None = None

    def __post_init__(self) -> None:
        _text("Recipe", preset=self.preset, command=self.command)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"Recipe: seed must be an int, got {self.seed!r}")
        positive = isinstance(self.epochs, int) and not isinstance(self.epochs, bool) and self.epochs >= 1
        if self.epochs is not None and not positive:
            raise ValueError(f"Recipe: epochs must be None or a positive int, got {self.epochs!r}")


@dataclass(frozen=True)
class ZooEntry:
    """One model of the zoo.

    Attributes:
        name: short id used by the CLI, the app and ``zoo/local/<name>``.
        title: human-readable name for menus.
        arch: architecture registry name (:data:`microexp.models.ARCHITECTURES`).
        input_spec: the InputSpec fields the weights were trained with (frames, regions, ...).
        labels: class names in logit order.
        training_data: what the weights were trained on, in words.
        synthetic: True when trained on synthetic clips only.
        licence: SPDX licence of the weights.
        description: one line for ``zoo list`` and the app's model picker.
        params: parameter count of the model these weights fill.
        protocol: the evaluation protocol of the own-data metrics (``train.protocols`` name).
        recipe: how the weights were trained.
        metrics: :data:`METRIC_KEYS` -> scores, ``None`` where not measured yet.
        arch_kwargs: extra architecture keyword arguments for training.
        apex_spread: window offsets whose mean probabilities label a spotted interval
            (:data:`microexp.windows.APEX_SPREAD`: the centred window alone). Measured per model, so set per
            entry; ``python -m zoo build`` writes it into the model's ``config.json`` and ``zoo.load`` applies it.
    """

    name: str
    title: str
    arch: str
    input_spec: dict[str, Any]
    labels: tuple[str, ...]
    training_data: str
    synthetic: bool
    licence: str
    description: str
    params: int
    protocol: str
    recipe: Recipe
    metrics: dict[str, Metrics | None]
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    apex_spread: tuple[float, ...] = APEX_SPREAD

    def __post_init__(self) -> None:
        owner = f"ZooEntry {self.name!r}"
        try:
            apex_offsets(self.apex_spread)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None
        if not isinstance(self.apex_spread, tuple):
            raise ValueError(f"{owner}: apex_spread must be a tuple, got {self.apex_spread!r}")
        _text(owner, name=self.name, title=self.title, arch=self.arch, training_data=self.training_data,
              licence=self.licence, description=self.description, protocol=self.protocol)
        if not isinstance(self.labels, tuple) or not self.labels or not all(isinstance(x, str) for x in self.labels):
            raise ValueError(f"{owner}: labels must be a non-empty tuple of class names, got {self.labels!r}")
        spec = InputSpec.from_dict(self.input_spec)  # raises on a malformed spec
        if spec.labels != self.labels:
            raise ValueError(f"{owner}: labels {self.labels} differ from the input spec's {spec.labels}")
        if not isinstance(self.synthetic, bool):
            raise ValueError(f"{owner}: synthetic must be True or False")
        if isinstance(self.params, bool) or not isinstance(self.params, int) or self.params < 1:
            raise ValueError(f"{owner}: params must be a positive int, got {self.params!r}")
        if not isinstance(self.recipe, Recipe):
            raise ValueError(f"{owner}: recipe must be a Recipe, got {type(self.recipe).__name__}")
        keys = set(self.metrics) if isinstance(self.metrics, dict) else set()
        if not set(REQUIRED_METRICS) <= keys <= set(METRIC_KEYS):
            raise ValueError(f"{owner}: metrics must have the keys {REQUIRED_METRICS} (and may have "
                             f"{CROSS_GENERATOR_REVERSE!r}), got {self.metrics!r}")
        for key, value in self.metrics.items():
            if value is not None and not isinstance(value, Metrics):
                raise ValueError(f"{owner}: metrics[{key!r}] must be a Metrics or None")
        own = self.metrics[OWN_GENERATOR]
        if own is not None and own.protocol != self.protocol:
            raise ValueError(f"{owner}: own-data metrics were measured under {own.protocol!r}, not {self.protocol!r}")

    def scores_markdown(self) -> str:
        """The entry's recorded scores as a model-card section: own generator, then across generators."""
        what = {OWN_GENERATOR: "own generator, held-out people", CROSS_GENERATOR: "trained on ours, tested on the probe",
                CROSS_GENERATOR_REVERSE: "trained on the probe, tested on ours"}  # fmt: skip
        rows = []
        for key in (k for k in METRIC_KEYS if k in self.metrics):
            m = self.metrics[key]
            if m is None:
                rows.append(f"| {what[key]} | not measured yet | | | | |")
                continue
            sd = f" +- {m.uf1_sd:.3f}" if m.uf1_sd is not None else ""
            recall = " / ".join(f"{v:.2f}" for v in m.recall.values()) or "-"
            rows.append(f"| {what[key]} | {m.uf1:.3f}{sd} | {m.uar:.3f} | {recall} | {m.data} | {m.source} |")
        classes = " / ".join(self.labels)
        return ("## Scores across generators\n\n"
                "A model that scores well on its own generator's clips may have learnt the rendering, not the "
                "movement; the cross-generator rows test it on an independently written generator's clips, "
                "people held out.\n\n"
                f"| evaluation | UF1 | UAR | recall {classes} | data | source |\n|---|---|---|---|---|---|\n"
                + "\n".join(rows) + "\n")

    @property
    def labelling(self) -> str:
        """How a spotted interval gets its label, in words (``zoo list``, the model card)."""
        if self.apex_spread == APEX_SPREAD:
            return "each spotted interval is labelled by the window centred on its apex"
        offsets = ", ".join(f"{f:+g}" for f in self.apex_spread)
        return (f"each spotted interval is labelled by the mean probabilities of {len(self.apex_spread)} windows "
                f"around its apex (offsets {offsets} of a window; config.json `apex_spread`)")

    @property
    def provenance(self) -> str:
        """One line on where the weights come from and what they were trained on."""
        origin = "synthetic-trained" if self.synthetic else "trained on real data"
        return f"{origin}: {self.training_data}; Hub {hub_source(self.name).describe}; licence {self.licence}"


def _megc18(regions: tuple[str, ...], representation: str = "frames") -> dict[str, Any]:
    # The MEGC 3-class, 18-frame spec (SMIC-length windows, 0.6 s) shared by all default entries; the
    # representation is named only where it is not the paper's plain frames.
    spec = {"frames": 18, "window_seconds": 0.6, "regions": list(regions), "labels": list(MEGC_LABELS)}
    return spec if representation == "frames" else {**spec, "representation": representation}


# The synthetic set the recorded LOSO figures were measured on: the zoo's recipe (zoo.build.ZOO_RECIPE).
ZOO_BUILD_DATA = (
    "synthetic clips of `python -m zoo build` (recipe `varied-scenes-jitter`: half `train synth --varied`, "
    "half `synth-scenes`; 240 clips, 4 people; measured 2026-12-02, the flow entries 2026-12-03)"
)
ZOO_BUILD_SOURCE = "README.md, The zoo (python -m zoo build, LOSO pooled over 4 folds)"


# The cross-generator figures of the reverse direction: the same architecture and the zoo's recipe, 48 clips per
# generator, one fold per person, 3 seeds, scored on the pipeline as shipped (spot, then classify; short clips as
# excerpts); fifth session (stcnn-flow: eighth).
_CROSS_COMMAND = ("python bench/crossgen.py --arch stcnn fusenet-intermediate fusenet-late twostream --seeds 0 1 2 "
                  "--clips 48 --modes apex shipped --threads 1 --synth DIR --probe DIR")
REVERSE_SOURCE = f"bench/results/crossgen-archs-5-reverse.json ({_CROSS_COMMAND} --directions probe-synth; 2026-12-02)"
REVERSE_DATA = ("`train.synth` clips (the zoo recipe) of the held-out person, the model trained on `train.probe` "
                "clips instead; 48 clips, 4 people, pipeline as shipped, mean of 3 seeds")


def _zoo240(draws: str, files: str) -> tuple[str, str]:
    """(data, source) of a synth -> probe figure measured as the zoo trains: on the zoo build's own 240 clips."""
    data = ("`train.probe` clips of the held-out person (an independently written generator; 48 clips, 4 people, "
            f"1.4-2.2 s), pipeline as shipped, trained on the zoo's own 240 synthetic clips, {draws} x 3 seeds")
    source = (f"{files} (python bench/crossgen.py --arch ARCH --seeds 0 1 2 --directions synth-probe --modes apex "
              "shipped --threads 1 --synth ZOO240 --probe probe-48-sP; 2026-12-03)")
    return data, source


# Trained as the zoo trains them (240 clips); stcnn on probe draws P = 201, 202, 203 (eighth session), 501
# (ninth) and 1211 (twelfth), fusenet-intermediate and twostream on 501 (ninth session) and 1211.
S12_POOLED = "bench/results/crossgen-s12-pooled.json"
STCNN_CROSS_DATA, STCNN_CROSS_SOURCE = _zoo240("5 probe draws (seeds 201, 202, 203, 501, 1211)", S12_POOLED)
TWO_DRAWS_DATA, TWO_DRAWS_SOURCE = _zoo240("2 probe draws (seeds 501, 1211)", S12_POOLED)
# the frame Late FuseNet (tenth session): scored shipped on s501-s503 beside fusenet-late-flow, and on s1211 (twelfth)
LATE_CROSS_DATA, LATE_CROSS_SOURCE = _zoo240("4 probe draws (seeds 501, 502, 503, 1211)", S12_POOLED)
# The two entries labelled from three windows (eleventh session): their figures pool that labelling over the draws
# it was scored on with the zoo's 240 clips (bench/README.md, "apex_spread per model"; s1211: twelfth session)
SPREAD_DRAWS_STCNN = "4 probe draws (seeds 501, 801, 802, 1211), each interval labelled from 3 windows around its apex"
SPREAD_DRAWS_FUSE = ("5 probe draws (seeds 501, 502, 503, 801, 1211), each interval labelled from 3 windows around "
                     "its apex")
FLOW_SPREAD_DATA, FLOW_SPREAD_SOURCE = _zoo240(SPREAD_DRAWS_STCNN, S12_POOLED)
FUSE_SPREAD_DATA, FUSE_SPREAD_SOURCE = _zoo240(SPREAD_DRAWS_FUSE, S12_POOLED)
FLOW_REVERSE_SOURCE = ("bench/results/crossgen-s8-new-pipeline.json (python bench/crossgen.py --arch stcnn stcnn-flow "
                       "--clips 48 --seeds 0 1 2 --directions synth-probe probe-synth --modes apex shipped --threads 1 "
                       "--data-seed 201; 2026-12-03)")
FLOW_REVERSE_DATA = ("`train.synth` clips (the zoo recipe) of the held-out person, the model trained on `train.probe` "
                     "clips instead; 48 clips, 4 people, pipeline as shipped, one data draw x 3 seeds")
FUSE_FLOW_REVERSE_SOURCE = ("bench/results/crossgen-s10-fuseflow-late-reverse.json (python bench/crossgen.py --arch "
                            "fusenet-late-flow --clips 48 --seeds 0 1 2 --directions probe-synth --modes apex shipped "
                            "--threads 1 --synth SYNTH-48-s201 --probe PROBE-48-s201; 2026-12-03)")


# Three windows around the apex (-0.15, 0, +0.15 of a window), shipped on the zoo's 240 clips x 3 seeds, each rule
# written first (bench/README.md, "apex_spread per model"): fusenet-late-flow 0.614 -> 0.673 on probe draws s502 +
# s503 (higher in 6 of 6 seed pairs), then 0.634 -> 0.668 on the fresh draw s801; stcnn-flow 0.698 -> 0.731 on the
# fresh draws s801 + s802 (higher in 5 of 6 pairs).
SPREAD3 = (-0.15, 0.0, 0.15)


def _cross(data: str, uf1: float, sd: float, uar: float, accuracy: float, recall: tuple[float, ...],
           source: str = REVERSE_SOURCE) -> Metrics:
    return Metrics("cross-generator", data, uf1, uar, accuracy, source, uf1_sd=sd,
                   recall=dict(zip(MEGC_LABELS, recall, strict=True)))  # fmt: skip


def _entry(
    name: str,
    title: str,
    arch: str,
    regions: tuple[str, ...],
    description: str,
    params: int,
    loso: tuple[float, float, float],
    cross: Metrics | None = None,
    reverse: Metrics | None = None,
    representation: str = "frames",
    apex_spread: tuple[float, ...] = APEX_SPREAD,
    **arch_kwargs: Any,
) -> ZooEntry:
    uf1, uar, accuracy = loso
    return ZooEntry(
        name=name,
        title=title,
        arch=arch,
        input_spec=_megc18(regions, representation),
        labels=MEGC_LABELS,
        training_data=SYNTHETIC_DATA,
        synthetic=True,
        licence="mit",
        description=description,
        params=params,
        protocol="loso",
        recipe=Recipe(preset="default", seed=0, command=f"python -m zoo build --entries {name}"),
        metrics={
            OWN_GENERATOR: Metrics("loso", ZOO_BUILD_DATA, uf1, uar, accuracy, ZOO_BUILD_SOURCE),
            CROSS_GENERATOR: cross,
            CROSS_GENERATOR_REVERSE: reverse,
        },
        arch_kwargs=arch_kwargs,
        apex_spread=apex_spread,
    )


ENTRIES: dict[str, ZooEntry] = {
    e.name: e
    for e in (
        _entry("stcnn-flow-t18", "MicroExpSTCNN on frames + motion (face, 18 frames)", "stcnn-flow", ("face",),
               "The paper's STCNN layers on the grey face plus its signed optical flow from the window's first "
               "frame: which way the face moves, not only where.",
               1_651_907, (0.814, 0.817, 0.817),
               _cross(FLOW_SPREAD_DATA, 0.734, 0.084, 0.734, 0.734, (0.823, 0.594, 0.787), source=FLOW_SPREAD_SOURCE),
               _cross(FLOW_REVERSE_DATA, 0.636, 0.086, 0.597, 0.597, (0.333, 0.708, 0.750), source=FLOW_REVERSE_SOURCE),
               representation="frames+flow", apex_spread=SPREAD3),
        _entry("stcnn-t18", "MicroExpSTCNN (face, 18 frames)", "stcnn", ("face",),
               "The paper's single-stream 3D-CNN on the aligned 64x64 grey face; fastest.",
               1_643_267, (0.800, 0.800, 0.800),
               _cross(STCNN_CROSS_DATA, 0.566, 0.098, 0.572, 0.572, (0.579, 0.408, 0.729), source=STCNN_CROSS_SOURCE),
               _cross(REVERSE_DATA, 0.597, 0.057, 0.562, 0.562, (0.458, 0.604, 0.625))),
        _entry("fusenet-intermediate-t18", "Intermediate MicroExpFuseNet (eyes + mouth)", "fusenet-intermediate",
               ("eyes", "mouth"), "Two 3D-CNN branches on 32x32 eye and mouth crops, features fused before the dense layers.",
               6_694_915, (0.801, 0.800, 0.800),
               _cross(TWO_DRAWS_DATA, 0.586, 0.060, 0.590, 0.590, (0.469, 0.615, 0.688), source=TWO_DRAWS_SOURCE),
               _cross(REVERSE_DATA, 0.468, 0.017, 0.451, 0.451, (0.229, 0.521, 0.604))),
        _entry("fusenet-late-t18", "Late MicroExpFuseNet (eyes + mouth)", "fusenet-late", ("eyes", "mouth"),
               "Two 3D-CNN branches on 32x32 eye and mouth crops, each with its own dense layers, fused at the end.",
               6_827_523, (0.825, 0.821, 0.821),
               _cross(LATE_CROSS_DATA, 0.584, 0.056, 0.602, 0.602, (0.370, 0.620, 0.818), source=LATE_CROSS_SOURCE),
               _cross(REVERSE_DATA, 0.463, 0.063, 0.445, 0.445, (0.271, 0.438, 0.625))),
        _entry("fusenet-late-flow-t18", "Late MicroExpFuseNet on frames + motion (eyes + mouth)", "fusenet-late-flow",
               ("eyes", "mouth"),
               "The paper's Late FuseNet layers on the eye and mouth crops, each with its signed optical flow from the "
               "window's first frame: which way each region moves.",
               6_844_803, (0.825, 0.825, 0.825),
               _cross(FUSE_SPREAD_DATA, 0.680, 0.056, 0.682, 0.682, (0.571, 0.692, 0.783),
                      source=FUSE_SPREAD_SOURCE),
               _cross(FLOW_REVERSE_DATA, 0.572, 0.075, 0.542, 0.542, (0.333, 0.625, 0.667),
                      source=FUSE_FLOW_REVERSE_SOURCE),
               representation="frames+flow", apex_spread=SPREAD3),
        _entry("twostream-t18", "Two-stream 3D-CNN (appearance + motion)", "twostream", ("face",),
               "An appearance stream on the face and a motion stream on frame differences, fused before the classifier.",
               4_918_339, (0.781, 0.783, 0.783),
               _cross(TWO_DRAWS_DATA, 0.541, 0.088, 0.549, 0.549, (0.688, 0.354, 0.604), source=TWO_DRAWS_SOURCE),
               _cross(REVERSE_DATA, 0.426, 0.004, 0.424, 0.424, (0.229, 0.521, 0.521))),
    )
}
# The app's default and the first entry the demo builds (the picker lists entries in this order). Chosen
# at the zoo's training size, 240 clips: cross-generator shipped 0.722 +- 0.046 against STCNN's 0.593 +- 0.062
# over three probe draws (bench/results/crossgen-s8-zoo240-pooled.json; rules written before STCNN's figures).
DEFAULT_ENTRY = "stcnn-flow-t18"


def get_entry(name: str) -> ZooEntry:
    """The entry called ``name``; a ``ModelError`` listing the known names otherwise."""
    from microexp.errors import ModelError

    if name not in ENTRIES:
        raise ModelError(f"unknown zoo model {name!r}; known: {', '.join(ENTRIES)}")
    return ENTRIES[name]
