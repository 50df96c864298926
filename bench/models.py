"""Speed of the paper's networks on CPU: Keras/TensorFlow, plain PyTorch and the fast path, in one run.

Measures, for each workload (architecture x frames), inference milliseconds per clip at batch 1 and
16 (eval mode, ``torch.inference_mode``; Keras ``predict_on_batch``) and training clips per second
(SGD lr 0.01, batch 16, cross-entropy, forward + backward + step) of:

- ``keras``: ``bench/keras_reference.py --serve``, the same networks in Keras 3 / TensorFlow, run as a
  subprocess in its own environment (``--keras-python``) and timed by itself (the pipe is not timed);
- ``reference``: plain PyTorch layers (``fast`` mode "reference": Conv3d -> max_pool3d -> ReLU);
- ``fast``: the default fp32 fast path (inference default and exact training);
- ``fast-int8`` (inference only): dense layers int8 (``fast.int8_inference``), a candidate;
- ``fast-bf16`` (inference only): ``fast.bf16_inference``, the opt-in ``--bf16``; it pays only where
  the CPU has native bf16 (``avx512_bf16`` or AMX, recorded below), elsewhere it is timed to show so.

Every implementation, Keras included, is called once per round, round-robin, after two warm-up rounds,
for at least ``--repeats`` rounds and until the slowest has run ``--min-seconds``; medians. Load from
other processes therefore hits every implementation alike, and every ratio printed comes from this one
run. A stored Keras result is never read: without the Keras environment the run stops, unless
``--no-keras`` is given (then the Keras columns are empty). Records the CPU model, its bf16/AMX/VNNI
flags, torch's kernel level, threads and the load average (start, each workload, end). Writes
``bench/results/models.json`` and prints a markdown table. Random tensors: speed does not depend on
the values.

    .venv/bin/python bench/models.py            # every registered architecture at T=96 and T=18
    .venv/bin/python bench/models.py --quick    # smoke run: fewer repeats, T=18 only
    .venv/bin/python bench/models.py --archs stcnn --frames 96 18   # a subset
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import MIN_SECONDS, RESULTS, markdown_table, median_timed, write_json  # noqa: E402
from microexp.models import ARCHITECTURES, build_model, default_spec, fast  # noqa: E402

FRAMES = (96, 18)  # the paper's CAS(ME)^2 and SMIC specs
KERAS_ARCHS = ("stcnn", "fusenet-intermediate", "fusenet-late")  # what keras_reference.py builds
KERAS_PYTHON = Path(os.environ.get("MICROEXP_KERAS_PYTHON", "/work/keras-venv/bin/python"))
INFER = ("reference", "fast", "fast-int8", "fast-bf16", "keras")
TRAIN = ("reference", "fast", "keras")
METRICS = (("infer_b1_ms", False), ("infer_b16_ms", False), ("train_clips_s", True))  # (name, higher is better)

Timer = Callable[[], float]  # one call, returns its own duration in seconds


class KerasServer:
    """``bench/keras_reference.py --serve`` in the Keras environment, for round-by-round timing."""

    def __init__(self, python: Path, threads: int) -> None:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.proc = subprocess.Popen(
            [str(python), str(ROOT / "bench" / "keras_reference.py"), "--serve", "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip

    def ask(self, **request: object) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the Keras server stopped (exit {self.proc.wait()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"Keras server: {answer['error']}")
        return answer

    def timer(self, what: str) -> Timer:
        return lambda: self.ask(cmd="time", what=what, calls=1)["seconds"][0]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.ask(cmd="quit")
            except (RuntimeError, BrokenPipeError, json.JSONDecodeError):
                pass
        self.proc.wait(timeout=30)


def _timed(fn: Callable[[], object], mode: str = "fast") -> Timer:
    def run() -> float:
        with fast.fast_mode(mode):
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start

    return run


def workloads(archs: list[str], frames: list[int]) -> dict[str, tuple[str, int]]:
    """``<arch>-<frames>`` -> (arch, frames), longest clips first (the names keras_reference.py uses)."""
    return {f"{arch}-{t}": (arch, t) for t in sorted(frames, reverse=True) for arch in archs}


def measure(
    arch: str,
    frames: int,
    repeats: int,
    min_seconds: float = MIN_SECONDS,
    keras: KerasServer | None = None,
    skip: tuple[str, ...] = (),
) -> dict[str, dict[str, float]]:
    """Inference ms/clip (b1, b16) and training clips/s (b16) per implementation (Keras when a server
    is given and it builds ``arch``; none of ``skip``)."""
    name = f"{arch}-{frames}"
    torch.manual_seed(0)
    model = build_model(arch, input_spec=default_spec(arch, frames=frames)).eval()
    copies = {"fast-int8": fast.int8_inference, "fast-bf16": fast.bf16_inference}
    variants = {impl: copies[impl](model) if impl in copies else model
                for impl in INFER if impl != "keras" and impl not in skip}
    with_keras = keras is not None and arch in KERAS_ARCHS
    if with_keras:
        keras.ask(cmd="load", workload=name)
    inputs = {b: model.example_inputs(b) for b in (1, 16)}
    labels = torch.randint(0, model.spec.num_classes, (16,))
    out: dict[str, dict[str, float]] = {impl: {} for impl in INFER}
    with torch.inference_mode():
        for batch, reps in ((1, repeats * 3), (16, repeats)):
            timers = {impl: _timed(lambda m=variants[impl], b=batch: m(*inputs[b]),
                                   "reference" if impl == "reference" else "fast")
                      for impl in variants}  # fmt: skip
            if with_keras:
                timers["keras"] = keras.timer(f"infer_b{batch}")
            for impl, seconds in median_timed(timers, reps, min_seconds).items():
                out[impl][f"infer_b{batch}_ms"] = 1000 * seconds / batch
            print(f"  {name} infer_b{batch}_ms: " + ", ".join(f"{i} {r[f'infer_b{batch}_ms']:.2f}"
                                                          for i, r in out.items() if r), flush=True)  # fmt: skip
    del variants
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, fused=True)  # as train.fit; speed does not depend on the weights

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(*inputs[16]), labels).backward()
        opt.step()

    timers = {impl: _timed(step, impl) for impl in TRAIN if impl != "keras" and impl not in skip}
    if with_keras:
        timers["keras"] = keras.timer("train")
    for impl, seconds in median_timed(timers, max(3, repeats), min_seconds).items():
        out[impl]["train_clips_s"] = 16 / seconds
    out = {impl: row for impl, row in out.items() if row}
    print(f"  {name} train_clips_s: " + ", ".join(f"{i} {r['train_clips_s']:.2f}" for i, r in out.items()
                                                  if "train_clips_s" in r), flush=True)  # fmt: skip
    return out


def _ratio(a: float | None, b: float | None, higher_better: bool) -> str:
    """How many times better ``a`` is than ``b`` (speed-up: >1 means ``a`` is faster)."""
    if a is None or b is None:
        return "-"
    return f"{(a / b if higher_better else b / a):.2f}x"


def table(results: dict) -> str:
    """Markdown table: absolute numbers per implementation, then speed-ups against Keras and the reference."""
    headers = ["workload", "metric", "keras", "reference", "fast", "fast-int8", "fast-bf16",
               "fast vs keras", "int8 vs keras", "bf16 vs keras", "fast vs ref"]  # fmt: skip
    rows = []
    for name, impls in results["workloads"].items():
        for metric, higher in METRICS:
            v = {impl: impls.get(impl, {}).get(metric) for impl in INFER}
            rows.append([name, metric, *("-" if v[i] is None else f"{v[i]:.1f}" for i in
                                         ("keras", "reference", "fast", "fast-int8", "fast-bf16")),
                         _ratio(v["fast"], v["keras"], higher), _ratio(v["fast-int8"], v["keras"], higher),
                         _ratio(v["fast-bf16"], v["keras"], higher),
                         _ratio(v["fast"], v["reference"], higher)])  # fmt: skip
    return markdown_table(headers, rows)


def machine() -> dict:
    """What the numbers depend on: CPU model and flags, torch's kernel level, threads, allocator settings."""
    features = fast.cpu_features()
    return {
        "cpu": features.model or platform.processor() or platform.machine(),
        "cpu_flags": {"avx512_bf16": features.avx512_bf16, "amx_bf16": features.amx_bf16,
                      "avx512_vnni": features.avx512_vnni, "avx_vnni": features.avx_vnni},
        "native_bf16": features.native_bf16,
        "torch_capability": features.capability,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "env": {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "LD_PRELOAD", "OMP_", "MKL_"))},
    }  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The CLI; architecture choices and default are every registered architecture at call time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 repeats, no minimum time, T=18 only")
    parser.add_argument("--repeats", type=int, default=5, help="at least this many rounds (batch 1: 3x)")
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS,
                        help="and until the slowest has run this long")
    parser.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--frames", type=int, nargs="+", default=None, help=f"clip lengths (default {FRAMES})")
    parser.add_argument("--keras-python", type=Path, default=KERAS_PYTHON,
                        help="python of the Keras environment (bench/requirements-keras.txt; $MICROEXP_KERAS_PYTHON)")
    parser.add_argument("--no-keras", action="store_true", help="time PyTorch only (the Keras columns stay empty)")
    parser.add_argument("--skip", nargs="+", default=[], choices=("reference", "fast-int8", "fast-bf16"),
                        help="leave these implementations out (the reference layers take most of a T=96 run)")
    parser.add_argument("--tune-malloc", action="store_true", help="call fast.tune_malloc() first")
    parser.add_argument("--out", type=Path, default=RESULTS / "models.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.no_keras and not args.keras_python.exists():
        print(f"error: no Keras environment at {args.keras_python} (create it as bench/requirements-keras.txt "
              "says, point --keras-python at it, or pass --no-keras)", file=sys.stderr)
        return 2
    malloc_tuned = fast.tune_malloc() if args.tune_malloc else False
    chosen = workloads(args.archs, args.frames or ([18] if args.quick else list(FRAMES)))
    repeats = 2 if args.quick else args.repeats
    min_seconds = 0.0 if args.quick else args.min_seconds
    results = {**machine(), "malloc_tuned": malloc_tuned, "repeats": repeats, "min_seconds": min_seconds,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "loadavg_start": os.getloadavg(),
               "keras": None, "workloads": {}, "loadavg": {}}  # fmt: skip
    keras = None if args.no_keras else KerasServer(args.keras_python, torch.get_num_threads())
    try:
        if keras is not None:
            results["keras"] = keras.ask(cmd="info")
        for name, (arch, frames) in chosen.items():
            print(f"{name}:", flush=True)
            results["workloads"][name] = measure(arch, frames, repeats, min_seconds, keras, tuple(args.skip))
            results["loadavg"][name] = os.getloadavg()
    finally:
        if keras is not None:
            keras.close()
    results["loadavg_end"] = os.getloadavg()
    write_json(args.out, results)
    k = results["keras"]
    print(f"\n{results['cpu']} (torch kernels {results['torch_capability']}, native bf16: {results['native_bf16']}), "
          f"torch {results['torch']}, {results['threads']} threads"
          + (f", keras {k['keras']} / tf {k['tensorflow']} ({k['intra_op_threads']} intra-op threads)" if k else
             ", no Keras (--no-keras)")
          + f"; load {results['loadavg_start'][0]:.2f} -> {results['loadavg_end'][0]:.2f}, {results['date']}")
    print(table(results))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
