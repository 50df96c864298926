"""The command-line flow the dataset generators share (``synth``, ``synth-long``, ``synth-scenes``, ``probe``).

Every generator takes ``--out/--clips/--seed`` first and ``--faces/--overwrite/--quiet`` last, turns
its arguments into a config (a ``ValueError`` there is a usage error), runs, prints one timing line,
and turns a refused output folder or a :class:`microexp.errors.MicroExpError` into one ``error:`` line
and exit status 1, so a user never sees a traceback for bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FACES_HELP = "folder of neutral face photographs"


def add_output_arguments(p: argparse.ArgumentParser, clips: int, seed: int, same: str) -> None:
    """``--out``, ``--clips`` and ``--seed`` (defaults ``clips``, ``seed``; help "same seed, same ``same``")."""
    p.add_argument("--out", required=True, help="output folder (created; must not exist or be empty)")
    p.add_argument("--clips", type=int, default=clips, help=f"number of clips (default {clips})")
    p.add_argument("--seed", type=int, default=seed, help=f"random seed (same seed, same {same})")


def add_run_arguments(p: argparse.ArgumentParser, faces: str, faces_help: str = FACES_HELP) -> None:
    """``--faces`` (default ``faces``), ``--overwrite`` and ``--quiet``."""
    p.add_argument("--faces", default=faces, help=faces_help)
    p.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def span(kind: type, what: str = "N") -> Callable[[str], tuple]:
    """An argparse type for ``N`` (a range of one value) or ``MIN:MAX`` of ``kind``."""

    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(p) for p in text.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} or MIN:MAX, got {text!r}") from None
        if len(values) not in (1, 2):
            raise argparse.ArgumentTypeError(f"expected {what} or MIN:MAX, got {text!r}")
        return values[0], values[-1]

    return parse


def label_list(text: str) -> tuple[str, ...]:
    """``--labels a,b`` -> ``("a", "b")`` (blanks dropped)."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


def run_generator(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    make_config: Callable[[argparse.Namespace], Any],
    generate: Callable[..., Path],
    done: Callable[[Any, float, Path], str],
) -> int:
    """Parse ``argv``, build the config, generate into ``--out``; print ``done(config, seconds, path)``.

    Returns the exit status (0, or 1 after an ``error:`` line); a bad option exits 2 via argparse.
    """
    from microexp.errors import MicroExpError

    args = parser.parse_args(argv)
    try:
        config = make_config(args)
    except ValueError as exc:
        parser.error(str(exc))
    start = time.perf_counter()
    try:
        path = generate(config, args.out, progress=not args.quiet, overwrite=args.overwrite)
    except (MicroExpError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(done(config, time.perf_counter() - start, path))
    return 0
