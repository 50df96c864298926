"""``python -m zoo {list,build,path,publish}``: inspect the zoo, build its offline default, publish and pin it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from microexp.errors import MicroExpError

from .build import RECIPES, ZOO_RECIPE, BuildSettings, build, missing_entries
from .pins import NAMESPACE_ENV, hub_source, namespace, pins_path, preload_from_hub
from .publish import publish
from .registry import ENTRIES, METRIC_KEYS
from .resolve import available, imported, resolve

README = Path(__file__).resolve().parent.parent / "README.md"  # the Space's README (its front matter)


def _list(args: argparse.Namespace) -> int:
    found = available(hub=not args.no_hub)
    for name, entry in ENTRIES.items():
        where = found[name]
        status = where.describe if not isinstance(where, Exception) else "MISSING (run `python -m zoo build`)"
        print(f"{name}\n  {entry.title} [{entry.arch}, {entry.input_spec['frames']} frames, "
              f"{'+'.join(entry.input_spec['regions'])}, labels {'/'.join(entry.labels)}]")
        print(f"  {entry.description}")
        print(f"  {entry.params:,} parameters; trained with preset {entry.recipe.preset!r}, seed {entry.recipe.seed} "
              f"(`{entry.recipe.command}`)")
        for key in (k for k in METRIC_KEYS if k in entry.metrics):
            scores = entry.metrics[key]
            print(f"  {key.replace('_', '-')}: {scores.summary() if scores else 'not measured yet'}")
        print(f"  {'SYNTHETIC-TRAINED' if entry.synthetic else 'real data'}: {entry.training_data}")
        print(f"  labelling: {entry.labelling}")
        print(f"  hub: {hub_source(name).describe}; licence {entry.licence}")
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
    if args.parallel:
        settings = replace(settings, parallel=args.parallel)
    build(names, settings, work_dir=args.work_dir)
    return 0


def _path(args: argparse.Namespace) -> int:
    resolved = resolve(args.name, hub=not args.no_hub, revision=args.revision)
    print(resolved.path)
    return 0


def _publish(args: argparse.Namespace) -> int:
    readme = None if args.no_readme else Path(args.readme)
    pins = publish(args.namespace or namespace(), args.entries, private=args.private, pins=args.pins, readme=readme)
    print(f"pinned {len(pins.revisions)} entr{'y' if len(pins.revisions) == 1 else 'ies'} of namespace "
          f"{pins.namespace} in {args.pins or pins_path()}; commit that file so every deployment loads these commits")
    print("A Space downloads them at build time with this in its README's front matter"
          + (f" (written to {readme})" if readme else "") + ":\n" + preload_from_hub(pins))
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
    b.add_argument("--parallel", type=int, default=None,
                   help="generation steps run at once (default 1; the clips are identical either way)")
    b.add_argument("--work-dir", default=None, help="where the synthetic set and runs go (default <zoo dir>/.build)")
    b.set_defaults(func=_build)
    pa = sub.add_parser("path", help="print the directory an entry resolves to")
    pa.add_argument("name", choices=list(ENTRIES))
    pa.add_argument("--no-hub", action="store_true")
    pa.add_argument("--revision", default=None,
                    help="use the Hub at this branch, tag or commit instead of the pinned commit (you trust it)")
    pa.set_defaults(func=_path)
    pu = sub.add_parser("publish", help="push every built entry to the Hub (one commit each) and pin the commits")
    pu.add_argument("--namespace", default=None,
                    help=f"Hub user or organisation (default ${NAMESPACE_ENV}, else the pins file's)")
    pu.add_argument("--entries", nargs="+", choices=list(ENTRIES), help="entries to publish (default: every built one)")
    pu.add_argument("--private", action="store_true", help="create the repos private")
    pu.add_argument("--pins", default=None, help=f"pins file to write (default {pins_path()})")
    pu.add_argument("--readme", default=str(README), help=f"Space README whose front matter gets preload_from_hub (default {README})")
    pu.add_argument("--no-readme", action="store_true", help="leave every README alone (print the block only)")
    pu.set_defaults(func=_publish)
    args = p.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MicroExpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
