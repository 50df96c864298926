"""``python -m zoo {list,build,path}``: inspect the zoo and build its offline default."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace

from microexp.errors import MicroExpError

from .build import RECIPES, ZOO_RECIPE, BuildSettings, build, missing_entries
from .registry import ENTRIES, METRIC_KEYS, PUBLISHED
from .resolve import available, imported, resolve


def _list(args: argparse.Namespace) -> int:
    found = available(hub=not args.no_hub)
    for name, entry in ENTRIES.items():
        where = found[name]
        status = f"{where.source}: {where.path}" if not isinstance(where, Exception) else "MISSING (run `python -m zoo build`)"
        print(f"{name}\n  {entry.title} [{entry.arch}, {entry.input_spec['frames']} frames, "
              f"{'+'.join(entry.input_spec['regions'])}, labels {'/'.join(entry.labels)}]")
        print(f"  {entry.description}")
        print(f"  {entry.params:,} parameters; trained with preset {entry.recipe.preset!r}, seed {entry.recipe.seed} "
              f"(`{entry.recipe.command}`)")
        for key in METRIC_KEYS:
            scores = entry.metrics[key]
            print(f"  {key.replace('_', '-')}: {scores.summary() if scores else 'not measured yet'}")
        print(f"  {'SYNTHETIC-TRAINED' if entry.synthetic else 'real data'}: {entry.training_data}")
        print(f"  hub: {entry.repo_id}@{entry.revision}" + ("" if PUBLISHED else " (not yet published on the Hub)")
              + f"; licence {entry.licence}")
        print(f"  resolves to {status}")
    for name, path in imported().items():  # converted by `python -m microexp import-keras`, outside the registry
        p = json.loads((path / "config.json").read_text())["provenance"]
        print(f"{name}\n  IMPORTED, not a registry entry: {p.get('format')} file {p.get('source_file')} "
              f"(sha256 {str(p.get('sha256'))[:12]}...), converted by `{p.get('converted_by')}`\n  local: {path}")
    return 0


def _build(args: argparse.Namespace) -> int:
    names = args.entries or list(ENTRIES)
    if args.missing:
        names = [n for n in names if n in missing_entries()]
        if not names:
            print("every zoo entry resolves; nothing to build")
            return 0
    settings = BuildSettings.quick() if args.quick else BuildSettings()
    if args.clips:
        settings = replace(settings, clips=args.clips)
    if args.epochs:
        settings = replace(settings, epochs=args.epochs)
    if args.recipe:
        settings = replace(settings, recipe=args.recipe)
    build(names, settings, work_dir=args.work_dir)
    return 0


def _path(args: argparse.Namespace) -> int:
    resolved = resolve(args.name, hub=not args.no_hub)
    print(resolved.path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo", description="MicroExp model zoo")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="show every entry and where its weights resolve")
    ls.add_argument("--no-hub", action="store_true", help="do not ask the Hub over the network (cache and local only)")
    ls.set_defaults(func=_list)
    b = sub.add_parser("build", help="train entries on a synthetic set into the local zoo (offline default)")
    b.add_argument("--entries", nargs="+", choices=list(ENTRIES), help="entries to build (default: all)")
    b.add_argument("--missing", action="store_true", help="only entries that resolve nowhere")
    b.add_argument("--quick", action="store_true", help="small set, few epochs: a weak model in minutes")
    b.add_argument("--clips", type=int, default=None, help="synthetic clips to generate")
    b.add_argument("--epochs", type=int, default=None, help="training epochs")
    b.add_argument("--recipe", choices=list(RECIPES), default=None,
                   help=f"synthetic training-data recipe (default {ZOO_RECIPE}; see zoo.build.RECIPES)")
    b.add_argument("--work-dir", default=None, help="where the synthetic set and runs go (default <zoo dir>/.build)")
    b.set_defaults(func=_build)
    pa = sub.add_parser("path", help="print the directory an entry resolves to")
    pa.add_argument("name", choices=list(ENTRIES))
    pa.add_argument("--no-hub", action="store_true")
    pa.set_defaults(func=_path)
    args = p.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MicroExpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
