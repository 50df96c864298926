"""Import the original authors' Keras weights (STCNN, both FuseNets) into a ``save_pretrained`` directory.

Reads four layouts, told apart by content, not by file name:

- ``keras2-model``: Keras 2 ``model.save`` / ``ModelCheckpoint`` HDF5, weights under
  ``model_weights/<layer>/<layer>/kernel:0`` listed by the ``layer_names`` / ``weight_names``
  attributes, the graph in the ``model_config`` attribute;
- ``keras2-weights``: Keras 2 ``save_weights`` HDF5 (the same groups at the root, no graph);
- ``keras3-weights``: Keras 3 ``.weights.h5`` (``layers/<layer>/vars/0`` kernel, ``/1`` bias, no graph);
- ``keras3-archive``: Keras 3 ``.keras`` zip (``config.json`` graph + ``model.weights.h5``).

Tensor layouts. Keras stores every Conv3D kernel as (kH, kW, kT, in, out) whatever its data format:
the original's input is (N, 1, H, W, T), time last, so the paper's 3x3x15 kernel is (H, W, T) and
becomes our (out, in, kT, kH, kW). A file written by Keras 2 on Theano holds true-convolution kernels,
flipped in H, W and T against TensorFlow's cross-correlation; Keras flips them on load, and so do we.
A Dense kernel is (in, out); ours is (out, in). The first Dense after a Flatten sees the pooled
features in the order Keras flattened them: (C, H, W, T) for the original's channels-first tensor,
(H, W, T, C) for a channels-last one or for a ``Flatten(data_format="channels_first")`` (Keras >= 2.2
moves channels last before flattening); its rows are permuted to our flatten order (C, T, H, W).
With a graph in the file the order is read from it; without one it is an argument (default: the
original's (C, H, W, T)).

Which Keras layer feeds which of our parameters: our parameters are visited in a fixed order (branch 0
conv, branch 1 conv, then the dense layers from input to output) and each takes the next unused Keras
layer of its kind. With a graph the Keras layers are ordered branch by branch from the model's inputs
(first input = eyes, as in the original scripts); without one, in the file's order (creation order for
Keras 3 names), so a weights-only file of a FuseNet must have been built eyes first. Every mismatch
(shape, missing or extra layer, unknown file) is a :class:`~microexp.errors.ModelError` naming the layer.

h5py is an optional dependency (``pip install microexp[keras]``), imported only here.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .atomic import replace_dir, temporary_dir, write_text
from .errors import ModelError
from .models import build_model, default_spec
from .spec import MEGC_LABELS, InputSpec

FORMATS = ("keras2-model", "keras2-weights", "keras3-weights", "keras3-archive")
KERAS_ARCHS = ("stcnn", "fusenet-intermediate", "fusenet-late")
FLATTEN_ORDERS = ("CHWT", "HWTC")  # the original (channels-first), and channels-last / Flatten(channels_first)
OURS = "CTHW"  # torch flattens (N, C, T, H, W)
CONV_TO_OURS = (4, 3, 2, 0, 1)  # Keras (kH, kW, kT, in, out) -> torch (out, in, kT, kH, kW)


@dataclass(frozen=True)
class OriginalSetup:
    """What the original scripts fed a network trained on one dataset."""

    dataset: str
    fps: float
    labels: tuple[str, ...]
    frames_note: str
    swapped_red_blue: bool


# frames -> the dataset the original scripts trained that frame count on
ORIGINAL_SETUPS: Mapping[int, OriginalSetup] = {
    96: OriginalSetup("CAS(ME)^2", 30.0, ("anger", "happiness", "disgust"), "frames 72..167 of each video", True),
    18: OriginalSetup("SMIC", 100.0, MEGC_LABELS, "the first 18 files of an unsorted directory listing", False),
}


@dataclass(frozen=True)
class KerasLayer:
    """One Keras layer with weights: its name, kind (``conv3d`` or ``dense``), kernel and bias."""

    name: str
    kind: str
    kernel: np.ndarray
    bias: np.ndarray | None


@dataclass(frozen=True)
class KerasGraph:
    """What a model config tells beyond the weights.

    Attributes:
        order: weighted layer names, branch by branch from the model's inputs, then the trunk.
        flatten_order: the axes in the order the first Flatten wrote them (see :data:`FLATTEN_ORDERS`).
        input_shapes: each input's shape without batch, as Keras declares it.
    """

    order: tuple[str, ...]
    flatten_order: str
    input_shapes: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class KerasFile:
    """The weighted layers of a Keras file, in file order, and what else the file says."""

    path: Path
    format: str
    layers: tuple[KerasLayer, ...]
    graph: KerasGraph | None = None
    keras_version: str | None = None
    backend: str | None = None


@dataclass(frozen=True)
class LayerMap:
    """One Keras layer mapped onto one of our layers: names and kernel shapes on both sides."""

    keras: str
    ours: str
    keras_shape: tuple[int, ...]
    shape: tuple[int, ...]
    rows_permuted: bool = False


@dataclass(frozen=True)
class KerasImport:
    """What :func:`import_keras` wrote and how.

    Attributes:
        out: the ``save_pretrained`` directory.
        arch, frames: the architecture and frame count converted.
        format: which of :data:`FORMATS` the file was.
        flatten_order: the Keras flatten order the first dense rows were permuted from.
        layers: every mapped layer, in our parameter order.
        spec: the input spec written to ``config.json``.
        provenance: the ``provenance`` record of ``config.json`` (source file, sha256, Keras version...).
        notes: what the conversion assumed or could not reproduce (also in the model card).
    """

    out: Path
    arch: str
    frames: int
    format: str
    flatten_order: str
    layers: tuple[LayerMap, ...]
    spec: InputSpec
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ModelError(
            "importing Keras weights needs h5py, an optional dependency: pip install 'microexp[keras]' "
            "(or pip install h5py)"
        ) from None
    return h5py


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _names(attr: Any) -> list[str]:
    return [_text(v) for v in np.asarray(attr).ravel()] if attr is not None else []


def _natural_key(name: str) -> tuple:
    """``dense`` < ``dense_1`` < ``dense_2`` < ``dense_10``: Keras names layers in creation order this way."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _layer(name: str, arrays: Sequence[tuple[str, np.ndarray]]) -> KerasLayer | None:
    """A weighted layer from its (weight name, array) pairs; None for a layer without weights."""
    if not arrays:
        return None
    kernel = next((a for n, a in arrays if n.split("/")[-1].startswith("kernel")), arrays[0][1])
    bias = next((a for n, a in arrays if n.split("/")[-1].startswith("bias")), None)
    if bias is None and len(arrays) == 2 and arrays[1][1].ndim == 1:
        bias = arrays[1][1]
    extra = [n for n, a in arrays if a is not kernel and a is not bias]
    kind = {5: "conv3d", 2: "dense"}.get(kernel.ndim)
    if kind is None or extra:
        raise ModelError(
            f"Keras layer {name!r} holds weights {[n for n, _ in arrays]} with shapes "
            f"{[tuple(a.shape) for _, a in arrays]}; only Conv3D and Dense layers (kernel + bias) can be imported"
        )
    return KerasLayer(name, kind, np.asarray(kernel, dtype=np.float32), None if bias is None else np.asarray(bias, np.float32))


