"""How much do LOSO scores move with the training seed alone? Same data, same recipe, other seeds.

On a small benchmark one run's UF1 is one draw: weight init, clip order, augmentation and dropout
masks all follow the seed. This runs ``python -m train fit --no-release`` (the user-facing CLI,
LOSO, default preset) for each architecture and seed on one synthetic set and reports each run
and mean +- sample standard deviation per architecture. Differences between architectures or
options smaller than that spread are not evidence of anything. Writes ``bench/results/seeds.json``.

Usage: ``python bench/seeds.py --data synthetic=DIR [--seeds 0 1 2] [--archs NAME ...] [--cache-dir DIR]``
(``--archs`` defaults to every architecture in ``microexp.models.ARCHS``).
About 1-2 minutes per architecture and seed on 2 cores (240 clips, T=18).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, loso_metrics, markdown_table, write_json
from microexp.models import ARCHITECTURES


def build_parser() -> argparse.ArgumentParser:
    """The CLI; architecture choices and default are every registered architecture at call time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="synthetic=DIR (a `python -m train synth` output)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "seeds.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    runs = []
    with tempfile.TemporaryDirectory(prefix="microexp-seeds-") as tmp:
        for arch in args.archs:
            for seed in args.seeds:
                extra = ["--cache-dir", args.cache_dir] if args.cache_dir else []
                t0 = time.perf_counter()
                m = loso_metrics(arch, args.data, seed, Path(tmp) / f"{arch}-{seed}", *extra)
                runs.append({"arch": arch, "seed": seed, "uf1": round(m["uf1"], 4), "uar": round(m["uar"], 4),
                             "accuracy": round(m["accuracy"], 4), "seconds": round(time.perf_counter() - t0, 1)})
                print(f"{arch} seed {seed}: UF1 {m['uf1']:.3f} UAR {m['uar']:.3f}", flush=True)
    summary = {}
    for arch in args.archs:
        mine = [r for r in runs if r["arch"] == arch]
        summary[arch] = {k: {"mean": round(statistics.mean(r[k] for r in mine), 4),
                             "sd": round(statistics.stdev(r[k] for r in mine), 4) if len(mine) > 1 else 0.0}
                         for k in ("uf1", "uar")}
    write_json(args.out, {"data": args.data, "protocol": "loso", "preset": "default", "seeds": args.seeds,
                          "runs": runs, "summary": summary})
    rows = [[arch, " / ".join(f"{r['uf1']:.3f}" for r in runs if r["arch"] == arch),
             f"{s['uf1']['mean']:.3f} +- {s['uf1']['sd']:.3f}", f"{s['uar']['mean']:.3f} +- {s['uar']['sd']:.3f}"]
            for arch, s in summary.items()]
    print(markdown_table(["model", "UF1 per seed", "UF1 mean +- sd", "UAR mean +- sd"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
