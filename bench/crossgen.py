"""Cross-generator accuracy: train on one generator's clips, test on the other's, persons held out.

A model that scores well on clips of the generator it was trained on may have learnt the rendering
rather than the movement. Here the two independent generators of the project, ``train.synth``
(thin-plate warp) and ``train.probe`` (piecewise-affine mesh warp, other recipes, timing and
nuisances), are crossed. For each held-out person p (persons shared by both sets): train on
generator A's clips of everyone but p, test on generator B's clips of p; predictions are pooled over
the persons and summarised (UF1, UAR, accuracy, per-class recall, confusion). Both directions.

Calibration: in apex mode, a temperature is fitted, as ``train fit`` fits the zoo's, on the training
generator's pooled held-out-person predictions (``within``), and the expected calibration error of
the other generator's predictions is reported before and after it (``calibration`` in each run).

Test modes:
- ``apex``: the window centred on the annotated apex, the window training sees (tensor cache);
- ``shipped``: ``microexp.pipeline.Predictor.predict`` on the raw test clip, reading
  ``pred.prediction``: whatever window choice the pipeline makes;
  each spotted interval labelled as the architecture's zoo entry labels it (its ``apex_spread``; the
  pipeline's default, the centred window alone, for an architecture without an entry);
- ``shipped-centred`` / ``shipped-spread3`` / ``shipped-spread5``: the same with the centred window alone, or
  the mean of 3 windows (offsets -0.15, 0, 0.15 of a window from its apex) or 5 (up to 0.3, training's jitter
  span), whatever the entry says.
``within`` (apex mode, A's own clips of p, same models) is reported beside them as the
own-generator reference under the same person folds.
``--extra-probe DIR``: further ``probe`` sets (a fresh test seed) tested in apex mode by the same fold
models of each synth -> probe run, stored as test ``probe:<folder name>``: a selection set and a fresh
test set are scored by identical models without training them twice.

The ``synth`` side is made by a training-data recipe of ``zoo.build.RECIPES`` (default: the zoo's,
``zoo.build.ZOO_RECIPE``), through the same ``zoo.build.generate`` that ``python -m zoo build`` runs, and
trained as ``train fit --jitter K`` trains (K = the recipe's: K apex-offset windows cached per clip, one
drawn per clip and epoch; test windows are always the centred ones). Training uses
``train.fit.train_job`` with the ``default`` preset (``--epochs`` overrides), so the numbers describe
the shipped models' recipe.
The shipped mode tracks the face once per test clip, through the Predictor's own landmarker, and
reuses that track for every model (``Predictor.predict(clip, track=...)``), which is what a repeated
``predict(path)`` would compute.

Usage: ``python bench/crossgen.py [--recipe NAME] [--arch stcnn ...] [--seeds 0 1 2] [--clips 96] [--epochs N]
[--directions synth-probe] [--quick]``
Writes ``bench/results/crossgen.json`` (``crossgen-quick.json`` with ``--quick``), with every apex and
within test clip's ``"clip action-units truth prediction probabilities"`` under ``clips`` (per run; the
probabilities let ``bench/crossgen_fuse.py`` fuse two files offline) and their per-recipe breakdown
under ``per_recipe`` (printed after the summary): which recipes of a class fail, and as what.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.special import softmax  # noqa: E402

from bench.common import RESULTS, markdown_table, run_quietly  # noqa: E402

GENERATORS = ("synth", "probe")
QUICK = {"clips": 36, "epochs": 8, "seeds": [0]}


def generated_sets(work: Path, clips: int, seed: int, recipe: str) -> dict[str, Path]:
    """Both generators' datasets under ``work`` (made when missing): ``synth`` by the zoo recipe
    ``recipe`` (``zoo.build.generate``, as ``python -m zoo build`` makes it), ``probe`` by its CLI."""
    from zoo.build import generate, get_recipe

    chosen = get_recipe(recipe)
    synth = generate(chosen, clips, seed, work / f"{chosen.data}-{clips}-s{seed}", log=lambda _: None, quiet=True)
    probe = work / f"probe-{clips}-s{seed}"
    if not (probe / "annotations.csv").is_file():
        print(f"generating {probe} ...", flush=True)
        run_quietly("train", "probe", "--out", probe, "--clips", str(clips), "--seed", str(seed), "--quiet",
                    "--overwrite")  # fmt: skip
    return {"synth": synth, "probe": probe}


def persons_of(folder: Path) -> dict[str, str]:
    """Loader subject id (``synthetic/sub01``) -> person, from the set's annotations.csv."""
    with (folder / "annotations.csv").open(newline="", encoding="utf-8") as f:
        return {f"synthetic/{row['subject']}": row["person"] for row in csv.DictReader(f)}