def _keras2_layers(group: Any) -> list[KerasLayer]:
    """Layers of a Keras 2 weights group (``model_weights`` or the root of a ``save_weights`` file)."""
    out = []
    for name in _names(group.attrs.get("layer_names")):
        if name not in group:
            raise ModelError(f"Keras layer {name!r} is listed in layer_names but has no weights group")
        g = group[name]
        arrays = []
        for weight in _names(g.attrs.get("weight_names")):
            if weight not in g:
                raise ModelError(f"Keras layer {name!r}: weight {weight!r} is listed but missing from the file")
            arrays.append((weight, np.asarray(g[weight])))
        layer = _layer(name, arrays)
        if layer is not None:
            out.append(layer)
    return out


def _keras3_layers(root: Any) -> list[KerasLayer]:
    """Layers of a Keras 3 ``.weights.h5`` tree: every ``.../<layer>/vars`` group with datasets 0, 1, ..."""
    found: dict[str, list[tuple[str, np.ndarray]]] = {}

    def visit(path: str, obj: Any) -> None:
        parts = path.split("/")
        if parts[0] == "optimizer":  # a compiled model's .keras keeps its optimizer state (slots shaped like kernels)
            return
        if len(parts) >= 3 and parts[-2] == "vars" and parts[-1].isdigit() and hasattr(obj, "shape"):
            found.setdefault(parts[-3], []).append((parts[-1], np.asarray(obj)))

    root.visititems(visit)
    out = []
    for name in sorted(found, key=_natural_key):
        arrays = sorted(found[name], key=lambda item: int(item[0]))
        named = [("kernel" if i == 0 else "bias" if i == 1 else n, a) for i, (n, a) in enumerate(arrays)]
        layer = _layer(name, named)
        if layer is not None:
            out.append(layer)
    return out


