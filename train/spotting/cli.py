"""``python -m train spot-eval``: spot (and recognise) every video of a long-video set, print the MEGC
scores and write them, with every video's intervals, to a JSON file."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from typing import Any

from .evaluate import IntervalRecogniser, evaluate_records, outcome_json
from .loaders import LOADERS, load_long_dataset
from .metrics import VideoOutcome, score_outcomes
from .records import EVALUATED_KINDS

# SAMM-LV's 200 fps would hold minutes of 640-pixel frames in memory (about 1.3 GB per 10 s);
# MEGC spotting methods commonly work on it downsampled to about 30 fps.
DEFAULT_FPS_CAP = {"samm-long": 30.0}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train spot-eval", description=__doc__)
    p.add_argument("--data", required=True, metavar="NAME=DIR", help=f"NAME one of {', '.join(LOADERS)}")
    p.add_argument("--model", help="recognise each spotted interval with this model (folder or Hub id): adds STRS")
    p.add_argument("--out", help="write the scores and every video's intervals to this JSON file")
    p.add_argument(
        "--kind",
        choices=tuple(EVALUATED_KINDS),
        default="micro",
        help="ground truth scored: micro-expressions (default), macro, or all (micro + macro)",
    )
    p.add_argument(
        "--fps-cap",
        type=float,
        default=None,
        help="decode at most at this rate (every k-th frame); 0 = every frame; default "
        + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_FPS_CAP.items())
        + ", others every frame",
    )
    p.add_argument(
        "--landmark-stride",
        type=int,
        default=None,
        help="face landmarks on every k-th frame, interpolated between (default: the pipeline's)",
    )
    p.add_argument("--max-side", type=int, default=640, help="downscale frames so the longer side is at most this")
    p.add_argument("--limit", type=int, default=None, help="only the first N videos (a quick look)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p  # fmt: skip


def timing_summary(outcomes: Sequence[VideoOutcome]) -> dict[str, Any]:
    """Seconds each stage took per second of video, over the videos that ran."""
    ok = [o for o in outcomes if o.error is None]
    video = sum(o.seconds for o in ok)
    stages = {k: sum(getattr(o, f"{k}_seconds") for o in ok) for k in ("decode", "track", "spot", "recognise")}
    return {
        "video_seconds": round(video, 3),
        **{f"{k}_seconds": round(v, 3) for k, v in stages.items()},
        **{f"{k}_per_video_second": (v / video if video else None) for k, v in stages.items()},
    }


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(name: str, scores: dict[str, Any], timing: dict[str, Any]) -> str:
    rec, loc = scores["recognition"], scores["apex_hits_localisation"]
    rows = [
        ("dataset", name),
        ("videos (failed)", f"{scores['videos']} ({scores['failed']})"),
        (f"TP / FP / FN ({scores['kind']}, IoU >= {scores['iou_threshold']})", f"{scores['tp']} / {scores['fp']} / {scores['fn']}"),
        ("precision / recall / F1", f"{_fmt(scores['precision'])} / {_fmt(scores['recall'])} / {_fmt(scores['f1'])}"),
        ("apex hit-rate (micro)", f"{scores['apex_hit_rate']['hits']}/{scores['apex_hit_rate']['total']} = {_fmt(scores['apex_hit_rate']['rate'])}"),
        ("none-rate (clips without micro)", f"{scores['none_rate']['hits']}/{scores['none_rate']['total']} = {_fmt(scores['none_rate']['rate'])}"),
        ("apex hits: median IoU / length ratio", f"{_fmt(loc['median_iou'])} / {_fmt(loc['median_length_ratio'])}"),
        ("false positives by event", ", ".join(f"{k} {v}" for k, v in scores["fp_by_event"].items()) or "-"),
        ("recognition UF1 on TPs (n)", "-" if rec is None else f"{_fmt(rec['uf1'])} ({rec['n']})"),
        ("STRS", _fmt(scores["strs"])),
        ("spotting s per video s", _fmt(timing["spot_per_video_second"], 4)),
        ("tracking s per video s", _fmt(timing["track_per_video_second"], 4)),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load, evaluate and score; returns the JSON report (also written to ``args.out``)."""
    records, report = load_long_dataset(args.data)
    if args.limit is not None:
        records = records[: args.limit]
    recogniser = labels = None
    if args.model:
        from microexp.pipeline import Predictor

        predictor = Predictor.from_pretrained(args.model)
        recogniser, labels = IntervalRecogniser(predictor), predictor.spec.labels
    fps_cap = DEFAULT_FPS_CAP.get(report.dataset) if args.fps_cap is None else (args.fps_cap or None)
    outcomes = evaluate_records(
        records,
        recogniser=recogniser,
        max_side=args.max_side,
        fps_cap=fps_cap,
        progress=not args.quiet,
        landmark_stride=args.landmark_stride,
    )
    scores = score_outcomes(outcomes, args.kind, **({"labels": labels} if labels else {}))
    return {
        "dataset": report.dataset,
        "data": args.data,
        "synthetic": report.dataset == "synthetic-long",
        "model": args.model,
        "spotter": "microexp.spot.spot",
        "settings": {
            "kind": args.kind,
            "fps_cap": fps_cap,
            "max_side": args.max_side,
            "landmark_stride": args.landmark_stride,
            "limit": args.limit,
        },
        "load_report": {
            "records": report.n_records,
            "skipped": len(report.skipped),
            "issues": [dataclasses.asdict(i) for i in report.issues],
            "notes": list(report.notes),
        },
        "scores": scores,
        "timing": timing_summary(outcomes),
        "videos": [outcome_json(o) for o in outcomes],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train spot-eval ...``; returns the exit status."""
    from microexp.atomic import write_json
    from microexp.errors import MicroExpError

    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except MicroExpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_table(result["dataset"], result["scores"], result["timing"]))
    if result["load_report"]["skipped"]:
        print(f"{result['load_report']['skipped']} annotation row(s)/video(s) skipped; see load_report in the JSON")
    if args.out:
        write_json(args.out, result)
        print(f"written: {args.out}")
    return 0
