"""Learn which spotting peaks are micro-expressions, from synthetic tuning sets only.

Every peak of the combined score above ``--floor`` (:func:`microexp.spot.candidates`) in the cached
tuning sets (``bench/spot_cache.py``) is one example: positive when it holds a micro-expression's
apex, negative otherwise (blinks, speech, head movement, macro-expression edges, noise). A logistic
regression over :func:`peak_features` is fitted and scored by leaving one set out at a
time (ranking quality and clip-level decisions), and its standardised coefficients are printed as
Python constants. Not adopted (2026-12-02): with ~320 candidates from the tuning sets it lost
more true peaks than it removed false ones against the rule filters (bench/README.md, "Spotting near
blinks and speech edges").

Usage: ``python bench/spot_learn.py s1 s2 s1small s7 s8 dev0 dev1 [--floor 5] [--C 1.0]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spot_cache import evaluate, load  # noqa: E402
from microexp.spot import Candidate, Interval, SpotResult, SpotSettings, candidates  # noqa: E402

FEATURE_NAMES = (
    "log_score", "second_ratio", "return_ratio", "repeat_ratio", "width", "log_contrast", "speech", "blink",
    "brows", "eyes", "cheeks", "nose", "mouth", "corners",
)  # fmt: skip


def peak_features(c: Candidate) -> np.ndarray:
    """(len(FEATURE_NAMES),) what a peak looks like, for the learned peak model (ratios capped)."""
    regions = [float(c.region == name) for name in FEATURE_NAMES[8:]]
    return np.array([
        np.log(max(c.score, 1e-3)), c.second / max(c.score, 1e-3), min(c.return_ratio, 3.0),
        min(c.repeat_ratio, 2.0), c.width, np.log(max(c.contrast, 1e-3)), float(c.speech), float(c.blink), *regions,
    ])  # fmt: skip




def examples(names: list[str], cache: Path, floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels (holds a micro-expression's apex) and set index of every candidate peak."""
    settings = SpotSettings()
    xs, ys, groups = [], [], []
    for gi, name in enumerate(names):
        for c in load(cache, name):
            _, found = candidates(c.sig, c.times, c.valid, settings, floor)
            scale = c.fps * (c.times[-1] / max(len(c.times) - 1, 1))
            apexes = [g.apex / scale for g in c.events if g.kind == "micro"]
            for f in found:
                xs.append(peak_features(f))
                ys.append(any(f.onset - 1 <= a <= f.offset + 1 for a in apexes))
                groups.append(gi)
    return np.array(xs), np.array(ys, bool), np.array(groups)


def fit(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
    return mean, scale, model.coef_[0], float(model.intercept_[0])


def _fails(f, name: str, s: SpotSettings) -> bool:
    return {"held": f.return_ratio > s.max_return_ratio, "repeated": f.repeat_ratio > s.repeat_ratio,
            "wide": f.width > s.max_seconds}[name]


def decider(model, floor: float, threshold: float, rank_by_probability: bool, filters: tuple[str, ...] = ()):
    """A spotter decision from a fitted model: peaks above ``floor`` whose probability reaches
    ``threshold`` (and that none of ``filters`` rejects) become intervals."""
    mean, scale, coef, b = model
    settings = SpotSettings()

    def decide(c):
        score, found = candidates(c.sig, c.times, c.valid, settings, floor)
        out = []
        for f in found:
            prob = 1 / (1 + np.exp(-(((peak_features(f) - mean) / scale) @ coef + b)))
            if prob >= threshold and not any(_fails(f, name, settings) for name in filters):
                t = c.times
                out.append(Interval(t[f.onset], t[f.apex], t[f.offset], float(prob) if rank_by_probability else f.score))
        return SpotResult(c.times, score, tuple(out))

    return decide


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="+")
    p.add_argument("--floor", type=float, default=5.0)
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--cache", type=Path, default=Path("/tmp/spot/cache"))
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    p.add_argument("--filters", nargs="*", default=[], help="rule filters kept: held repeated wide")
    p.add_argument("--measure", nargs="*", default=[], help="sets only measured with the model of all tuning sets")
    args = p.parse_args()
    x, y, g = examples(args.names, args.cache, args.floor)
    print(f"{len(y)} candidates, {int(y.sum())} positive")
    from sklearn.metrics import roc_auc_score

    for gi, name in enumerate(args.names):  # leave one set out
        test = g == gi
        if y[test].all() or not y[test].any() or test.all():
            continue
        mean, scale, coef, b = fit(x[~test], y[~test], args.C)
        prob = 1 / (1 + np.exp(-(((x[test] - mean) / scale) @ coef + b)))
        print(f"held out {name}: AUC model {roc_auc_score(y[test], prob):.3f}, score alone {roc_auc_score(y[test], x[test, 0]):.3f}")
    models = {gi: fit(x[g != gi], y[g != gi], args.C) for gi in range(len(args.names))}
    full = fit(x, y, args.C)
    for th in args.thresholds:
        for by_prob in (False, True):
            rows = [f"th {th} rank {'prob ' if by_prob else 'score'}"]
            for gi, name in enumerate(args.names):
                clips = load(args.cache, name)
                r = evaluate(clips, decider(models[gi], args.floor, th, by_prob, tuple(args.filters)))
                rows.append(f"{name}: " + " ".join(f"{k}={v}" for k, v in r.items() if k not in ("clips", "fp_on", "apex")))
            for name in args.measure:
                r = evaluate(load(args.cache, name), decider(full, args.floor, th, by_prob, tuple(args.filters)))
                rows.append(f"[{name}]: " + " ".join(f"{k}={v}" for k, v in r.items() if k not in ("clips", "fp_on", "apex")))
            print(" | ".join(rows), flush=True)
    mean, scale, coef, b = full
    for n, m, s, w in zip(FEATURE_NAMES, mean, scale, coef):
        print(f"  {n:14s} mean {m:8.3f} scale {s:8.3f} coef {w:+.3f}")
    print("_PEAK_MEAN =", tuple(round(float(v), 4) for v in mean))
    print("_PEAK_SCALE =", tuple(round(float(v), 4) for v in scale))
    print("_PEAK_COEF =", tuple(round(float(v), 4) for v in coef))
    print("_PEAK_BIAS =", round(b, 4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
