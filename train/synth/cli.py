"""``python -m train synth``: the command line of the dataset writer."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import replace

from train.generator_cli import add_output_arguments, add_run_arguments, label_list, run_generator, span

from .config import VARIED_AMPLITUDE, SynthConfig
from .morph import add_morph_argument
from .variety import Variety
from .writer import generate


def _size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)[xX](\d+)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}")
    return int(m.group(1)), int(m.group(2))


_range = span(float, "a number")


def build_parser() -> argparse.ArgumentParser:
    d = SynthConfig()
    p = argparse.ArgumentParser(
        prog="python -m train synth",
        description="Make a synthetic micro-expression dataset (CASME II-like layout) from face photographs.",
        epilog="LOSO honesty: with --subjects-per-person > 1 several subjects show one real person; "
        "group folds by the `person` column of annotations.csv.",
    )
    add_output_arguments(p, d.clips, d.seed, "bytes")
    p.add_argument("--labels", default=",".join(d.labels), help="comma-separated classes (default: all three)")
    p.add_argument("--fps", type=float, default=d.fps, help="frame rate (e.g. 200 for CASME II-like clips)")
    p.add_argument("--seconds", type=_range, default=d.seconds, help="clip length in s, N or MIN:MAX (default 1.5:2.5)")
    p.add_argument("--me-seconds", type=_range, default=d.me_seconds, help="onset-offset duration, MIN:MAX (0.2:0.5)")
    p.add_argument(
        "--amplitude",
        type=_range,
        default=None,
        help="apex displacement / inter-ocular distance, N or MIN:MAX "
        f"(default {d.amplitude[0]}:{d.amplitude[1]}; "
        f"with --varied {VARIED_AMPLITUDE[0]}:{VARIED_AMPLITUDE[1]})",
    )
    v = p.add_argument_group("per-clip variety (issue 16; all off by default = the original generator)")
    v.add_argument(
        "--varied",
        action="store_true",
        help="randomise per clip everything the label does not depend on: AU ratios, asymmetry, "
        "onset 40-250 ms and apex hold, 25-200 fps, warp kernel and smoothness, blur, noise, "
        "compression, lighting, head drift and tilt, partial occlusion",
    )
    v.add_argument("--fps-range", type=_range, default=None, help="draw each clip's fps in MIN:MAX (e.g. 25:200)")
    v.add_argument("--asymmetry", type=float, default=None, help="largest left/right gain difference (e.g. 0.35)")
    v.add_argument("--occlusion", type=float, default=None, help="probability of a partial occluder per clip")
    v.add_argument("--tilt", type=float, default=None, help="constant in-plane head rotation, +-DEGREES")  # fmt: skip
    v.add_argument("--au-direction", type=float, default=None,
                   help="turn each action unit's displacements by up to +-DEGREES (mirrored left/right)")
    v.add_argument("--au-noise", type=float, default=None,
                   help="sd of the log of a smooth per-landmark gain of each action unit (e.g. 0.3)")  # fmt: skip
    p.add_argument("--size", type=_size, default=d.size, help="frame size WxH (default 320x240)")
    p.add_argument("--subjects-per-person", type=int, default=d.subjects_per_person,
                   help="subjects per real person (1 = honest LOSO; more = procedural variants)")  # fmt: skip
    p.add_argument("--no-nuisances", action="store_true", help="no head drift, blinks, lighting change or noise")
    p.add_argument("--format", choices=("jpg", "mp4"), default=d.format, help="frame folders or H.264 files")
    p.add_argument("--jpeg-quality", type=int, default=d.jpeg_quality)
    p.add_argument("--crf", type=int, default=d.crf, help="x264 quality for --format mp4")
    add_morph_argument(p)
    add_run_arguments(p, d.faces_dir)
    return p


def _config(args: argparse.Namespace) -> SynthConfig:
    variety = Variety.varied() if args.varied else Variety()
    chosen = {"fps": args.fps_range, "asymmetry": args.asymmetry, "occlusion": args.occlusion,
              "tilt_degrees": args.tilt, "au_direction": args.au_direction, "au_noise": args.au_noise}  # fmt: skip
    variety = replace(variety, **{k: val for k, val in chosen.items() if val is not None})
    amplitude = args.amplitude or (VARIED_AMPLITUDE if args.varied else SynthConfig().amplitude)
    return SynthConfig(
        clips=args.clips, seed=args.seed, labels=label_list(args.labels),
        fps=args.fps, seconds=args.seconds, me_seconds=args.me_seconds, amplitude=amplitude,
        size=args.size, subjects_per_person=args.subjects_per_person, nuisances=not args.no_nuisances,
        format=args.format, jpeg_quality=args.jpeg_quality, crf=args.crf, faces_dir=args.faces, variety=variety,
        morphs=args.morphs,
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train synth ...``; returns the exit status."""
    return run_generator(
        build_parser(), argv, _config, generate,
        lambda config, took, path: f"{config.clips} clips in {took:.1f} s ({config.clips / took:.1f} clips/s): {path}",
    )  # fmt: skip
