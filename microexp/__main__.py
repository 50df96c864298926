"""Command line: ``python -m microexp predict CLIP --model DIR_OR_REPO_ID [--json]``, ``fetch-face-model``
and ``import-keras WEIGHTS --arch ARCH --frames 96|18 --out DIR`` (the original authors' Keras weights).

``predict`` prints the spotted micro-expressions (onset, apex, offset, score, label, probabilities),
or "none" when there is none (JSON: ``"prediction": null``), then the sliding windows.

A user's mistake (bad file, no face, unknown model) prints one line ``error: ...`` on stderr and exits
with status 2; nothing else reaches stderr, not even MediaPipe's native log lines, which are silenced
at the file-descriptor level while the pipeline runs. ``MICROEXP_DEBUG=1`` shows full tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from .windows import EXCERPT_SECONDS

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m microexp", description="Facial micro-expression recognition.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="spot the micro-expressions in a clip and classify each")
    p.add_argument("clip", help="video file or folder of frame images")
    p.add_argument("--model", required=True, help="save_pretrained directory or Hugging Face repo id")
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--stride", type=float, default=None, metavar="SECONDS", help="step between windows")
    p.add_argument("--max-seconds", type=float, default=None, help="longest clip accepted (default 60)")
    p.add_argument("--fps", type=float, default=None, help="frame rate of a folder of images (default 30)")
    p.add_argument("--min-coverage", type=float, default=0.6, help="least fraction of detected frames per window")
    p.add_argument("--excerpt", choices=("auto", "yes", "no"), default="auto",
                   help="take the clip as an excerpt around one expression, always labelled at its strongest brief "
                   "movement (yes), or spot in it as in a recording, labelled only when a movement stands out (no); "
                   f"auto: excerpt when it lasts at most {EXCERPT_SECONDS:g} s, as dataset samples do")
    p.add_argument("--landmark-stride", type=int, default=None, metavar="K",
                   help="face landmarks on every K-th frame, interpolated between "
                   "(default 2; 1 = every frame, as training caches use)")
    p.add_argument("--bf16", action="store_true",
                   help="bf16 conv and dense weights (opt-in: faster on CPUs with avx512_bf16 or AMX, logits move "
                   "~1e-2; on the synthetic LOSO benchmark at most 1 of 240 predictions changed, bench/variants.py); "
                   "elsewhere it is slower, so it is ignored with a warning")
    p.add_argument("--apex-spread", type=float, nargs="+", default=None, metavar="OFFSET",
                   help="label each spotted interval by the mean of windows at these offsets from its apex, in "
                   "fractions of a window, each within +-0.5 (default: the model's config.json `apex_spread`, else "
                   "0 = the centred window alone)")
    p.add_argument("--mirror", choices=("auto", "yes", "no"), default="auto",
                   help="also classify every window mirrored left-right and average the two (test-time flip; twice "
                   "the model time); auto: the model's config.json `mirror`, else no")
    p.add_argument("--device", default=None, metavar="auto|cpu|cuda",
                   help="where the model runs (default $MICROEXP_DEVICE, else auto: the GPU when one is usable)")
    sub.add_parser("fetch-face-model", help="find or download the MediaPipe face model and print its path")
    k = sub.add_parser("import-keras", help="convert the original authors' Keras weights to a save_pretrained directory")
    k.add_argument("weights", help="Keras 2 .h5/.hdf5 (model or save_weights), Keras 3 .weights.h5 or .keras")
    k.add_argument("--arch", required=True, choices=("stcnn", "fusenet-intermediate", "fusenet-late"))
    k.add_argument("--frames", required=True, type=int, choices=(96, 18), help="96: CAS(ME)^2 scripts, 18: SMIC")
    k.add_argument("--out", required=True, help="directory to write (replaced if it exists)")
    k.add_argument("--mean", type=float, default=None, help="the original's dataset mean (grey levels), with --max")
    k.add_argument("--max", type=float, default=None, dest="max_value",
                   help="the original's divisor: the max of the mean-subtracted training set")
    k.add_argument("--labels", default=None, help="comma-separated class names in logit order "
                   "(default: anger,happiness,disgust at 96 frames; negative,positive,surprise at 18)")
    k.add_argument("--flatten-order", choices=("CHWT", "HWTC"), default=None,
                   help="Keras flatten order of a file without a model graph (default CHWT, the original's)")
    return parser


_CHOICE = {"auto": None, "yes": True, "no": False}  # --excerpt, --mirror: None lets the model or the clip decide


def _limits(max_seconds: float | None):
    from .video import VideoLimits

    if max_seconds is None:
        return VideoLimits()
    if not max_seconds > 0:
        raise ValueError("--max-seconds must be positive")
    base = VideoLimits()
    return VideoLimits(max_seconds=max_seconds, max_frames=max(base.max_frames, int(max_seconds * 60) + 1))


def _predict(args: argparse.Namespace) -> int:
    from .video import load_clip  # decode first: a bad file is reported before torch is even imported

    if args.stride is not None and not args.stride > 0:
        raise ValueError("--stride must be positive")
    if args.landmark_stride is not None and args.landmark_stride < 1:
        raise ValueError("--landmark-stride must be >= 1")
    limits = _limits(args.max_seconds)
    started = time.perf_counter()
    clip = load_clip(args.clip, limits, fps=args.fps)
    decode_ms = (time.perf_counter() - started) * 1000.0
    from .pipeline import Predictor

    with Predictor.from_pretrained(
        args.model, revision=args.revision, limits=limits, stride_seconds=args.stride, min_coverage=args.min_coverage,
        landmark_stride=args.landmark_stride, device=args.device,
        excerpt=_CHOICE[args.excerpt], apex_spread=args.apex_spread, mirror=_CHOICE[args.mirror],
    ) as predictor:
        if args.bf16 and predictor.device.type != "cpu":
            print("warning: --bf16 ignored: on a GPU the model runs under autocast mixed precision", file=sys.stderr)
        elif args.bf16:
            from .models.fast import bf16_if_native

            predictor.model, why_not = bf16_if_native(predictor.model)
            if why_not:
                print(f"warning: {why_not}", file=sys.stderr)
        result = predictor.predict(clip)
    result.timings_ms["total"] += decode_ms - result.timings_ms["decode"]  # decoding happened here, not in predict
    result.timings_ms["decode"] = decode_ms
    if args.json:
        print(json.dumps(result.to_json()))
        return 0
    if result.prediction is None:
        print("none: no micro-expression found")
    else:
        best = result.windows[result.best_window]
        how = "centred on the spotted apex" if best.centred else "the one with the most facial motion"
        if best.centred and len(result.apex_spread) > 1:
            how += f"; labelled by the mean of {len(result.apex_spread)} windows around it"
        if result.mirror:
            how += "; each window also read mirrored"
        print(f"{result.prediction}  ({float(result.probs.max()):.1%}, window {best.window.start:.2f}-"
              f"{best.window.end:.2f} s, {how})")
    if result.intervals:
        heads = "  ".join(f"{label:>9}" for label in result.labels)
        print(f"interval (onset-apex-offset s)   score  label     {heads}")
        for r in result.intervals:
            iv = r.interval
            span = f"{iv.onset:6.2f}-{iv.apex:6.2f}-{iv.offset:6.2f}"
            cells = "  ".join(f"{v:9.3f}" for v in r.probs) if r.probs is not None else "not classified"
            print(f"{span:<33}{iv.score:6.1f}  {r.label or '-':<9} {cells}")
    print("window            " + "  ".join(f"{label:>9}" for label in result.labels) + "     motion")
    for r in result.sliding:
        span = f"{r.window.start:6.2f}-{r.window.end:6.2f} s"
        cells = (
            "  ".join(f"{v:9.3f}" for v in r.probs) + f"  {r.motion:9.2f}" if r.probs is not None else f"skipped: {r.skipped}"
        )
        print(f"{span:<18}{cells}")
    for note in result.notices:
        print(f"note: {note}")
    print("timings: " + ", ".join(f"{k} {v:.0f} ms" for k, v in result.timings_ms.items()))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from .face import fetch_face_model

    print(fetch_face_model())
    return 0


def _import_keras(args: argparse.Namespace) -> int:
    from .keras_import import import_keras

    labels = [x.strip() for x in args.labels.split(",")] if args.labels else None
    result = import_keras(args.weights, args.arch, args.frames, args.out, args.mean, args.max_value, labels,
                          args.flatten_order)
    print(f"{result.format} -> {result.out} ({result.arch}, {result.frames} frames, "
          f"labels {'/'.join(result.spec.labels)}, flatten order {result.flatten_order})")
    for m in result.layers:
        print(f"  {m.keras:<24} {str(m.keras_shape):<26} -> {m.ours:<18} {m.shape}"
              + ("  rows permuted" if m.rows_permuted else ""))
    for note in result.notes:
        print(f"note: {note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    from .errors import MicroExpError

    run = {"predict": _predict, "fetch-face-model": _fetch, "import-keras": _import_keras}[args.command]
    from .face import quiet_native_stderr

    with quiet_native_stderr():
        try:
            return run(args)
        except (MicroExpError, ValueError) as exc:
            if os.environ.get("MICROEXP_DEBUG"):
                raise
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - one line for the user, details with MICROEXP_DEBUG=1
            if os.environ.get("MICROEXP_DEBUG"):
                raise
            print(f"error: internal error ({type(exc).__name__}: {exc}); rerun with MICROEXP_DEBUG=1 for details",
                  file=sys.stderr)
            return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
