"""Does ``python -m microexp import-keras`` reproduce Keras? The original networks, built in Keras with
random weights, saved in every supported format, converted, and run on the same input on both sides.

Runs in the Keras environment (``bench/requirements-keras.txt``); the conversion and our forward pass run
in the project's ``.venv`` through a subprocess (``--torch-side``), so neither environment needs the other's
framework:

    python3 -m venv /work/keras-venv
    /work/keras-venv/bin/pip install -r bench/requirements-keras.txt
    /work/keras-venv/bin/python bench/keras_equivalence.py [--quick]

The Keras models follow the original scripts: channels first, input (1, H, W, T), STCNN a Sequential
model, FuseNets functional with the eyes input first, softmax as a separate last layer (its input are
the logits). Every weight and bias is drawn at random (biases too, so a bias lost in conversion shows).
Each model is saved as a Keras 3 ``.keras`` archive and ``.weights.h5``, and through Keras's legacy
HDF5 writer as a full model (``model_weights/...`` + ``model_config``: the Keras 2 ``model.save`` layout)
and as a ``save_weights`` file (the Keras 2 layout). At T=18 a channels-last copy is checked as well
(weights-only files then need ``--flatten-order HWTC``, as the README says). Writes
``bench/results/keras_equivalence.json``: per network, frame count, layout and format the largest
absolute difference of logits and of probabilities, and whether both are within ``--tolerance``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, ROOT, write_json  # noqa: E402

ARCHS = ("stcnn", "fusenet-intermediate", "fusenet-late")
FRAMES = (18, 96)
FORMATS = {  # file name -> the layout read_keras must recognise
    "model.keras": "keras3-archive",
    "model.weights.h5": "keras3-weights",
    "model.hdf5": "keras2-model",
    "weights.h5": "keras2-weights",
}
KERNEL = (3, 3, 15)  # Keras (H, W, T)


# ---------------------------------------------------------------- Keras side (the Keras environment)


def build(arch: str, frames: int, data_format: str):
    """The original network in Keras 3, in ``data_format``; returns (model, logits model)."""
    import keras
    from keras import layers

    size = 64 if arch == "stcnn" else 32
    shape = (1, size, size, frames) if data_format == "channels_first" else (size, size, frames, 1)

    def block(x, extra_relu: bool = False):
        x = layers.Conv3D(32, KERNEL, data_format=data_format)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling3D(3, data_format=data_format)(x)
        x = layers.Activation("relu")(x) if extra_relu else x  # the late FuseNet's redundant ReLU
        return layers.Flatten()(layers.Dropout(0.5)(x))

    if arch == "stcnn":
        model = keras.Sequential([
            keras.Input(shape),
            layers.Conv3D(32, KERNEL, activation="relu", data_format=data_format),
            layers.MaxPooling3D(3, data_format=data_format),
            layers.Dropout(0.5),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(3),
            layers.Activation("softmax"),
        ])
        return model, keras.Model(model.inputs, model.layers[-2].output)
    inputs = [keras.Input(shape, name=name) for name in ("eye_input", "nose_input")]
    if arch == "fusenet-intermediate":
        x = layers.Concatenate(axis=1)([block(i) for i in inputs])
        x = layers.Dropout(0.5)(layers.Dense(1024)(x))
        x = layers.Dropout(0.5)(layers.Dense(128)(x))
    else:
        heads = []
        for i in inputs:
            x = layers.Dropout(0.5)(layers.Dense(1024)(block(i, extra_relu=True)))
            heads.append(layers.Dropout(0.5)(layers.Dense(128)(x)))
        x = layers.Concatenate(axis=1)(heads)
    logits = layers.Dense(3)(x)
    return keras.Model(inputs, layers.Activation("softmax")(logits)), keras.Model(inputs, logits)


def randomise(model, rng) -> None:
    """Every kernel ~ N(0, 1/fan_in) (logits of order 1), every bias ~ N(0, 0.1)."""
    import numpy as np

    weights = []
    for w in model.get_weights():
        scale = 1.0 / np.sqrt(np.prod(w.shape[:-1])) if w.ndim > 1 else 0.1
        weights.append((rng.standard_normal(w.shape, dtype=np.float32) * scale).astype(np.float32))
    model.set_weights(weights)


def save_all(model, folder: Path) -> None:
    """The four formats of :data:`FORMATS` (the two Keras 2 layouts through Keras's legacy HDF5 writer)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    model.save(folder / "model.keras")
    model.save_weights(folder / "model.weights.h5")
    legacy_h5_format.save_model_to_hdf5(model, str(folder / "model.hdf5"), include_optimizer=False)
    with h5py.File(folder / "weights.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def keras_case(arch: str, frames: int, data_format: str, folder: Path, batch: int, seed: int) -> float:
    """Build, randomise, save every format and the reference outputs into ``folder``; returns Keras seconds."""
    import numpy as np

    rng = np.random.default_rng(seed)
    model, logits_model = build(arch, frames, data_format)
    randomise(model, rng)
    xs = [rng.uniform(-0.5, 0.5, (batch, *i.shape[1:])).astype(np.float32) for i in model.inputs]
    started = time.perf_counter()
    probs = np.asarray(model.predict_on_batch(xs if len(xs) > 1 else xs[0]))
    logits = np.asarray(logits_model.predict_on_batch(xs if len(xs) > 1 else xs[0]))
    seconds = time.perf_counter() - started
    np.savez(folder / "reference.npz", logits=logits, probs=probs, **{f"x{i}": x for i, x in enumerate(xs)})
    save_all(model, folder)
    return seconds


# ---------------------------------------------------------------- torch side (the project's .venv)


def torch_side(folder: Path, arch: str, frames: int, data_format: str) -> dict[str, dict]:
    """Convert every file in ``folder`` and compare our outputs with ``reference.npz``."""
    import numpy as np
    import torch

    from microexp.keras_import import import_keras, read_keras
    from microexp.models import load_model

    ref = np.load(folder / "reference.npz")
    xs = [ref[k] for k in sorted(k for k in ref.files if k.startswith("x"))]
    # Keras (N, 1, H, W, T) or (N, H, W, T, 1) -> ours (N, 1, T, H, W)
    axes = (0, 1, 4, 2, 3) if data_format == "channels_first" else (0, 4, 3, 1, 2)
    inputs = [torch.from_numpy(np.ascontiguousarray(x.transpose(axes))) for x in xs]
    rows = {}
    for name, expected_format in FORMATS.items():
        path = folder / name
        started = time.perf_counter()
        needs_order = data_format == "channels_last" and read_keras(path).graph is None
        result = import_keras(path, arch, frames, folder / "converted", flatten_order="HWTC" if needs_order else None)
        model = load_model(folder / "converted")
        convert_s = time.perf_counter() - started
        with torch.no_grad():
            logits = model(*inputs).double().numpy()
        probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
        rows[name] = {
            "format": result.format,
            "format_ok": result.format == expected_format,
            "flatten_order": result.flatten_order,
            "max_abs_logits": float(np.abs(logits - ref["logits"]).max()),
            "max_abs_probs": float(np.abs(probs - ref["probs"]).max()),
            "logit_scale": float(np.abs(ref["logits"]).max()),
            "convert_and_load_s": round(convert_s, 2),
            "file_mb": round(path.stat().st_size / 1e6, 1),
        }
        shutil.rmtree(folder / "converted")
    return rows


def run_torch_side(python: Path, folder: Path, arch: str, frames: int, data_format: str) -> dict[str, dict]:
    proc = subprocess.run(
        [str(python), __file__, "--torch-side", str(folder), "--arch", arch, "--frames", str(frames),
         "--data-format", data_format],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"torch side failed for {arch} T={frames} {data_format}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-side", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--arch", choices=ARCHS, nargs="*", default=list(ARCHS))
    parser.add_argument("--frames", type=int, choices=FRAMES, nargs="*", default=list(FRAMES))
    parser.add_argument("--data-format", default="channels_first", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="T=18 only")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--python", type=Path, default=ROOT / ".venv" / "bin" / "python",
                        help="the project's interpreter, for the conversion and our forward pass")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the Keras files go (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=RESULTS / "keras_equivalence.json")
    args = parser.parse_args(argv)
    if args.torch_side is not None:
        print(json.dumps(torch_side(args.torch_side, args.arch[0], args.frames[0], args.data_format)))
        return 0

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    frames_list = [18] if args.quick else args.frames
    cases = [(a, t, "channels_first") for t in frames_list for a in args.arch]
    cases += [(a, 18, "channels_last") for a in args.arch if 18 in frames_list]
    results = {"keras": keras.__version__, "tensorflow": tf.__version__, "tolerance": args.tolerance,
               "batch": args.batch, "seed": args.seed, "cases": []}
    failed = 0
    for arch, frames, data_format in cases:
        folder = Path(tempfile.mkdtemp(prefix=f"keras-eq-{arch}-{frames}-", dir=args.work_dir))
        try:
            keras_s = keras_case(arch, frames, data_format, folder, args.batch, args.seed)
            keras.backend.clear_session()
            rows = run_torch_side(args.python, folder, arch, frames, data_format)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        for name, row in rows.items():
            row["ok"] = row["format_ok"] and max(row["max_abs_logits"], row["max_abs_probs"]) <= args.tolerance
            failed += not row["ok"]
            results["cases"].append({"arch": arch, "frames": frames, "data_format": data_format, "file": name,
                                     "keras_predict_s": round(keras_s, 2), **row})
            print(f"{arch:<21} T={frames:<3} {data_format:<14} {row['format']:<15} logits {row['max_abs_logits']:.1e}"
                  f"  probs {row['max_abs_probs']:.1e}  {'ok' if row['ok'] else 'FAIL'}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, results)
    print(f"wrote {args.out}: {len(results['cases']) - failed}/{len(results['cases'])} within {args.tolerance:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
