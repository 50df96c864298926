"""Does a speed option change accuracy? Paired LOSO test on the synthetic benchmark.

For each architecture and each LOSO fold, one model is trained exactly as ``python -m train fit``
does (default preset, fp32, full-rate landmarks in the training cache) and its held-out clips are
classified several ways:

- ``baseline``: fp32, test clips preprocessed with landmarks on every frame;
- ``bf16``: the same inputs through :func:`microexp.models.fast.bf16_inference` (bf16 conv and dense);
- ``int8``: the same inputs through :func:`microexp.models.fast.int8_inference` (int8 dense layers);
- ``stride k``: fp32, test clips preprocessed with landmarks on every k-th frame only
  (``FaceSettings.landmark_stride``, linear interpolation in between), as the app would.

The variants see the same trained models and clips, so they are compared *paired*: pooled UF1 / UAR
/ accuracy as the MEGC convention computes them, how many predictions change, and McNemar's exact
test on the clips that one side gets right and the other wrong (``p`` near 1: no evidence of a
difference; below 0.05: a real change). Writes ``bench/results/variants.json`` and a markdown table.

    .venv/bin/python bench/variants.py --data synthetic=DIR [--cache-dir DIR] [--strides 2 3]

``DIR`` is a ``python -m train synth`` output (the README's numbers use 240 clips, seed 0).
35-80 s per architecture on 2 cores, plus preprocessing once per stride (cached); ``--archs``
defaults to every registered architecture.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch
from scipy.stats import binomtest

from bench.common import RESULTS, markdown_table, write_json
from microexp.models import ARCHITECTURES, default_spec, fast
from train.cache import build_tensor_set
from train.datasets import load_dataset
from train.fit import Checkpoints, DistContext, FitConfig, make_folds, predict, train_job
from train.metrics import summarize
from train.tensorset import TensorSet

def _paired(truth: list[int], base: list[int], other: list[int]) -> dict[str, float | int]:
    """Changed predictions and McNemar's exact p-value of ``other`` against ``base``."""
    gained = sum(int(o == t != b) for t, b, o in zip(truth, base, other, strict=True))
    lost = sum(int(b == t != o) for t, b, o in zip(truth, base, other, strict=True))
    changed = sum(int(b != o) for b, o in zip(base, other, strict=True))
    p = binomtest(gained, gained + lost, 0.5).pvalue if gained + lost else 1.0
    return {"changed": changed, "gained": gained, "lost": lost, "mcnemar_p": round(float(p), 4)}


def evaluate(arch: str, sets: dict[str, TensorSet], seed: int, workdir: Path) -> dict[str, dict]:
    """Per-variant pooled metrics of one architecture, its fold models trained once on full-rate data."""
    base_set = sets["baseline"]
    labels = list(base_set.spec.labels)
    config = FitConfig(arch=arch, seed=seed, quiet=True, release=False, synthetic=True)
    ctx = DistContext()
    preds: dict[str, list[int]] = {name: [] for name in (*sets, "bf16", "int8")}
    truth: list[int] = []
    for fold in make_folds("loso", base_set.subjects):
        train_idx = torch.as_tensor(list(fold.train), dtype=torch.long)
        test_idx = torch.as_tensor(list(fold.test), dtype=torch.long)
        checkpoints = Checkpoints(workdir / arch, writer=True)
        model, _ = train_job(f"fold-{fold.name}", base_set.subset(train_idx), config, checkpoints, ctx, False, False)
        truth += base_set.labels[test_idx].tolist()
        for name, tensor_set in sets.items():
            preds[name] += predict(model, tuple(x[test_idx] for x in tensor_set.inputs)).argmax(1).tolist()
        bf16 = fast.bf16_inference(model)
        preds["bf16"] += predict(bf16, tuple(x[test_idx] for x in base_set.inputs)).argmax(1).tolist()
        int8 = fast.int8_inference(model)
        preds["int8"] += predict(int8, tuple(x[test_idx] for x in base_set.inputs)).argmax(1).tolist()
    out = {}
    for name, pred in preds.items():
        m = summarize(truth, pred, labels)
        out[name] = {"uf1": round(m["uf1"], 4), "uar": round(m["uar"], 4), "accuracy": round(m["accuracy"], 4),
                     **_paired(truth, preds["baseline"], pred)}
    return out


def build_parser() -> argparse.ArgumentParser:
    """The CLI; architecture choices and default are every registered architecture at call time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="synthetic=DIR (a `python -m train synth` output)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--strides", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--frames", type=int, default=18)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "variants.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(2)

    records, _ = load_dataset(args.data)
    results: dict[str, dict] = {}
    timings: dict[str, float] = {}
    # one tensor set per input spec (crops, representation) and landmark stride; stride 1 is the training cache
    specs = {arch: default_spec(arch, frames=args.frames) for arch in args.archs}
    keys = {arch: json.dumps(spec.to_dict(), sort_keys=True) for arch, spec in specs.items()}
    sets: dict[tuple[str, int], TensorSet] = {}
    for arch, key in keys.items():
        if (key, 1) in sets:
            continue
        for stride in (1, *args.strides):
            t0 = time.perf_counter()
            sets[key, stride] = build_tensor_set(
                records, specs[arch], args.cache_dir, workers=args.workers, progress=True, landmark_stride=stride
            )
            timings[f"preprocess {arch} spec stride {stride} s"] = round(time.perf_counter() - t0, 1)
    with tempfile.TemporaryDirectory(prefix="microexp-variants-") as tmp:
        for arch in args.archs:
            t0 = time.perf_counter()
            arch_sets = {("baseline" if k == 1 else f"stride {k}"): sets[keys[arch], k]
                         for k in (1, *args.strides)}
            results[arch] = evaluate(arch, arch_sets, args.seed, Path(tmp))
            timings[f"{arch} s"] = round(time.perf_counter() - t0, 1)
            print(arch, {k: (v["uf1"], v["changed"], v["mcnemar_p"]) for k, v in results[arch].items()}, flush=True)
    first = next(iter(sets.values()))
    write_json(args.out, {"data": args.data, "clips": len(first), "subjects": len(set(first.subjects)),
                          "frames": args.frames, "seed": args.seed, "protocol": "loso", "preset": "default",
                          "results": results, "timings": timings})
    rows = [[arch, name, f"{r['uf1']:.3f}", f"{r['uar']:.3f}", f"{r['accuracy']:.3f}", r["changed"],
             f"+{r['gained']} / -{r['lost']}", f"{r['mcnemar_p']:.2f}"]
            for arch, variants in results.items() for name, r in variants.items()]
    print(markdown_table(["model", "variant", "UF1", "UAR", "accuracy", "changed", "right +/-", "McNemar p"], rows))
    return 0



if __name__ == "__main__":
    sys.exit(main())