def _history(node: Any) -> Iterator[str]:
    """Names of the layers feeding one inbound node, in Keras 2 (lists) or Keras 3 (keras_history) form."""
    if isinstance(node, dict):
        config = node.get("config")
        if isinstance(config, dict) and "keras_history" in config:
            yield config["keras_history"][0]
            return
        for value in node.values():
            yield from _history(value)
    elif isinstance(node, list):
        if len(node) >= 3 and isinstance(node[0], str) and isinstance(node[1], int):
            yield node[0]  # Keras 2: [layer_name, node_index, tensor_index, kwargs]
            return
        for value in node:
            yield from _history(value)


def _shape(config: Mapping[str, Any]) -> tuple[int, ...] | None:
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    return tuple(shape[1:]) if shape else None


def _flatten_order(conv_format: str, flatten_format: str | None) -> str:
    axes = "CHWT" if conv_format == "channels_first" else "HWTC"
    return axes[1:] + axes[0] if flatten_format == "channels_first" else axes  # Flatten moves channels last


def _graph(model_config: Mapping[str, Any]) -> KerasGraph:
    """Branch order, flatten order and input shapes from a Keras 2 or 3 model config (Sequential or Functional)."""
    config = model_config.get("config", model_config)
    specs = config if isinstance(config, list) else config.get("layers", [])  # Keras 2.0/2.1 Sequential: a list
    layers = [(s.get("name") or s.get("config", {}).get("name"), s.get("class_name", ""), s.get("config", {}), s) for s in specs]
    classes = {name: cls for name, cls, _, _ in layers}
    conv = next((c for _, cls, c, _ in layers if cls in ("Conv3D", "Convolution3D")), {})
    flat = next((c for _, cls, c, _ in layers if cls == "Flatten"), {})
    flatten_order = _flatten_order(conv.get("data_format", "channels_last"), flat.get("data_format"))
    if isinstance(config, list) or "input_layers" not in config:  # Sequential: one chain, file order
        first = layers[0][2] if layers else {}
        shape = _shape(first) or (tuple(first["input_shape"]) if "input_shape" in first else None)
        order = tuple(n for n, cls, _, _ in layers if cls in ("Conv3D", "Convolution3D", "Dense"))
        return KerasGraph(order, flatten_order, (shape,) if shape else ())
    inbound = {name: list(dict.fromkeys(_history(s.get("inbound_nodes", [])))) for name, _, _, s in layers}
    consumers: dict[str, list[str]] = {name: [] for name, _, _, _ in layers}
    for name, sources in inbound.items():
        for source in sources:
            consumers.setdefault(source, []).append(name)
    inputs = config["input_layers"]
    inputs = [inputs] if inputs and isinstance(inputs[0], str) else inputs
    seen: list[str] = []
    for entry in inputs:  # each input's own chain, up to the layer where branches merge
        frontier = [entry[0]]
        while frontier:
            name = frontier.pop(0)
            if name in seen:
                continue
            seen.append(name)
            frontier += [c for c in consumers.get(name, []) if len(inbound[c]) == 1]
    pending = [n for n, _, _, _ in layers if n not in seen]
    while pending:  # the trunk, in topological order
        ready = [n for n in pending if all(s in seen for s in inbound[n])]
        if not ready:
            raise ModelError("the Keras model config has a cycle or a layer fed by an unknown layer")
        seen += ready
        pending = [n for n in pending if n not in ready]
    declared = {n: _shape(c) or () for n, cls, c, _ in layers if cls == "InputLayer"}
    shapes = tuple(declared.get(entry[0], ()) for entry in inputs)
    order = tuple(n for n in seen if classes.get(n) in ("Conv3D", "Convolution3D", "Dense"))
    return KerasGraph(order, flatten_order, shapes)


