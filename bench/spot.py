"""Spotting on synthetic long clips: seconds of spotting per second of video, and MEGC F1 / STRS.

Usage::

    python bench/spot.py --data DIR [--model DIR] [--out bench/results/spot.json]
    python bench/spot.py --make 'synth-long options' [--keep DIR] ...   # generate the set first

``DIR`` is a synthetic long-clip set (``python -m train synth-long --out DIR``: ``intervals.csv``
+ videos). With ``--make``, the set is generated into a temporary folder (or ``--keep DIR``) by that
command, exactly as a user would, with the given options. Every video is decoded and tracked once
(the pipeline's inference landmarker); the spotter (``microexp.spot.spot`` unless ``--spotter
module:function``) runs on the clip and its track; with ``--model`` each spotted interval is
classified, giving STRS. Timing: each stage's seconds over the seconds of video, in total and as
the median over videos; the spotting stage alone is what the issue asks for, tracking is shown
beside it because every spot needs it. The set is synthetic: the scores say how the spotter does on
the generator's clips, nothing about real recordings.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, run_quietly
from microexp.atomic import write_json
from microexp.face import FaceLandmarker
from microexp.pipeline import inference_face_settings
from train.spotting.cli import format_table, timing_summary
from train.spotting.evaluate import IntervalRecogniser, evaluate_records, load_record_clip, outcome_json
from train.spotting.loaders import load_synthetic_long
from train.spotting.metrics import score_outcomes


def load_spotter(name: str | None):
    """``module:function`` -> the callable; None -> ``microexp.spot.spot``."""
    if not name:
        from train.spotting.evaluate import default_spotter

        return default_spotter()
    module, _, function = name.partition(":")
    return getattr(importlib.import_module(module), function or "spot")


def median_ratio(outcomes, stage: str) -> float | None:
    ratios = [getattr(o, f"{stage}_seconds") / o.seconds for o in outcomes if o.error is None and o.seconds > 0]
    return statistics.median(ratios) if ratios else None


def run(args: argparse.Namespace, data: Path) -> dict:
    records, report = load_synthetic_long(data)
    if args.limit:
        records = records[: args.limit]
    recogniser = labels = None
    if args.model:
        from microexp.pipeline import Predictor

        predictor = Predictor.from_pretrained(args.model)
        recogniser, labels = IntervalRecogniser(predictor), predictor.spec.labels
    spotter = load_spotter(args.spotter)
    with FaceLandmarker(settings=inference_face_settings()) as landmarker:
        if records:  # MediaPipe's first frames pay its start-up: keep that out of the first video's time
            first = load_record_clip(records[0], args.max_side)
            landmarker.track(first.frames[:4], first.timestamps[:4])
        cpu0, start = os.times(), time.perf_counter()
        outcomes = evaluate_records(
            records, spotter, recogniser, landmarker, max_side=args.max_side, progress=not args.quiet
        )
        wall, cpu1 = time.perf_counter() - start, os.times()
    extra = {"labels": labels} if labels else {}
    scores = {kind: score_outcomes(outcomes, kind, **extra) for kind in ("micro", "all")}
    timing = timing_summary(outcomes)
    timing.update({f"{k}_median_per_video_second": median_ratio(outcomes, k) for k in ("decode", "track", "spot")})
    timing.update(wall_seconds=round(wall, 3), cpu_seconds=round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 3))
    return {
        "bench": "spot",
        "synthetic": True,
        "data": str(data),
        "generator_options": args.make,
        "model": args.model,
        "spotter": args.spotter or "microexp.spot:spot",
        "videos": len(records),
        "skipped_in_load": len(report.skipped),
        "scores": scores,
        "timing": timing,
        "machine": {
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "load_average_1min_end": os.getloadavg()[0],
            "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        },
        "per_video": [outcome_json(o) for o in outcomes],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a synthetic long-clip set (intervals.csv + videos)")
    parser.add_argument("--make", help="generate the set with `python -m train synth-long --out TMP MAKE`")
    parser.add_argument("--keep", type=Path, help="with --make: generate into this folder and keep it")
    parser.add_argument("--model", help="recognise each spotted interval with this model: adds STRS")
    parser.add_argument("--spotter", help="module:function to benchmark instead of microexp.spot:spot")
    parser.add_argument("--max-side", type=int, default=640)
    parser.add_argument("--limit", type=int, default=None, help="only the first N videos")
    parser.add_argument("--out", type=Path, default=RESULTS / "spot.json")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if (args.data is None) == (args.make is None):
        parser.error("give exactly one of --data DIR and --make 'OPTIONS'")
    with tempfile.TemporaryDirectory(prefix="spot-bench-") as tmp:
        data = args.data
        if data is None:
            data = args.keep or Path(tmp) / "long"
            run_quietly("train", "synth-long", "--out", data, *shlex.split(args.make))
        result = run(args, data)
    write_json(args.out, result)
    if result["skipped_in_load"]:
        print(f"{result['skipped_in_load']} row(s)/clip(s) skipped while loading {data}")
    for kind, scores in result["scores"].items():
        print(f"--- {kind}")
        print(format_table(f"synthetic-long ({data})", scores, result["timing"]))
    t = result["timing"]
    print(
        f"spotting: {t['spot_per_video_second']:.4f} s per s of video in total, median {t['spot_median_per_video_second']:.4f}"
    )
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
