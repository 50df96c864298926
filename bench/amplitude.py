"""Accuracy against expression amplitude on the synthetic benchmark (LOSO over the 4 real people).

For each apex amplitude (largest landmark displacement as a fraction of the inter-ocular distance) a
synthetic set is generated with that amplitude fixed, and one architecture is trained and evaluated
under LOSO with the default preset, exactly through the user-facing CLIs (`python -m train synth`,
`python -m train fit --no-release`). Results go to bench/results/amplitude.json and a markdown table.

Usage: ``python bench/amplitude.py [--amplitudes 0.02 0.04 0.06 0.08] [--clips 120] [--arch stcnn]``
Expect about 4-6 minutes per amplitude on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, loso_metrics, markdown_table, run_quietly, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amplitudes", type=float, nargs="+", default=[0.02, 0.04, 0.06, 0.08])
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--arch", default="stcnn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "amplitude.json")
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="microexp-amp-") as tmp:
        for amp in args.amplitudes:
            data, run_dir = Path(tmp) / f"synth-{amp}", Path(tmp) / f"run-{amp}"
            t0 = time.perf_counter()
            run_quietly("train", "synth", "--out", data, "--clips", str(args.clips), "--seed", str(args.seed),
                        "--amplitude", str(amp), "--quiet")
            extra = ["--cache-dir", Path(tmp) / "cache", "--workers", "2"]
            if args.epochs:
                extra += ["--epochs", str(args.epochs)]
            m = loso_metrics(args.arch, f"synthetic={data}", args.seed, run_dir, *extra)
            rows.append({"amplitude": amp, "accuracy": m["accuracy"], "uf1": m["uf1"], "uar": m["uar"],
                         "clips": m["n"], "seconds": round(time.perf_counter() - t0, 1)})
            print(f"amplitude {amp:.3f}: acc {m['accuracy']:.3f} UF1 {m['uf1']:.3f} UAR {m['uar']:.3f}", flush=True)
    result = {"arch": args.arch, "protocol": "loso", "preset": "default", "clips": args.clips, "seed": args.seed,
              "data": "synthetic (4 public-domain people, one subject each)", "rows": rows}
    write_json(args.out, result)
    table = [[f"{r['amplitude']:.3f}", f"{r['accuracy']:.3f}", f"{r['uf1']:.3f}", f"{r['uar']:.3f}"] for r in rows]
    print("\n" + markdown_table(["apex amplitude (x IOD)", "accuracy", "UF1", "UAR"], table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