def _attr_json(attrs: Any, key: str) -> dict[str, Any] | None:
    raw = attrs.get(key)
    return json.loads(_text(raw)) if raw is not None else None


def read_keras(path: str | Path) -> KerasFile:
    """Read the weighted layers (and graph, when there is one) of any of the :data:`FORMATS`.

    Raises:
        ModelError: no such file, h5py missing, or a file in none of the known layouts.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such Keras weights file")
    h5py = _h5py()
    try:
        return _read(path, h5py)
    except (OSError, KeyError, IndexError, TypeError, ValueError, AttributeError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: a damaged or unexpected Keras file ({type(exc).__name__}: {exc})") from exc


def _read(path: Path, h5py: Any) -> KerasFile:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {"config.json", "model.weights.h5"} <= names:
                raise ModelError(f"{path} is a zip file but not a Keras 3 .keras archive (no config.json + model.weights.h5)")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
            with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as f:
                layers = _keras3_layers(f)
        return KerasFile(path, "keras3-archive", tuple(layers), _graph(config), metadata.get("keras_version"), None)
    if not h5py.is_hdf5(path):
        raise ModelError(f"{path} is neither a Keras HDF5 file (.h5, .hdf5, .weights.h5) nor a .keras archive")
    with h5py.File(path, "r") as f:
        version = _text(f.attrs["keras_version"]) if "keras_version" in f.attrs else None
        backend = _text(f.attrs["backend"]) if "backend" in f.attrs else None
        if "model_weights" in f:
            group = f["model_weights"]
            config = _attr_json(f.attrs, "model_config")
            version = version or (_text(group.attrs["keras_version"]) if "keras_version" in group.attrs else None)
            backend = backend or (_text(group.attrs["backend"]) if "backend" in group.attrs else None)
            return KerasFile(path, "keras2-model", tuple(_keras2_layers(group)), _graph(config) if config else None,
                             version, backend)
        if "layer_names" in f.attrs:
            return KerasFile(path, "keras2-weights", tuple(_keras2_layers(f)), None, version, backend)
        if "layers" in f or "_layer_checkpoint_dependencies" in f:
            return KerasFile(path, "keras3-weights", tuple(_keras3_layers(f)), None, version, backend)
    raise ModelError(f"{path} is an HDF5 file in no known Keras layout (no model_weights, layer_names or layers/)")


def _targets(model: torch.nn.Module) -> list[tuple[str, str, tuple[int, ...]]]:
    """Our layers to fill, in mapping order: (name, kind, torch weight shape); convs first, then dense."""
    convs = [(n, "conv3d", tuple(m.weight.shape)) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv3d)]
    dense = [(n, "dense", tuple(m.weight.shape)) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    return convs + dense


def _keras_shape(kind: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The Keras kernel shape that maps onto a torch weight of ``shape``."""
    return tuple(shape[i] for i in np.argsort(CONV_TO_OURS)) if kind == "conv3d" else shape[::-1]