def clip_recipes(folder: Path) -> dict[str, str]:
    """Cache clip id (``synthetic/sub01/clip_0001``, as ``TensorSet.clips``) -> the clip's action units
    (annotations.csv's ``aus``; "" where a set does not record them)."""
    with (folder / "annotations.csv").open(newline="", encoding="utf-8") as f:
        return {f"synthetic/{row['subject']}/{row['clip']}": row.get("aus") or "" for row in csv.DictReader(f)}


def per_recipe(rows: list[dict[str, Any]], labels: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per (arch, train, test, mode, true class, recipe): clips and how often each class was predicted.

    ``rows`` are per-clip predictions (``recipe``, ``truth``, ``prediction`` plus the run's keys),
    pooled over seeds, so ``n`` counts clip x seed; ``recall`` is the share predicted right. Shows WHICH
    recipes of a class a model misses and what it takes them for, which the pooled confusion hides.
    """
    fields = ("arch", "train", "test", "mode", "truth", "recipe")
    keys = sorted({tuple(r[f] for f in fields) for r in rows},
                  key=lambda k: (*k[:4], labels.index(k[4]) if k[4] in labels else len(labels), k[5]))
    out = []
    for arch, train, test, mode, truth, recipe in keys:
        key = (arch, train, test, mode, truth, recipe)
        mine = [r["prediction"] for r in rows if tuple(r[f] for f in fields) == key]
        predicted = {c: mine.count(c) for c in labels}
        out.append({"arch": arch, "train": train, "test": test, "mode": mode, "truth": truth, "recipe": recipe or "?",
                    "n": len(mine), "predicted": predicted, "recall": round(predicted.get(truth, 0) / len(mine), 4)})
    return out  # fmt: skip


def compact_clips(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-clip rows grouped by run, each clip one ``"clip recipe truth prediction p1/p2/p3"`` string, the
    last field its class probabilities in label order, 4 decimals (the result file stays small: a row per
    line of indented JSON); :func:`parse_clip` reads one back."""
    fields = ("arch", "seed", "train", "test", "mode")
    runs: dict[tuple, list[str]] = {}
    for r in rows:
        line = f"{r['clip']} {r['recipe'] or '?'} {r['truth']} {r['prediction']}"
        if r.get("probs") is not None:
            line += " " + "/".join(f"{x:.4f}" for x in r["probs"])
        runs.setdefault(tuple(r[f] for f in fields), []).append(line)
    return [{**dict(zip(fields, key, strict=True)), "rows": lines} for key, lines in runs.items()]


def parse_clip(line: str) -> dict[str, Any]:
    """One ``compact_clips`` string -> {clip, recipe, truth, prediction, probs (None in files made before
    the probabilities were kept)}."""
    parts = line.split(" ")
    row: dict[str, Any] = dict(zip(("clip", "recipe", "truth", "prediction"), parts[:4], strict=True))
    row["probs"] = [float(x) for x in parts[4].split("/")] if len(parts) > 4 else None
    return row


def recipe_table(breakdown: list[dict[str, Any]], labels: tuple[str, ...]) -> str:
    """The per-recipe breakdown as a markdown table (one row per recipe, predictions counted)."""
    rows = [[b["arch"], f"{b['train']} -> {b['test']}", b["mode"], b["truth"], b["recipe"], str(b["n"]),
             f"{b['recall']:.2f}", " / ".join(str(b["predicted"][c]) for c in labels)] for b in breakdown]  # fmt: skip
    header = ["model", "train -> test", "mode", "truth", "recipe", "n", "recall", f"predicted {' / '.join(labels)}"]
    return markdown_table(header, rows)


def person_folds(
    source_persons: list[str], target_persons: list[str], shared: list[str]
) -> list[tuple[str, list[int], list[int], list[int]]]:
    """One fold per shared person p: (p, source clips of everyone else, source clips of p, target clips of p).

    Indices are positions in the two sets; training and test sides are those of ``train fit
    --protocol cross-generator`` (:func:`train.protocols.cross_generator`), so p never appears among the
    training clips, not even blended into another identity (``a+b``, ``train.synth.morph``).
    """
    from train.protocols import cross_generator

    folds = {f.test_subjects[0]: f for f in cross_generator(source_persons, target_persons)}
    own = {p: [i for i, q in enumerate(source_persons) if q == p] for p in shared}
    return [(p, list(folds[p].train), own[p], list(folds[p].test)) for p in shared]


# shipped test modes -> the Predictor options they run with (``shipped``: see shipped_options)
SHIPPED_MODES: dict[str, dict[str, Any]] = {
    "shipped": {},
    "shipped-centred": {"apex_spread": (0.0,)},
    "shipped-spread3": {"apex_spread": (-0.15, 0.0, 0.15)},
    "shipped-spread5": {"apex_spread": (-0.3, -0.15, 0.0, 0.15, 0.3)},
    "shipped-mirror": {"mirror": True},  # as shipped, each window also classified mirrored (test-time flip)
    "shipped-centred-mirror": {"apex_spread": (0.0,), "mirror": True},
    "shipped-spread3-mirror": {"apex_spread": (-0.15, 0.0, 0.15), "mirror": True},
}


def shipped_options(arch: str, mode: str) -> dict[str, Any]:
    """The Predictor options of ``mode`` for ``arch``. ``shipped`` labels intervals as the architecture's zoo
    entry does (its ``apex_spread``), so "as shipped" stays true when an entry has its own; an architecture
    without an entry gets the pipeline's default."""
    from zoo import ENTRIES

    if mode == "shipped-mirror":
        return {**shipped_options(arch, "shipped"), **SHIPPED_MODES[mode]}
    if mode != "shipped":
        return SHIPPED_MODES[mode]
    spreads = {e.apex_spread for e in ENTRIES.values() if e.arch == arch}
    return {"apex_spread": spreads.pop()} if len(spreads) == 1 else {}
NONE = "none"  # the shipped pipeline's answer when it spots nothing: scored as a miss of the true class


def pooled(truth: list[str], pred: list[str | None], labels: tuple[str, ...]) -> dict[str, Any]:
    """Pooled metrics over ``labels``; a ``None`` prediction (nothing spotted) counts as wrong.

    UF1 and UAR average over the real classes only (``none`` is never a true label), so a clip where the
    pipeline finds nothing lowers its class's recall, as a wrong label would.
    """
    from train.metrics import summarize

    pred = [NONE if p is None else p for p in pred]
    scored = tuple(labels) + ((NONE,) if NONE in pred else ())
    s = summarize(truth, pred, scored)
    per = {k: v for k, v in s["per_class"].items() if k in labels}
    return {
        "uf1": round(sum(v["f1"] for v in per.values()) / len(per), 4),
        "uar": round(sum(v["recall"] for v in per.values()) / len(per), 4),
        "accuracy": round(s["accuracy"], 4), "n": s["n"],
        "recall": {k: round(v["recall"], 4) for k, v in per.items()},
        "spotted": round(1 - pred.count(NONE) / max(1, len(pred)), 4),
        "confusion": s["confusion"], "labels": s["labels"],
    }  # fmt: skip


def cross_calibration(
    fit_on: tuple[list[np.ndarray], list[int]], test_on: tuple[list[np.ndarray], list[int]]
) -> dict[str, Any]:
    """Temperature fitted as the zoo fits it, on the training generator's pooled held-out-person
    predictions (``within``), and the ECE of the other generator's predictions before and after it.

    The log-probabilities stand in for the logits: softmax(log p / T) = softmax(z / T), the row's
    log-sum-exp being a constant that softmax ignores.
    """
    from train.calibration import ece, fit_temperature

    def stacked(pair: tuple[list[np.ndarray], list[int]]) -> tuple[np.ndarray, np.ndarray]:
        return np.log(np.clip(np.concatenate(pair[0]), 1e-12, None)), np.asarray(pair[1])

    (z_fit, y_fit), (z, y) = stacked(fit_on), stacked(test_on)
    t = fit_temperature(z_fit, y_fit)
    return {"temperature": round(t, 4), "ece_before": round(ece(softmax(z, axis=1), y), 4),
            "ece_after": round(ece(softmax(z / t, axis=1), y), 4), "n": len(y)}  # fmt: skip


class ShippedTests:
    """Test clips of one set for the shipped pipeline: face tracks computed once, reused by every model."""

    def __init__(self, folder: Path, landmarker: Any) -> None:
        from train.datasets import load_dataset

        records, _ = load_dataset(f"synthetic={folder}")
        self.records = [r for r in records if r.label3]
        self.landmarker = landmarker
        self.tracks: dict[Path, Any] = {}

    def predict(self, model: Any, subjects: set[str], **options: Any) -> tuple[list[str], list[str], list[str]]:
        """(truth, prediction, failures) over the clips of ``subjects``; ``options`` go to the Predictor."""
        from microexp.errors import MicroExpError
        from microexp.pipeline import Predictor
        from microexp.video import load_clip

        predictor = Predictor(model, landmarker=self.landmarker, **options)
        truth, pred, failed = [], [], []
        for r in (r for r in self.records if r.subject in subjects):
            try:
                if r.video in self.tracks:
                    p = predictor.predict(load_clip(r.video, predictor.limits), track=self.tracks[r.video])
                else:
                    p = predictor.predict(r.video)
                    self.tracks[r.video] = p.track
            except MicroExpError as exc:
                failed.append(f"{r.subject}/{r.clip}: {exc}")
                continue
            truth.append(r.label3)
            pred.append(p.prediction)
        return truth, pred, failed


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from microexp.face import FaceLandmarker
    from microexp.pipeline import inference_face_settings
    from train.fit import Checkpoints, FitConfig, init_distributed, load_data, predict, train_job
    from train.presets import get_preset

    if args.threads:
        torch.set_num_threads(args.threads)
    sets = {"synth": args.synth, "probe": args.probe}
    if not (args.synth and args.probe):
        made = generated_sets(args.work, args.clips, args.data_seed, args.recipe)
        sets = {g: sets[g] or made[g] for g in GENERATORS}
    sets = {g: Path(p).resolve() for g, p in sets.items()}
    person = {g: persons_of(sets[g]) for g in GENERATORS}
    recipe_of = {g: clip_recipes(sets[g]) for g in GENERATORS}
    extra = {f"probe:{Path(d).name}": Path(d).resolve() for d in args.extra_probe}
    person |= {name: persons_of(folder) for name, folder in extra.items()}
    recipe_of |= {name: clip_recipes(folder) for name, folder in extra.items()}
    clip_rows: list[dict[str, Any]] = []
    shared = sorted(set(person["synth"].values()) & set(person["probe"].values()))
    if not shared:
        raise SystemExit("the two sets share no person: cross-generator folds need the same identities")
    preset = get_preset("default", epochs=args.epochs)
    ctx = init_distributed()
    shipped_modes = [m for m in args.modes if m in SHIPPED_MODES]
    landmarker = FaceLandmarker(settings=inference_face_settings()) if shipped_modes else None
    shipped = {g: ShippedTests(sets[g], landmarker) for g in GENERATORS} if landmarker else {}
    directions = [tuple(d.split("-")) for d in args.directions]
    runs = []
    for arch in args.arch:
        options = {mode: shipped_options(arch, mode) for mode in shipped_modes}
        data = {}
        for g in GENERATORS:
            # a training side caches its jittered windows too; its centred `inputs` are what tests read
            jitter = args.jitter if any(src == g for src, _ in directions) else 1
            data[g], _ = load_data(f"synthetic={sets[g]}", arch=arch, frames=None, cache_dir=args.cache_dir,
                                   workers=1, progress=False, jitter=jitter, register=args.register)  # fmt: skip
        for name, folder in extra.items():
            data[name], _ = load_data(f"synthetic={folder}", arch=arch, frames=None, cache_dir=args.cache_dir,
                                      workers=1, progress=False, jitter=1, register=args.register)  # fmt: skip
        labels = data["synth"].spec.labels
        for seed in args.seeds:
            config = FitConfig(arch=arch, preset=preset, seed=seed, data="crossgen", dataset_name="synthetic",
                               synthetic=True, release=False, quiet=True)  # fmt: skip
            for source, target in directions:
                t0 = time.perf_counter()
                tested_extra = [name for name in extra if target == "probe"]
                modes = ("apex", "within", *SHIPPED_MODES, *tested_extra)
                pools: dict[str, tuple[list[str], list[str]]] = {m: ([], []) for m in modes}
                probabilities: dict[str, tuple[list[np.ndarray], list[int]]] = {
                    m: ([], []) for m in ("apex", "within", *tested_extra)
                }
                failures: list[str] = []
                src, tgt = data[source], data[target]
                for p, train_idx, own_idx, test_idx in person_folds(
                    [person[source][s] for s in src.subjects], [person[target][s] for s in tgt.subjects], shared
                ):
                    with tempfile.TemporaryDirectory(prefix="microexp-crossgen-") as tmp:
                        model, _ = train_job(f"{source}-without-{p}", src.subset(train_idx), config,
                                             Checkpoints(Path(tmp), writer=True), ctx, False, False)  # fmt: skip
                    extra_tests = [(name, data[name], [i for i, s in enumerate(data[name].subjects)
                                                       if person[name][s] == p]) for name in tested_extra]  # fmt: skip
                    for mode, ts, idx in (("apex", tgt, test_idx), ("within", src, own_idx), *extra_tests):
                        if idx:
                            chosen = torch.as_tensor(idx, dtype=torch.long)
                            probs = predict(model, tuple(x[chosen] for x in ts.inputs))
                            pools[mode][0].extend(labels[int(ts.labels[i])] for i in idx)
                            pools[mode][1].extend(labels[int(k)] for k in probs.argmax(1))
                            probabilities[mode][0].append(probs.numpy())
                            probabilities[mode][1].extend(int(ts.labels[i]) for i in idx)
                            tested = {"apex": target, "within": source}.get(mode, mode)
                            clip_rows.extend(clip_predictions(arch, seed, source, tested, "apex" if mode in extra
                                                              else mode, ts, idx, probs.numpy(), labels,
                                                              recipe_of[tested]))  # fmt: skip
                    for mode in shipped_modes:
                        subjects = {s for s, q in person[target].items() if q == p}
                        truth, pred, failed = shipped[target].predict(model, subjects, **options[mode])
                        pools[mode][0].extend(truth)
                        pools[mode][1].extend(pred)
                        failures += failed if mode == shipped_modes[0] else []
                for mode in modes:
                    truth, pred = pools[mode]
                    if not truth:
                        continue
                    result = {"arch": arch, "seed": seed, "train": source,
                              "test": {"within": source}.get(mode, mode if mode in extra else target),
                              "mode": "apex" if mode in extra else mode, **pooled(truth, pred, labels)}  # fmt: skip
                    if mode in SHIPPED_MODES:
                        result["failed"] = failures
                        result["options"] = {k: list(v) if isinstance(v, tuple) else v  # JSON: no tuples
                                             for k, v in options[mode].items()}
                    if (mode == "apex" or mode in extra) and probabilities["within"][1]:
                        result["calibration"] = cross_calibration(probabilities["within"], probabilities[mode])
                    runs.append(result)
                    scores = f"UF1 {result['uf1']:.3f} UAR {result['uar']:.3f} acc {result['accuracy']:.3f}"
                    print(f"{arch} seed {seed} {source}->{result['test']} {result['mode']}: {scores} (n={result['n']})",
                          flush=True)
                print(f"  {arch} seed {seed} {source}->{target}: {time.perf_counter() - t0:.0f} s", flush=True)
    if landmarker is not None:
        landmarker.close()
    return {"sets": {g: str(sets[g]) for g in GENERATORS} | {n: str(f) for n, f in extra.items()}, "persons": shared,
            "jitter": args.jitter, "runs": runs, "labels": list(labels), "clips": clip_rows}  # fmt: skip


def clip_predictions(
    arch: str, seed: int, train: str, test: str, mode: str, ts: Any, idx: list[int], probs: np.ndarray,
    labels: tuple[str, ...], recipes: dict[str, str],
) -> list[dict[str, Any]]:
    """One row per test clip: (clip, its action units, truth, prediction, class probabilities) with the
    run's keys; the probabilities let two result files on the same sets be fused offline
    (``bench/crossgen_fuse.py``)."""
    return [{"arch": arch, "seed": seed, "train": train, "test": test, "mode": mode, "clip": ts.clips[i],
             "recipe": recipes.get(ts.clips[i], ""), "truth": labels[int(ts.labels[i])],
             "prediction": labels[int(np.argmax(p))], "probs": [float(x) for x in p]}
            for i, p in zip(idx, probs, strict=True)]  # fmt: skip


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean +- sample sd over seeds per (arch, train, test, mode)."""
    keys = sorted({(r["arch"], r["train"], r["test"], r["mode"]) for r in runs})
    out = []
    for arch, train, test, mode in keys:
        mine = [r for r in runs if (r["arch"], r["train"], r["test"], r["mode"]) == (arch, train, test, mode)]
        row = {"arch": arch, "train": train, "test": test, "mode": mode, "seeds": len(mine)}
        for k in ("uf1", "uar", "accuracy"):
            values = [r[k] for r in mine]
            row[k] = {"mean": round(statistics.mean(values), 4),
                      "sd": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0}  # fmt: skip
        row["recall"] = {c: round(statistics.mean(r["recall"][c] for r in mine), 4) for c in mine[0]["recall"]}
        if all("calibration" in r for r in mine):
            row["calibration"] = {k: round(statistics.mean(r["calibration"][k] for r in mine), 4)
                                  for k in ("temperature", "ece_before", "ece_after")}  # fmt: skip
        out.append(row)
    return out


def build_parser() -> argparse.ArgumentParser:
    from microexp.align import REGISTER_MODES
    from microexp.models import ARCHITECTURES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", nargs="+", default=None, choices=ARCHITECTURES,
                   help="architectures (default: every registry architecture; --quick: stcnn)")  # fmt: skip
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="training seeds (default 0 1 2; --quick: 0)")
    p.add_argument("--clips", type=int, default=None, help="clips per generator (default 96; --quick: 36)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per fold (default: the preset's; --quick: 8)")
    p.add_argument("--recipe", default=None,
                   help="training-data recipe of the synth side, from zoo.build.RECIPES (default: the zoo's)")
    p.add_argument("--jitter", type=int, default=None,
                   help="apex-offset windows per training clip (train fit --jitter; default: the recipe's)")
    p.add_argument("--directions", nargs="+", default=["synth-probe", "probe-synth"],
                   choices=["synth-probe", "probe-synth"])
    p.add_argument("--modes", nargs="+", default=["apex", "shipped"], choices=["apex", *SHIPPED_MODES])
    p.add_argument("--quick", action="store_true", help="one architecture, one seed, 36 clips, 8 epochs")
    p.add_argument("--synth", type=Path, default=None, help="an existing `python -m train synth` set (mp4 or jpg)")
    p.add_argument("--probe", type=Path, default=None, help="an existing `python -m train probe` set")
    p.add_argument("--extra-probe", type=Path, nargs="+", default=[],
                   help="further probe sets (e.g. a fresh test seed) tested in apex mode by the synth -> probe models")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the generated sets")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "microexp-crossgen",
                   help="where generated sets are kept and reused")  # fmt: skip
    p.add_argument("--cache-dir", default=None, help="tensor cache (default: the training cache)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--register", choices=REGISTER_MODES, default=None,
                   help="frame registration of both sides (train fit --register; default: the models' default)")
    p.add_argument("--out", type=Path, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    from microexp.atomic import write_json
    from microexp.models import ARCHITECTURES

    from zoo.build import RECIPES, ZOO_RECIPE

    args = build_parser().parse_args(argv)
    args.recipe = args.recipe or ZOO_RECIPE
    if args.recipe not in RECIPES:
        raise SystemExit(f"unknown --recipe {args.recipe!r}; known: {', '.join(RECIPES)}")
    args.jitter = args.jitter or RECIPES[args.recipe].jitter
    quick = QUICK if args.quick else {"clips": 96, "epochs": None, "seeds": [0, 1, 2]}
    first = "stcnn" if "stcnn" in ARCHITECTURES else ARCHITECTURES[0]  # the paper's base model, the fastest
    args.arch = args.arch or ([first] if args.quick else list(ARCHITECTURES))
    args.seeds = args.seeds if args.seeds is not None else quick["seeds"]
    args.clips = args.clips or quick["clips"]
    args.epochs = args.epochs or quick["epochs"]
    out = args.out or RESULTS / ("crossgen-quick.json" if args.quick else "crossgen.json")
    start = time.perf_counter()
    result = run(args)
    summary = summarise(result["runs"])
    labels = tuple(result.pop("labels"))
    result["per_recipe"] = per_recipe(result["clips"], labels)
    result["clips"] = compact_clips(result["clips"])
    write_json(out, {
        "protocol": "cross-generator, one fold per held-out person (train A without p, test B's clips of p), pooled",
        "command": " ".join(["python", "bench/crossgen.py", *(argv if argv is not None else sys.argv[1:])]),
        "recipe": args.recipe, "archs": args.arch, "seeds": args.seeds, "clips_per_generator": args.clips,
        "epochs": args.epochs or "preset default", "preset": "default", "modes": args.modes,
        "register": args.register or "default",
        "seconds": round(time.perf_counter() - start, 1), **result, "summary": summary,
    })  # fmt: skip
    def cell(s: dict[str, float]) -> str:
        return f"{s['mean']:.3f} +- {s['sd']:.3f}" if len(args.seeds) > 1 else f"{s['mean']:.3f}"

    def ece(s: dict[str, Any]) -> str:
        c = s.get("calibration")
        return f"{c['ece_before']:.3f} -> {c['ece_after']:.3f} (T {c['temperature']:.2f})" if c else "-"

    rows = [[s["arch"], f"{s['train']} -> {s['test']}", s["mode"], cell(s["uf1"]), cell(s["uar"]), cell(s["accuracy"]),
             " / ".join(f"{v:.2f}" for v in s["recall"].values()), ece(s)] for s in summary]  # fmt: skip
    classes = " / ".join(summary[0]["recall"]) if summary else ""
    print(markdown_table(["model", "train -> test", "mode", "UF1", "UAR", "accuracy", f"recall {classes}",
                          "ECE before -> after"], rows))  # fmt: skip
    print(recipe_table(result["per_recipe"], labels))
    print(f"-> {out} ({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
