"""Late fusion of two models' cross-generator predictions, offline, from ``bench/crossgen.py`` result files.

Do two views of a clip add up? ``crossgen.py`` keeps each test clip's class probabilities (the last
field of its ``clips`` lines); this script pairs two result files run on the SAME sets and seeds (model
A and model B, one pair per synth draw), fuses each clip's probabilities and scores the fused labels as
``crossgen.py`` scores a model: UF1, UAR, accuracy, per-class recall per run (seed x direction x mode),
mean +- sample sd over the runs of each draw and over all runs pooled, and what each recipe was called.

Fusion rules: ``mean`` (arithmetic mean of the two probability vectors) and ``geometric`` (normalised
geometric mean, i.e. the mean of the log-probabilities: a class one model rules out stays ruled out).
``calibrated``: the mean after each model's probabilities are tempered by its own temperature, fitted
(as ``train fit`` fits the zoo's) on the same run's ``within`` predictions, i.e. the training generator's
held-out persons, never the test clips: a model that is confidently wrong does not simply outvote the
other. ``a`` and ``b`` alone are recomputed from the same stored probabilities, a check against the
files' own summaries.

Usage: ``python bench/crossgen_fuse.py --a A_d0.json A_d1.json --b B_d0.json B_d1.json [--draws d0 d1]
--out FILE``; the i-th file of ``--a`` pairs with the i-th of ``--b``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.common import markdown_table  # noqa: E402
from bench.crossgen import parse_clip, per_recipe, pooled  # noqa: E402

RUN_KEYS = ("seed", "train", "test", "mode")
RULES = ("a", "b", "mean", "geometric", "calibrated")


def load_runs(path: Path) -> tuple[dict[tuple, dict[str, dict[str, Any]]], tuple[str, ...], str]:
    """A result file -> ({(seed, train, test, mode): {clip: row}}, labels, arch).

    Raises SystemExit when the file holds no probabilities (made before ``crossgen.py`` kept them)."""
    data = json.loads(path.read_text())
    labels = tuple(data["summary"][0]["recall"])
    runs: dict[tuple, dict[str, dict[str, Any]]] = {}
    archs = set()
    for run in data["clips"]:
        archs.add(run["arch"])
        rows = [parse_clip(line) for line in run["rows"]]
        if any(r["probs"] is None or len(r["probs"]) != len(labels) for r in rows):
            raise SystemExit(f"{path}: its clips carry no class probabilities; rerun bench/crossgen.py")
        runs[tuple(run[k] for k in RUN_KEYS)] = {r["clip"]: r for r in rows}
    if len(archs) != 1:
        raise SystemExit(f"{path}: one architecture per file, found {sorted(archs)}")
    return runs, labels, archs.pop()


def temper(p: np.ndarray, t: float) -> np.ndarray:
    """Probabilities (N, K) -> softmax(log p / t): the temperature applied to a model's output."""
    z = np.log(np.clip(p, 1e-12, None)) / t
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def within_temperature(runs: dict[tuple, dict[str, dict[str, Any]]], key: tuple, labels: tuple[str, ...]) -> float:
    """The temperature fitted on the ``within`` run (training generator, held-out persons) matching the
    test run ``key`` (same seed and training side); 1.0 when the file holds none."""
    from train.calibration import fit_temperature

    seed, train, _, _ = key
    own = runs.get((seed, train, train, "within"))
    if not own:
        return 1.0
    rows = list(own.values())
    z = np.log(np.clip(np.asarray([r["probs"] for r in rows], dtype=np.float64), 1e-12, None))
    return fit_temperature(z, [labels.index(r["truth"]) for r in rows])