def _permute_rows(kernel: np.ndarray, pooled: Sequence[tuple[int, int, int, int]], order: str) -> np.ndarray:
    """Dense kernel (in, out) whose rows follow Keras's flatten ``order`` of each (C, T, H, W) block in
    ``pooled`` (one per concatenated branch) -> rows in our (C, T, H, W) order."""
    blocks, start = [], 0
    for shape in pooled:
        sizes = dict(zip(OURS, shape))
        n = int(np.prod(shape))
        block = kernel[start:start + n].reshape(*(sizes[a] for a in order), kernel.shape[1])
        blocks.append(block.transpose(*(order.index(a) for a in OURS), 4).reshape(n, kernel.shape[1]))
        start += n
    return np.concatenate(blocks)


def convert(
    keras: KerasFile, arch: str, frames: int, flatten_order: str | None = None, spec: InputSpec | None = None
) -> tuple[torch.nn.Module, tuple[LayerMap, ...], str]:
    """Map a Keras file's layers onto a fresh ``arch`` model; returns (model, layer maps, flatten order used).

    Args:
        flatten_order: one of :data:`FLATTEN_ORDERS`; None reads it from the file's graph, or takes the
            original's ``CHWT`` when the file has none.
        spec: the model's input spec (default: the architecture's, at ``frames``).

    Raises:
        ModelError: a layer's shape does not fit, a layer is missing, or the file has layers left over.
    """
    if arch not in KERAS_ARCHS:
        raise ModelError(f"--arch {arch!r}: the original Keras code has {', '.join(KERAS_ARCHS)}")
    order = flatten_order or (keras.graph.flatten_order if keras.graph else "CHWT")
    if order not in FLATTEN_ORDERS:
        raise ModelError(f"flatten order {order!r} is not one of {FLATTEN_ORDERS}")
    spec = spec or default_spec(arch, frames=frames)
    _check_inputs(keras, spec)
    model = build_model(arch, input_spec=spec).eval()
    layers = list(keras.layers)
    if keras.graph is not None:
        rank = {name: i for i, name in enumerate(keras.graph.order)}
        layers.sort(key=lambda layer: rank.get(layer.name, len(rank)))
    pooled = [b.out_shape(spec.frames, spec.size_of(r)) for b, r in zip(_blocks(model), spec.regions)]
    flat_sizes = {sum(int(np.prod(p)) for p in pooled), *(int(np.prod(p)) for p in pooled)}
    state: dict[str, torch.Tensor] = {}
    maps = []
    for name, kind, shape in _targets(model):
        want = _keras_shape(kind, shape)
        match = next((layer for layer in layers if layer.kind == kind and layer.kernel.shape == want), None)
        if match is None:
            same_kind = [layer for layer in layers if layer.kind == kind]
            hint = (f"Keras layer {same_kind[0].name!r} has kernel {tuple(same_kind[0].kernel.shape)}"
                    if same_kind else f"no {kind} layer is left in the file")
            raise ModelError(
                f"no Keras {kind} layer fits our {name!r} (kernel {want} expected): {hint}; "
                f"check --arch {arch}, --frames {spec.frames} and the number of labels ({spec.num_classes})"
            )
        layers.remove(match)
        kernel = match.kernel
        if kind == "conv3d":
            if keras.backend == "theano":  # Theano convolves: flip H, W, T to cross-correlation
                kernel = kernel[::-1, ::-1, ::-1]
            weight = kernel.transpose(CONV_TO_OURS)
            permuted = False
        else:
            permuted = kernel.shape[0] in flat_sizes
            if permuted:
                blocks = pooled if kernel.shape[0] == sum(int(np.prod(p)) for p in pooled) else pooled[:1]
                kernel = _permute_rows(kernel, blocks, order)
            weight = kernel.T
        bias = match.bias if match.bias is not None else np.zeros(shape[0], np.float32)
        if bias.shape != (shape[0],):
            raise ModelError(f"Keras layer {match.name!r}: bias of shape {bias.shape}, expected ({shape[0]},) for {name!r}")
        state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32))
        state[f"{name}.bias"] = torch.from_numpy(np.ascontiguousarray(bias, dtype=np.float32))
        maps.append(LayerMap(match.name, name, tuple(match.kernel.shape), shape, permuted))
    if layers:
        raise ModelError(
            f"Keras layers {[layer.name for layer in layers]} have no counterpart in {arch}; is --arch right?"
        )
    model.load_state_dict(state, strict=True)
    return model, tuple(maps), order


