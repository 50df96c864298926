"""The paper's networks in Keras 3 (TensorFlow backend), timed on the workloads of bench/models.py.

The original code is Keras 2 channels-first with input (1, H, W, T); here the same layers run
channels-last on (H, W, T, 1), so the kernel is still (3, 3, 15) and every layer and parameter count
matches the paper's (checked below against the counts in README.md, The models). Runs in its own
environment, never in the project's .venv:

    python3 -m venv /work/keras-venv
    /work/keras-venv/bin/pip install -r bench/requirements-keras.txt
    /work/keras-venv/bin/python bench/keras_reference.py [--quick]

Measures inference ms per clip at batch 1 and 16 (``predict_on_batch``, the compiled predict
function) and training clips/s (``train_on_batch``, SGD lr 0.01, batch 16, categorical
cross-entropy), medians after warm-up; writes ``bench/results/keras.json``. ``--serve`` instead
answers timing requests on stdin: ``bench/models.py`` starts it so that Keras and PyTorch are timed
in the same run, round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

from bench.common import (  # noqa: E402
    MIN_SECONDS,
    MODEL_WORKLOADS,
    QUICK_MODEL_WORKLOADS,
    RESULTS,
    median_seconds,
    write_json,
)

WORKLOADS, QUICK = MODEL_WORKLOADS, QUICK_MODEL_WORKLOADS
PARAMS = {  # the paper's networks, 64x64 / 32x32 input, 3 classes (README.md, The models)
    ("stcnn", 96): 44_241_667,
    ("stcnn", 18): 1_643_267,
    ("fusenet-intermediate", 96): 177_088_515,
    ("fusenet-intermediate", 18): 6_694_915,
    ("fusenet-late", 96): 177_221_123,
    ("fusenet-late", 18): 6_827_523,
}
KERNEL = (3, 3, 15)  # (H, W, T): 15 frames


def stcnn(frames: int, size: int = 64, classes: int = 3) -> keras.Model:
    """MicroExpSTCNN as in the original code."""
    normal = keras.initializers.RandomNormal(0.0, 0.05)
    x = inp = keras.Input((size, size, frames, 1))
    x = layers.Conv3D(32, KERNEL, activation="relu")(x)
    x = layers.MaxPooling3D(3)(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu", kernel_initializer=normal)(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(classes, activation="softmax", kernel_initializer=normal)(x)
    return keras.Model(inp, x)


def _branch(x):
    x = layers.Conv3D(32, KERNEL)(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling3D(3)(x)
    return x


def fusenet(frames: int, fusion: str, size: int = 32, classes: int = 3) -> keras.Model:
    """MicroExpFuseNet (intermediate or late), dense layers linear as in the original."""
    inputs = [keras.Input((size, size, frames, 1)) for _ in range(2)]
    if fusion == "intermediate":
        feats = [layers.Flatten()(layers.Dropout(0.5)(_branch(x))) for x in inputs]
        x = layers.Concatenate()(feats)
        x = layers.Dropout(0.5)(layers.Dense(1024)(x))
        x = layers.Dropout(0.5)(layers.Dense(128)(x))
    else:
        heads = []
        for x in inputs:
            x = layers.Flatten()(layers.Dropout(0.5)(layers.Activation("relu")(_branch(x))))
            x = layers.Dropout(0.5)(layers.Dense(1024)(x))
            heads.append(layers.Dropout(0.5)(layers.Dense(128)(x)))
        x = layers.Concatenate()(heads)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


def build(arch: str, frames: int) -> keras.Model:
    model = stcnn(frames) if arch == "stcnn" else fusenet(frames, arch.removeprefix("fusenet-"))
    expected = PARAMS[(arch, frames)]
    if model.count_params() != expected:
        raise AssertionError(f"{arch} T={frames}: {model.count_params()} parameters, expected {expected}")
    return model


def measure(arch: str, frames: int, repeats: int, min_seconds: float = MIN_SECONDS) -> dict[str, float]:
    model = build(arch, frames)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)

    def inputs(batch: int):
        xs = [rng.standard_normal((batch, *i.shape[1:]), dtype=np.float32) for i in model.inputs]
        return xs if len(xs) > 1 else xs[0]

    row: dict[str, float] = {}
    for batch, reps in ((1, repeats * 3), (16, repeats)):
        x = inputs(batch)
        seconds = median_seconds({"keras": lambda: model.predict_on_batch(x)}, reps, min_seconds)["keras"]
        row[f"infer_b{batch}_ms"] = 1000 * seconds / batch
    x, y = inputs(16), keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
    seconds = median_seconds({"keras": lambda: model.train_on_batch(x, y)}, max(3, repeats), min_seconds)["keras"]
    row["train_clips_s"] = 16 / seconds
    print(f"  keras {arch} T={frames}: {row}", flush=True)
    return row


class Served:
    """One workload held by :func:`serve`: the compiled model and its fixed inputs."""

    def __init__(self, workload: str) -> None:
        arch, _, frames = workload.rpartition("-")  # "<arch>-<frames>", as bench/models.py names them
        self.model = build(arch, int(frames))
        self.model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="categorical_crossentropy")
        rng = np.random.default_rng(0)

        def inputs(batch: int):
            xs = [rng.standard_normal((batch, *i.shape[1:]), dtype=np.float32) for i in self.model.inputs]
            return xs if len(xs) > 1 else xs[0]

        self.calls = {"infer_b1": (lambda x=inputs(1): self.model.predict_on_batch(x)),
                      "infer_b16": (lambda x=inputs(16): self.model.predict_on_batch(x))}
        x, y = inputs(16), keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
        self.calls["train"] = lambda: self.model.train_on_batch(x, y)

    def time(self, what: str, calls: int) -> list[float]:
        """Seconds of each of ``calls`` back-to-back calls (measured here: the pipe is not timed)."""
        out = []
        for _ in range(calls):
            start = time.perf_counter()
            self.calls[what]()
            out.append(time.perf_counter() - start)
        return out


def serve(threads: int | None) -> int:
    """JSON-lines server for ``bench/models.py``, which interleaves Keras with PyTorch round by round.

    Requests on stdin, one reply line each on the original stdout (everything else TensorFlow prints goes
    to stderr): ``{"cmd": "info"}``, ``{"cmd": "load", "workload": NAME}``, ``{"cmd": "time", "what":
    "infer_b1"|"infer_b16"|"train", "calls": N}`` -> ``{"seconds": [...]}``, ``{"cmd": "quit"}``.
    """
    if threads:  # the same intra-op thread count as the PyTorch side
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    reply_to = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    held: Served | None = None
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["cmd"] == "quit":
                break
            if request["cmd"] == "info":
                answer = {"keras": keras.__version__, "tensorflow": tf.__version__, "backend": keras.backend.backend(),
                          "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                          "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}
            elif request["cmd"] == "load":
                held = None
                keras.backend.clear_session()
                held = Served(request["workload"])
                answer = {"params": held.model.count_params()}
            else:
                answer = {"seconds": held.time(request["what"], int(request.get("calls", 1)))}
        except Exception as exc:  # noqa: BLE001 - the client prints it and stops
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        reply_to.write(json.dumps(answer) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5, help="at least this many rounds (batch 1: 3x)")
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS, help="and until the slowest has run this long")
    parser.add_argument("--workloads", nargs="*", choices=sorted(WORKLOADS))
    parser.add_argument("--out", type=Path, default=RESULTS / "keras.json")
    parser.add_argument("--serve", action="store_true", help="JSON-lines timing server for bench/models.py")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow intra-op threads (default: all)")
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.threads)
    names = args.workloads or (list(QUICK) if args.quick else list(WORKLOADS))
    repeats = 2 if args.quick else args.repeats
    min_seconds = 0.0 if args.quick else args.min_seconds
    results = {
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "backend": keras.backend.backend(),
        "threads": {"intra": tf.config.threading.get_intra_op_parallelism_threads(), "cpu_count": os.cpu_count()},
        "loadavg_start": os.getloadavg(),
        "repeats": repeats,
        "min_seconds": min_seconds,
        "workloads": {},
    }
    for name in names:
        results["workloads"][name] = measure(*WORKLOADS[name], repeats, min_seconds)
        keras.backend.clear_session()
    results["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