def fuse(pa: np.ndarray, pb: np.ndarray, rule: str, temperatures: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """(N, K) probabilities of two models -> (N, K) fused by ``rule`` (see the module docstring);
    ``temperatures`` (of a, of b) are used by ``calibrated`` only."""
    if rule == "calibrated":
        return (temper(pa, temperatures[0]) + temper(pb, temperatures[1])) / 2.0
    if rule == "a":
        return pa
    if rule == "b":
        return pb
    if rule == "mean":
        return (pa + pb) / 2.0
    if rule == "geometric":
        g = np.exp((np.log(np.clip(pa, 1e-12, None)) + np.log(np.clip(pb, 1e-12, None))) / 2.0)
        return g / g.sum(axis=1, keepdims=True)
    raise ValueError(f"unknown fusion rule {rule!r}; known: {RULES}")


def fuse_pair(
    a: dict[tuple, dict[str, dict[str, Any]]], b: dict[tuple, dict[str, dict[str, Any]]], labels: tuple[str, ...],
    draw: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every run both files hold -> (one scored row per run and rule, per-clip rows for ``per_recipe``).

    Raises SystemExit when the files disagree on a run's clips or their truth (not the same sets)."""
    shared = sorted(set(a) & set(b))
    if not shared:
        raise SystemExit(f"draw {draw}: the two files share no (seed, train, test, mode) run")
    scored, clips = [], []
    for key in shared:
        ra, rb = a[key], b[key]
        if set(ra) != set(rb) or any(ra[c]["truth"] != rb[c]["truth"] for c in ra):
            raise SystemExit(f"draw {draw}, run {key}: the files test different clips; fuse runs on the same sets")
        order = sorted(ra)
        truth = [ra[c]["truth"] for c in order]
        pa = np.asarray([ra[c]["probs"] for c in order], dtype=np.float64)
        pb = np.asarray([rb[c]["probs"] for c in order], dtype=np.float64)
        temperatures = (within_temperature(a, key, labels), within_temperature(b, key, labels))
        for rule in RULES:
            pred = [labels[int(k)] for k in fuse(pa, pb, rule, temperatures).argmax(1)]
            run = dict(zip(RUN_KEYS, key, strict=True))
            scored.append({"draw": draw, "rule": rule, **run, **pooled(truth, pred, labels),
                           "temperatures": [round(t, 4) for t in temperatures]})  # fmt: skip
            clips += [{"arch": rule, "train": run["train"], "test": run["test"], "mode": run["mode"],
                       "truth": t, "recipe": ra[c]["recipe"], "prediction": p}
                      for c, t, p in zip(order, truth, pred, strict=True)]  # fmt: skip
    return scored, clips


def summarise(scored: list[dict[str, Any]], group: tuple[str, ...]) -> list[dict[str, Any]]:
    """Mean +- sample sd of UF1 / UAR / accuracy and mean recall over the runs of each ``group`` key."""
    keys = sorted({tuple(r[g] for g in group) for r in scored}, key=lambda k: tuple(str(x) for x in k))
    out = []
    for key in keys:
        mine = [r for r in scored if tuple(r[g] for g in group) == key]
        row: dict[str, Any] = {**dict(zip(group, key, strict=True)), "runs": len(mine)}
        for k in ("uf1", "uar", "accuracy"):
            values = [r[k] for r in mine]
            row[k] = {"mean": round(statistics.mean(values), 4),
                      "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0}  # fmt: skip
        row["recall"] = {c: round(statistics.mean(r["recall"][c] for r in mine), 4) for c in mine[0]["recall"]}
        out.append(row)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", type=Path, nargs="+", required=True, help="model A's crossgen result files, one per draw")
    p.add_argument("--b", type=Path, nargs="+", required=True, help="model B's, in the same draw order")
    p.add_argument("--draws", nargs="+", default=None, help="names of the draws (default d0 d1 ...)")
    p.add_argument("--out", type=Path, default=None, help="JSON result (printed tables only when absent)")
    return p


def main(argv: list[str] | None = None) -> int:
    from microexp.atomic import write_json

    args = build_parser().parse_args(argv)
    if len(args.a) != len(args.b):
        raise SystemExit(f"--a has {len(args.a)} files, --b {len(args.b)}: one pair per draw")
    draws = args.draws or [f"d{i}" for i in range(len(args.a))]
    if len(draws) != len(args.a):
        raise SystemExit("--draws needs one name per pair of files")
    scored, clips, labels, archs = [], [], (), set()
    for draw, fa, fb in zip(draws, args.a, args.b, strict=True):
        a, labels_a, arch_a = load_runs(fa)
        b, labels_b, arch_b = load_runs(fb)
        if labels_a != labels_b:
            raise SystemExit(f"{fa} and {fb} have different labels: {labels_a} vs {labels_b}")
        labels, archs = labels_a, archs | {(arch_a, arch_b)}
        s, c = fuse_pair(a, b, labels, draw)
        scored += s
        clips += c
    (arch_a, arch_b), = archs if len(archs) == 1 else (("A", "B"),)
    per_draw = summarise(scored, ("rule", "train", "test", "mode", "draw"))
    overall = summarise(scored, ("rule", "train", "test", "mode"))
    breakdown = per_recipe(clips, labels)
    names = {"a": arch_a, "b": arch_b, **{rule: f"{arch_a} + {arch_b}, {rule}" for rule in RULES[2:]}}

    def cell(s: dict[str, float]) -> str:
        return f"{s['mean']:.3f} +- {s['sd']:.3f}"

    header = ["fusion", "train -> test", "mode", *draws, "UF1, all runs", "UAR", "accuracy",
              f"recall {' / '.join(labels)}"]  # fmt: skip
    rows = []
    for o in overall:
        mine = {d["draw"]: d for d in per_draw if all(d[k] == o[k] for k in ("rule", "train", "test", "mode"))}
        rows.append([names[o["rule"]], f"{o['train']} -> {o['test']}", o["mode"],
                     *(f"{mine[d]['uf1']['mean']:.3f}" if d in mine else "-" for d in draws),
                     cell(o["uf1"]), cell(o["uar"]), cell(o["accuracy"]),
                     " / ".join(f"{v:.2f}" for v in o["recall"].values())])  # fmt: skip
    print(markdown_table(header, rows))
    if args.out:
        write_json(args.out, {
            "protocol": "late fusion of two crossgen result files per draw (same sets, seeds, folds), per clip",
            "command": " ".join(["python", "bench/crossgen_fuse.py", *(argv if argv is not None else sys.argv[1:])]),
            "a": [str(f) for f in args.a], "b": [str(f) for f in args.b], "draws": draws,
            "rules": {r: names[r] for r in RULES}, "summary": overall, "per_draw": per_draw,
            "runs": [{k: v for k, v in r.items() if k not in ("confusion", "labels")} for r in scored],  # size
            "per_recipe": breakdown,
        })  # fmt: skip
        print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
