"""``python -m train SUBCOMMAND ...``: one entry point for the training package.

Each subcommand belongs to one module and is imported only when used, so a module that fails to
import (a missing optional dependency) breaks only its own subcommand.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module, function, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "synth": ("train.synth", "main", "make a synthetic micro-expression dataset from face photographs"),
    "probe": ("train.probe", "main", "make a probe dataset with an independent generator (cross-generator tests)"),
    "synth-long": ("train.scenes.long", "main", "make long clips (talking, blinks, head motion) for spotting"),
    "synth-scenes": ("train.scenes.short", "main", "make short clips whose micro-expression sits among distractors"),
    "cache": ("train.fit", "cache_main", "preprocess a dataset through the face pipeline into the tensor cache"),
    "fit": ("train.fit", "main", "train and evaluate a model (LOSO by default) and save a release model"),
    "push": ("train.push", "main", "publish a run's release model and card to the Hugging Face Hub"),
    "spot-eval": ("train.spotting.cli", "main", "spot (and recognise) expressions in long videos; MEGC F1, STRS"),
}


def usage() -> str:
    lines = ["usage: python -m train {" + ",".join(COMMANDS) + "} [options]", "", "subcommands:"]
    width = max(map(len, COMMANDS)) + 2
    lines += [f"  {name:<{width}}{text}" for name, (_, _, text) in COMMANDS.items()]
    lines += ["", "run `python -m train SUBCOMMAND --help` for a subcommand's options"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown subcommand {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, function, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        print(f"error: `{name}` is unavailable: {exc}", file=sys.stderr)
        return 2
    return int(getattr(module, function)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
