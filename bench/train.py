"""Training throughput of the real training loop, in clips per second, per architecture and spec.

Unlike ``bench/models.py`` (a bare forward/backward/step on random tensors), this times
:func:`train.fit.train_job` itself: batching, augmentation, the optimiser of the preset and the
per-epoch safetensors checkpoint, on a random :class:`~train.tensorset.TensorSet` of the right
shapes. The first epoch is a warm-up; the median over the remaining epochs is reported.

Workloads: every architecture of ``--archs`` (default: every registered one) at T=18 on 96 clips
(its SMIC spec and the zoo's) and, unless ``--quick``, at T=96 on 48 clips (the paper's CAS(ME)^2 spec).

Usage: ``python bench/train.py [--quick] [--archs NAME ...] [--threads 2] [--out bench/results/train.json]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.common import markdown_table, write_json  # noqa: E402
from microexp.models import ARCHITECTURES, default_spec  # noqa: E402
from microexp.models.fast import tune_malloc  # noqa: E402
from train.fit import Checkpoints, DistContext, FitConfig, train_job  # noqa: E402
from train.presets import PRESETS  # noqa: E402
from train.tensorset import TensorSet  # noqa: E402

# frames -> clips per epoch: T=18 is the paper's SMIC spec and the zoo's, T=96 its CAS(ME)^2 spec
CLIPS = {18: 96, 96: 48}


def workloads(archs: list[str], quick: bool) -> list[tuple[str, int, int]]:
    """(arch, frames, clips) for each architecture: T=18 always, T=96 unless ``quick``."""
    frames = (18,) if quick else (18, 96)
    return [(arch, t, CLIPS[t]) for t in frames for arch in archs]


def random_set(arch: str, frames: int, clips: int) -> TensorSet:
    spec = default_spec(arch, frames=frames)
    g = torch.Generator().manual_seed(0)
    inputs = tuple(torch.randn(clips, *shape, generator=g) for shape in spec.input_shapes())
    return TensorSet(
        inputs=inputs,
        labels=torch.arange(clips) % spec.num_classes,
        subjects=tuple(f"s{i % 4}" for i in range(clips)),
        clips=tuple(f"c{i}" for i in range(clips)),
        spec=spec,
    )


def measure(arch: str, frames: int, clips: int, preset_name: str, epochs: int) -> dict[str, float]:
    data = random_set(arch, frames, clips)
    times: list[float] = []
    preset = replace(PRESETS[preset_name], epochs=1)
    with tempfile.TemporaryDirectory() as tmp:
        for epoch in range(epochs):
            config = FitConfig(arch=arch, preset=preset, quiet=True)
            t0 = time.perf_counter()
            train_job(f"bench-{epoch}", data, config, Checkpoints(Path(tmp), writer=True), DistContext(), False, False)
            times.append(time.perf_counter() - t0)
    steady = statistics.median(times[1:]) if len(times) > 1 else times[0]
    return {"clips_per_s": clips / steady, "epoch_s": steady, "clips": clips}


def build_parser() -> argparse.ArgumentParser:
    """The CLI; architecture choices and default are every registered architecture at call time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T=18 workloads only, 2 epochs")
    parser.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=["default", "paper"])
    parser.add_argument("--no-tune-malloc", action="store_true",
                        help="glibc's default allocator policy (python -m train fit tunes it unless told not to)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "train.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    tuned = False if args.no_tune_malloc else tune_malloc()
    epochs = 2 if args.quick else 4
    rows = []
    for arch, frames, clips in workloads(args.archs, args.quick):
        for preset in args.presets:
            r = measure(arch, frames, clips, preset, epochs)
            rows.append({"arch": arch, "frames": frames, "preset": preset, **r})
            print(f"{arch:22s} T={frames:<3d} {preset:8s} {r['clips_per_s']:8.1f} clips/s", flush=True)
    result = {"threads": args.threads, "torch": torch.__version__, "malloc_tuned": tuned,
              "load_average": os.getloadavg(), "rows": rows}
    write_json(args.out, result)
    table = [[r["arch"], r["frames"], r["preset"], f"{r['clips_per_s']:.1f}"] for r in rows]
    print("\n" + markdown_table(["architecture", "T", "preset", "clips/s"], table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
