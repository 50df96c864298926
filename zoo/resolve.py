"""Where a zoo entry's weights come from: the Hub at a pinned commit (or its cache), then the local zoo.

Resolution order, first hit wins:

1. the Hugging Face Hub cache at the entry's pinned commit (``local_files_only``: no network, instant);
2. the Hub itself at that commit, tried once per process and skipped under ``HF_HUB_OFFLINE=1`` (offline
   it fails in well under a second, and the failure is remembered so the app never waits on it again);
3. the local zoo directory ``$MICROEXP_ZOO_DIR/<name>`` (default ``zoo/local/<name>``), which
   ``python -m zoo build`` fills with synthetic-trained ``save_pretrained`` directories;
4. a :class:`~microexp.errors.ModelError` that says how to get the weights.

Steps 1-2 happen only for an entry pinned in the pins file (:mod:`zoo.pins`) or when the caller passes
an explicit ``revision``: the zoo never follows a moving branch of a namespace somebody else may own.
:func:`load` checks that the weights are what the entry promises (architecture, labels, input spec)
and caches loaded models, so switching models in the app costs nothing the second time.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from microexp.errors import ModelError
from microexp.models import MicroExpModel, load_model, set_apex_spread
from microexp.spec import InputSpec

from .pins import HubSource, hub_source
from .registry import ENTRIES, get_entry

WEIGHT_FILES = ("config.json", "model.safetensors")
HUB_PATTERNS = [*WEIGHT_FILES, "README.md"]
Source = Literal["hub", "hub-cache", "local"]
_HUB_FAILED: set[tuple[str, str]] = set()  # (repo id, revision) the Hub did not serve in this process


@dataclass(frozen=True)
class ResolvedModel:
    """A directory holding ``config.json`` + ``model.safetensors`` for one entry, and where it came from.

    Attributes:
        revision: the Hub commit sha the files are from (``None`` for the local zoo).
    """

    name: str
    path: Path
    source: Source
    revision: str | None = None

    @property
    def describe(self) -> str:
        """``local: <path>`` or ``hub-cache: <path> (commit <sha>)``."""
        return f"{self.source}: {self.path}" + (f" (commit {self.revision})" if self.revision else "")


def zoo_dir() -> Path:
    """The local zoo directory: ``$MICROEXP_ZOO_DIR`` or ``zoo/local`` beside this package."""
    return Path(os.environ.get("MICROEXP_ZOO_DIR") or Path(__file__).parent / "local")


def is_model_dir(path: Path) -> bool:
    return all((path / f).is_file() for f in WEIGHT_FILES)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _from_hub(hub: HubSource, network: bool) -> Path | None:
    if hub.revision is None or (network and (_offline() or (hub.repo_id, hub.revision) in _HUB_FAILED)):
        return None
    try:
        path = snapshot_download(
            hub.repo_id, revision=hub.revision, allow_patterns=HUB_PATTERNS, local_files_only=not network
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        if network:
            _HUB_FAILED.add((hub.repo_id, hub.revision))
        return None
    return Path(path) if is_model_dir(Path(path)) else None


def resolve(name: str, hub: bool = True, revision: str | None = None) -> ResolvedModel:
    """Find the weights of zoo entry ``name`` (see the module docstring for the order).

    Args:
        hub: also ask the Hub over the network (the cache is always consulted).
        revision: use the Hub at this revision (branch, tag or sha) instead of the pinned commit; only
            for a user who asks for it explicitly.

    Raises:
        ModelError: unknown name, or no copy anywhere; the message says how to get one.
    """
    get_entry(name)
    source = hub_source(name, revision)
    for network, label in ((False, "hub-cache"), (True, "hub")):
        if network and not hub:
            continue
        found = _from_hub(source, network=network)
        if found is not None:  # a snapshot folder is named by its commit sha
            return ResolvedModel(name, found, label, revision=found.name)
    if revision:
        raise ModelError(f"{source.repo_id} at revision {revision!r} could not be downloaded")
    local = zoo_dir() / name
    if is_model_dir(local):
        return ResolvedModel(name, local, "local")
    hub_how = (f"download the pinned weights with `hf download {source.repo_id} --revision {source.revision}`"
               if source.revision else f"{source.repo_id} is not pinned in the zoo's pins file, so the Hub is not used")
    raise ModelError(
        f"no weights for zoo model {name!r}: not on the Hub or in its cache, and {local} does not exist. "
        f"Build the synthetic-trained default offline with `python -m zoo build --entries {name}` "
        f"(or `python -m zoo build --missing` for all), or {hub_how}."
    )


def available(hub: bool = False) -> dict[str, ResolvedModel | ModelError]:
    """Every entry's resolution (or the error saying how to get it), in registry order."""
    out: dict[str, ResolvedModel | ModelError] = {}
    for name in ENTRIES:
        try:
            out[name] = resolve(name, hub=hub)
        except ModelError as exc:
            out[name] = exc
    return out


@functools.lru_cache(maxsize=8)
def _load(path: str) -> MicroExpModel:
    return load_model(path).eval()


def load(name: str, hub: bool = True, revision: str | None = None) -> MicroExpModel:
    """The model of zoo entry ``name``, in eval mode; loaded once per resolved directory.

    Raises:
        ModelError: no weights, or weights that are not what the entry promises (architecture, labels,
            or any input-spec field the entry names): a model with other classes would mislabel every clip.
    """
    resolved = resolve(name, hub=hub, revision=revision)
    model = _load(str(resolved.path))
    expected = get_entry(name)
    where = f"{resolved.path} ({resolved.source})"
    if model.arch != expected.arch:
        raise ModelError(f"{where} holds a {model.arch!r} model but zoo entry {name!r} is {expected.arch!r}")
    if tuple(model.spec.labels) != expected.labels:
        raise ModelError(f"{where} predicts labels {list(model.spec.labels)} but zoo entry {name!r} has "
                         f"{list(expected.labels)}")
    spec = InputSpec.from_dict(expected.input_spec)
    differ = [f"{k} {getattr(model.spec, k)!r} (entry: {getattr(spec, k)!r})"
              for k in expected.input_spec if getattr(model.spec, k) != getattr(spec, k)]
    if differ:
        raise ModelError(f"{where} does not match the input spec of zoo entry {name!r}: {'; '.join(differ)}")
    return set_apex_spread(model, expected.apex_spread)  # the entry's, also for copies built before it was set


def clear_cache() -> None:
    """Forget loaded models and remembered Hub failures (after a build, or in tests)."""
    _load.cache_clear()
    _HUB_FAILED.clear()


def imported() -> dict[str, Path]:
    """Converted models in the local zoo directory that are no registry entry (``python -m microexp
    import-keras --out zoo/local/<name>``): name -> directory; their ``config.json`` records a ``provenance``."""
    root = zoo_dir()
    found = sorted(p for p in root.glob("*") if p.name not in ENTRIES and is_model_dir(p)) if root.is_dir() else []
    return {p.name: p for p in found if "provenance" in _config(p)}


def _config(path: Path) -> dict:
    try:
        return json.loads((path / "config.json").read_text())
    except (OSError, ValueError):  # a damaged directory is not listed; loading it reports the problem
        return {}
