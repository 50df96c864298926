"""Speed of the paper's networks on CPU: plain eager PyTorch vs the fast block path (and Keras).

Measures, in one run and one process, for each workload (architecture x frames):
inference milliseconds per clip at batch 1 and 16 (``torch.inference_mode``, eval mode) and training
clips per second (SGD lr 0.01, batch 16, cross-entropy, forward + backward + step), for
``reference`` (``microexp.models.fast`` mode "reference": Conv3d -> max_pool3d -> ReLU), ``fast``
(default fp32 fast path) and ``fast-bf16`` (opt-in, inference only: ``fast.bf16_inference(model)``,
bf16 conv and bf16 dense weights). Medians after warm-up of at least ``--repeats`` rounds, and
until the slowest implementation has run ``--min-seconds``, the calls interleaved round-robin. Writes
``bench/results/models.json`` and prints a markdown table with speed-up ratios; when
``bench/results/keras.json`` (from ``bench/keras_reference.py``) exists, Keras 3 / TensorFlow numbers
and ratios against them are included. Random tensors: speed does not depend on the values.

    .venv/bin/python bench/models.py            # full run: every registered architecture at T=96 and T=18
    .venv/bin/python bench/models.py --quick    # smoke run: fewer repeats, T=18 only
    .venv/bin/python bench/models.py --archs stcnn fusenet-intermediate --frames 96   # a subset

Workloads are named ``<arch>-<frames>``, the names ``bench/keras_reference.py`` writes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import MIN_SECONDS, RESULTS, median_seconds, write_json  # noqa: E402
from microexp.models import ARCHITECTURES, build_model, default_spec, fast  # noqa: E402

FRAMES = (96, 18)  # the paper's CAS(ME)^2 and SMIC specs
IMPLS = (("reference", "reference", "fp32"), ("fast", "fast", "fp32"), ("fast-bf16", "fast", "bf16"))


def workloads(archs: list[str], frames: list[int]) -> dict[str, tuple[str, int]]:
    """``<arch>-<frames>`` -> (arch, frames), longest clips first."""
    return {f"{arch}-{t}": (arch, t) for t in sorted(frames, reverse=True) for arch in archs}


def _model(arch: str, frames: int):
    torch.manual_seed(0)
    return build_model(arch, input_spec=default_spec(arch, frames=frames))


def _in_mode(mode: str, fn):
    def run() -> None:
        with fast.fast_mode(mode):
            fn()

    return run


def measure(arch: str, frames: int, repeats: int, min_seconds: float = MIN_SECONDS) -> dict[str, dict[str, float]]:
    """Inference ms/clip (b1, b16) and training clips/s (b16) per implementation."""
    model = _model(arch, frames).eval()
    bf16_model = fast.bf16_inference(model)
    inputs = {b: model.example_inputs(b) for b in (1, 16)}
    labels = torch.randint(0, model.spec.num_classes, (16,))
    out: dict[str, dict[str, float]] = {name: {} for name, _, _ in IMPLS}
    with torch.inference_mode():
        for batch, reps in ((1, repeats * 3), (16, repeats)):
            fns = {
                name: _in_mode(mode, lambda m=(bf16_model if precision == "bf16" else model), b=batch: m(*inputs[b]))
                for name, mode, precision in IMPLS
            }
            for name, seconds in median_seconds(fns, reps, min_seconds).items():
                out[name][f"infer_b{batch}_ms"] = 1000 * seconds / batch
    del bf16_model
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, fused=True)  # as train.fit; speed does not depend on the weights

    def step() -> None:
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(*inputs[16]), labels).backward()
        opt.step()

    trained = {name: _in_mode(mode, step) for name, mode, precision in IMPLS if precision == "fp32"}
    for name, seconds in median_seconds(trained, max(3, repeats), min_seconds).items():
        out[name]["train_clips_s"] = 16 / seconds
    for name, row in out.items():
        print(f"  {arch} T={frames} {name}: " + ", ".join(f"{k}={v:.2f}" for k, v in row.items()), flush=True)
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(results: dict, keras: dict | None) -> str:
    """Markdown table: absolute numbers per implementation and ratios fast/reference, fast/Keras."""
    lines = [
        "| workload | metric | keras | reference | fast | fast-bf16 | fast vs ref | fast vs keras | bf16 vs keras |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, impls in results["workloads"].items():
        k = (keras or {}).get("workloads", {}).get(name, {})
        for metric, higher_better in (("infer_b1_ms", False), ("infer_b16_ms", False), ("train_clips_s", True)):
            vals = {impl: impls.get(impl, {}).get(metric) for impl in ("reference", "fast", "fast-bf16")}
            kv = k.get(metric)

            def ratio(a: float | None, b: float | None) -> str:
                if a is None or b is None:
                    return "-"
                return f"{(a / b if higher_better else b / a):.2f}x"

            lines.append(
                f"| {name} | {metric} | {_fmt(kv)} | {_fmt(vals['reference'])} | {_fmt(vals['fast'])} | "
                f"{_fmt(vals['fast-bf16'])} | {ratio(vals['fast'], vals['reference'])} | {ratio(vals['fast'], kv)} | "
                f"{ratio(vals['fast-bf16'], kv)} |"
            )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The CLI; architecture choices and default are every registered architecture at call time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 repeats, T=18 only")
    parser.add_argument("--repeats", type=int, default=5, help="at least this many rounds (batch 1: 3x)")
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS, help="and until the slowest has run this long")
    parser.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--frames", type=int, nargs="+", default=None, help=f"clip lengths (default {FRAMES})")
    parser.add_argument("--tune-malloc", action="store_true", help="call fast.tune_malloc() first")
    parser.add_argument("--out", type=Path, default=RESULTS / "models.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    malloc_tuned = fast.tune_malloc() if args.tune_malloc else False
    chosen = workloads(args.archs, args.frames or ([18] if args.quick else list(FRAMES)))
    repeats = 2 if args.quick else args.repeats
    min_seconds = 0.0 if args.quick else args.min_seconds
    results = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "malloc_tuned": malloc_tuned,
        "env": {k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "LD_PRELOAD", "OMP_"))},
        "repeats": repeats,
        "min_seconds": min_seconds,
        "workloads": {},
    }
    for name, (arch, frames) in chosen.items():
        print(f"{name}:", flush=True)
        results["workloads"][name] = measure(arch, frames, repeats, min_seconds)
    results["loadavg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, results)
    keras_path = RESULTS / "keras.json"
    keras = json.loads(keras_path.read_text()) if keras_path.exists() else None
    print()
    print(f"torch {results['torch']}, {results['threads']} threads, load {results['loadavg_start']} -> "
          f"{results['loadavg_end']}" + (f"; keras {keras.get('keras')} / tf {keras.get('tensorflow')}" if keras else ""))
    print(table(results, keras))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
