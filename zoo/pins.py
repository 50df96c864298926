"""Which Hub commits the zoo trusts: a namespace plus one pinned commit sha per entry.

Whoever owns a Hub namespace decides what its ``main`` branch holds, so the zoo never follows a
branch. ``python -m zoo publish`` pushes each entry and records the resulting commit sha in the pins
file (``zoo/pins.json``, committed by the person who publishes)::

    {"namespace": "microexp", "revisions": {"stcnn-t18": "<40-hex commit sha>", ...}}

An entry's Hub repo is ``<namespace>/<entry name>``. The namespace is ``$MICROEXP_ZOO_NAMESPACE``,
else the pins file's. Pins apply only to the namespace they were recorded for: pointing the zoo at
another namespace leaves every entry unpinned, and an unpinned entry is never fetched from the Hub
unless a revision is given explicitly (``python -m zoo path NAME --revision REV``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from microexp.atomic import write_json
from microexp.errors import ModelError

DEFAULT_NAMESPACE = "microexp"
NAMESPACE_ENV = "MICROEXP_ZOO_NAMESPACE"
PINS_ENV = "MICROEXP_ZOO_PINS"
COMMIT_SHA = re.compile(r"[0-9a-f]{40}")
_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


@dataclass(frozen=True)
class Pins:
    """The content of a pins file: the namespace it was published to and entry name -> commit sha."""

    namespace: str = DEFAULT_NAMESPACE
    revisions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_namespace(self.namespace)
        for name, sha in self.revisions.items():
            if not isinstance(sha, str) or not COMMIT_SHA.fullmatch(sha):
                raise ModelError(f"pinned revision of {name!r} must be a full 40-hex commit sha, got {sha!r}")
        object.__setattr__(self, "revisions", MappingProxyType(dict(self.revisions)))


@dataclass(frozen=True)
class HubSource:
    """Where an entry may come from on the Hub.

    Attributes:
        repo_id: ``<namespace>/<entry name>``.
        revision: the commit sha to download, or ``None`` when the entry is not pinned (Hub not used).
        explicit: the revision was asked for by the user, not read from the pins file.
    """

    repo_id: str
    revision: str | None
    explicit: bool = False

    @property
    def describe(self) -> str:
        """``ns/name@sha (pinned)``, ``ns/name@rev (asked for)`` or ``ns/name (not pinned)``."""
        if self.revision is None:
            return f"{self.repo_id} (not pinned: the Hub is not used)"
        return f"{self.repo_id}@{self.revision} ({'asked for' if self.explicit else 'pinned'})"


def check_namespace(namespace: str) -> str:
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ModelError(f"invalid Hub namespace {namespace!r}")
    return namespace


def pins_path() -> Path:
    """``$MICROEXP_ZOO_PINS``, else ``zoo/pins.json`` beside this module."""
    return Path(os.environ.get(PINS_ENV) or Path(__file__).parent / "pins.json")


def read_pins(path: Path | None = None) -> Pins:
    """The pins file at ``path`` (default :func:`pins_path`); no file means nothing is pinned."""
    path = Path(path) if path else pins_path()
    if not path.is_file():
        return Pins()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Pins(namespace=data.get("namespace", DEFAULT_NAMESPACE), revisions=dict(data.get("revisions", {})))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ModelError(f"{path} is not a valid pins file ({exc})") from None


def namespace(pins: Pins | None = None) -> str:
    """The Hub namespace of the zoo: ``$MICROEXP_ZOO_NAMESPACE``, else the pins file's."""
    env = os.environ.get(NAMESPACE_ENV)
    return check_namespace(env) if env else (pins or read_pins()).namespace


def hub_source(name: str, revision: str | None = None) -> HubSource:
    """Where entry ``name`` may come from on the Hub: the pinned sha, or ``revision`` when given."""
    pins = read_pins()
    ns = namespace(pins)
    repo_id = f"{ns}/{name}"
    if revision:
        return HubSource(repo_id, revision, explicit=True)
    pinned = pins.revisions.get(name) if pins.namespace == ns else None
    return HubSource(repo_id, pinned)


def record_pins(ns: str, revisions: Mapping[str, str], path: Path | None = None) -> Pins:
    """Write ``revisions`` for namespace ``ns`` into the pins file (atomically).

    Pins of other entries survive when the file already pins the same namespace; a new namespace
    starts a fresh file, since pins of one namespace say nothing about another.
    """
    path = Path(path) if path else pins_path()
    old = read_pins(path)
    merged = {**(old.revisions if old.namespace == ns else {}), **revisions}
    pins = Pins(namespace=ns, revisions=dict(sorted(merged.items())))
    write_json(path, {"namespace": pins.namespace, "revisions": dict(pins.revisions)})
    return pins


def preload_from_hub(pins: Pins) -> str:
    """The ``preload_from_hub`` block of a Space's README front matter for these pins: the Space
    downloads each pinned commit into its Hub cache at build time, where :func:`zoo.resolve` finds it
    without a network call."""
    files = "config.json,model.safetensors,README.md"
    return "preload_from_hub:\n" + "".join(
        f"- {pins.namespace}/{name} {files} {sha}\n" for name, sha in sorted(pins.revisions.items())
    )


def with_preload(readme_text: str, pins: Pins) -> str:
    """``readme_text`` with its YAML front matter's ``preload_from_hub`` block replaced by the pins' one
    (added before the closing ``---`` when absent; removed when nothing is pinned)."""
    lines = readme_text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---" or not any(x.strip() == "---" for x in lines[1:]):
        raise ModelError("the README has no YAML front matter (a first line `---` and a closing `---`)")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    head, rest = lines[1:end], lines[end:]
    kept, skipping = [], False
    for line in head:
        if line.startswith("preload_from_hub:"):
            skipping = True
            continue
        if skipping and line.startswith(("- ", "  ")):
            continue
        skipping = False
        kept.append(line)
    block = preload_from_hub(pins) if pins.revisions else ""
    return "".join([lines[0], *kept, block, *rest])