def _blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    return list(model.branches) if hasattr(model, "branches") else [model.block]


def _check_inputs(keras: KerasFile, spec: InputSpec) -> None:
    """A graph's declared inputs must be one grey (H, W, T) clip per region, channels first or last."""
    if keras.graph is None:
        return
    shapes = keras.graph.input_shapes
    if len(shapes) != len(spec.regions):
        raise ModelError(f"the Keras model has {len(shapes)} input(s); {'+'.join(spec.regions)} needs {len(spec.regions)}")
    for region, shape in zip(spec.regions, shapes):
        size = spec.size_of(region)
        if shape and shape not in ((1, size, size, spec.frames), (size, size, spec.frames, 1)):
            raise ModelError(
                f"the Keras input for {region} is {shape}, expected (1, {size}, {size}, {spec.frames}) "
                f"(channels first, time last) or ({size}, {size}, {spec.frames}, 1); check --frames"
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def original_spec(
    arch: str, frames: int, mean: float | None = None, max_value: float | None = None,
    labels: Sequence[str] | None = None,
) -> tuple[InputSpec, tuple[str, ...]]:
    """The input spec closest to what the original scripts fed the network, and what it cannot match.

    ``mean`` and ``max_value`` are the original's dataset-wide constants (``x -= mean; x /= max``, grey
    levels 0..255); they were never published, so without them each window is z-scored instead.
    """
    if frames not in ORIGINAL_SETUPS:
        raise ModelError(f"--frames {frames}: the original scripts used {sorted(ORIGINAL_SETUPS)} frames")
    if (mean is None) != (max_value is None):
        raise ModelError("give both --mean and --max (the original's constants) or neither")
    if max_value is not None and not max_value > 0:
        raise ModelError(f"--max must be > 0, got {max_value}")
    setup = ORIGINAL_SETUPS[frames]
    labels = tuple(labels) if labels else setup.labels
    notes = [
        f"trained by the original scripts on {setup.dataset} ({setup.frames_note}, {setup.fps:g} fps) with a random "
        "80/20 split, which is not subject-independent, and the best epoch chosen on that split",
        "alignment: MicroExp crops the face, eyes and mouth from its MediaPipe landmarks on a reference frame; "
        + ("the original resized the whole frame to 64x64" if arch == "stcnn" else
           "the original cut dlib-68 boxes on every frame without alignment")
        + "; rigid stabilisation is off here, as there, but the inputs still differ",
    ]
    if setup.swapped_red_blue:
        notes.append("grey: MicroExp uses BT.601 weights on RGB; the original CAS(ME)^2 scripts converted RGB frames "
                     "as if BGR, swapping the red and blue weights")
    if mean is None:
        normalization = {"normalization": "zscore"}
        notes.append("the original's dataset mean and max are unknown: each window is z-scored instead "
                     "(pass --mean and --max to reproduce x = (x - mean) / max)")
    else:
        normalization = {"normalization": "dataset", "mean": float(mean), "std": float(max_value)}
    spec = default_spec(
        arch, frames=frames, window_seconds=frames / setup.fps, labels=labels, face_size=64, region_size=32,
        channels=1, extra={"stabilize": False}, **normalization,
    )
    return spec, tuple(notes)


def _card(result: KerasImport) -> str:
    p = result.provenance
    rows = "\n".join(f"| `{m.keras}` {m.keras_shape} | `{m.ours}` {m.shape} | {'yes' if m.rows_permuted else ''} |"
                     for m in result.layers)
    notes = "\n".join(f"- {n}" for n in result.notes)
    spec = result.spec
    norm = (f"`dataset`: (x - {spec.mean:g}) / {spec.std:g}" if spec.normalization == "dataset"
            else f"`{spec.normalization}` (original constants unknown)")
    return f"""---
library_name: microexp
license: mit
tags: [micro-expression, video-classification, 3d-cnn, microexp, keras-import]
---

# {result.arch} (T={result.frames}), converted from the original Keras weights

**Provenance.** Weights from `{p['source_file']}` (sha256 `{p['sha256']}`), a {result.format} file
(Keras {p.get('keras_version') or 'version unrecorded'}, backend {p.get('backend') or 'unrecorded'}),
converted by `python -m microexp import-keras`. They were trained with the original authors' scripts
(Reddy et al., IJCNN 2019, github.com/bogireddytejareddy/micro-expression-recognition), not by MicroExp;
MicroExp has not evaluated them.

Labels (logit order): {', '.join(spec.labels)}. Input: {'+'.join(spec.regions)}, {spec.frames} frames over
{spec.window_seconds:g} s, grey, normalisation {norm}. Dense rows permuted from Keras flatten order
`{result.flatten_order}` to ours `{OURS}`.

## What differs from the original preprocessing

{notes}

## Layer mapping

| Keras layer (kernel) | MicroExp layer (weight) | rows permuted |
|---|---|---|
{rows}
"""


def import_keras(
    weights: str | Path,
    arch: str,
    frames: int,
    out: str | Path,
    mean: float | None = None,
    max_value: float | None = None,
    labels: Sequence[str] | None = None,
    flatten_order: str | None = None,
) -> KerasImport:
    """Convert a Keras file of the original networks into a ``save_pretrained`` directory at ``out``.

    The directory loads like any other (``load_model``, ``Predictor.from_pretrained``, ``--model``);
    its ``config.json`` carries a ``provenance`` record and its ``README.md`` says where the weights came from.

    Raises:
        ModelError: see :func:`read_keras`, :func:`convert` and :func:`original_spec`.
    """
    keras = read_keras(weights)
    spec, notes = original_spec(arch, frames, mean, max_value, labels)
    model, maps, order = convert(keras, arch, frames, flatten_order, spec)
    if keras.graph is None and flatten_order is None:
        notes += (f"the file holds no model graph: its flatten order was assumed to be the original's {order}",)
    if keras.graph is None and len(spec.regions) > 1:
        notes += ("the file holds no model graph: branches were taken in file order, the first as eyes",)
    provenance = {
        "source": "keras",
        "source_file": Path(weights).name,
        "sha256": _sha256(Path(weights)),
        "format": keras.format,
        "keras_version": keras.keras_version,
        "backend": keras.backend,
        "flatten_order": order,
        "normalization_constants": "given" if mean is not None else "unknown",
        "original_mean": mean,
        "original_max": max_value,
        "layers": {m.ours: m.keras for m in maps},
        "converted_by": "python -m microexp import-keras",
    }
    model._hub_mixin_config["provenance"] = provenance  # written to config.json by save_pretrained
    out = Path(out)
    result = KerasImport(out, arch, frames, keras.format, order, maps, spec, provenance, notes)
    tmp = temporary_dir(out)
    model.save_pretrained(tmp)
    write_text(tmp / "README.md", _card(result))
    replace_dir(tmp, out)
    return result
