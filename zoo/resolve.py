"""Where a zoo entry's weights come from: the Hub (or its cache), then the local zoo directory.

Resolution order, first hit wins:

1. the Hugging Face Hub cache (``local_files_only``: no network, instant);
2. the Hub itself, tried once per process and skipped under ``HF_HUB_OFFLINE=1`` (offline it fails
   in well under a second, and the failure is remembered so the app never waits on it again);
3. the local zoo directory ``$MICROEXP_ZOO_DIR/<name>`` (default ``zoo/local/<name>``), which
   ``python -m zoo build`` fills with synthetic-trained ``save_pretrained`` directories;
4. a :class:`~microexp.errors.ModelError` that says how to get the weights.

:func:`load` caches loaded models, so switching models in the app costs nothing the second time.
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
from microexp.models import MicroExpModel, load_model

from .registry import ENTRIES, ZooEntry, get_entry

WEIGHT_FILES = ("config.json", "model.safetensors")
HUB_PATTERNS = [*WEIGHT_FILES, "README.md"]
Source = Literal["hub", "hub-cache", "local"]
_HUB_FAILED: set[str] = set()  # repo ids the Hub did not serve in this process


@dataclass(frozen=True)
class ResolvedModel:
    """A directory holding ``config.json`` + ``model.safetensors`` for one entry, and where it came from."""

    name: str
    path: Path
    source: Source


def zoo_dir() -> Path:
    """The local zoo directory: ``$MICROEXP_ZOO_DIR`` or ``zoo/local`` beside this package."""
    return Path(os.environ.get("MICROEXP_ZOO_DIR") or Path(__file__).parent / "local")


def is_model_dir(path: Path) -> bool:
    return all((path / f).is_file() for f in WEIGHT_FILES)


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _from_hub(entry: ZooEntry, network: bool) -> Path | None:
    if network and (_offline() or entry.repo_id in _HUB_FAILED):
        return None
    try:
        path = snapshot_download(
            entry.repo_id, revision=entry.revision, allow_patterns=HUB_PATTERNS, local_files_only=not network
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        if network:
            _HUB_FAILED.add(entry.repo_id)
        return None
    return Path(path) if is_model_dir(Path(path)) else None


def resolve(name: str, hub: bool = True) -> ResolvedModel:
    """Find the weights of zoo entry ``name`` (see the module docstring for the order).

    Args:
        hub: also ask the Hub over the network (the cache is always consulted).

    Raises:
        ModelError: unknown name, or no copy anywhere; the message says how to get one.
    """
    entry = get_entry(name)
    cached = _from_hub(entry, network=False)
    if cached is not None:
        return ResolvedModel(name, cached, "hub-cache")
    if hub:
        fetched = _from_hub(entry, network=True)
        if fetched is not None:
            return ResolvedModel(name, fetched, "hub")
    local = zoo_dir() / name
    if is_model_dir(local):
        return ResolvedModel(name, local, "local")
    raise ModelError(
        f"no weights for zoo model {name!r}: not in the Hugging Face cache, {entry.repo_id} could not be "
        f"downloaded, and {local} does not exist. Build the synthetic-trained default offline with "
        f"`python -m zoo build --entries {name}` (or `python -m zoo build --missing` for all), "
        f"or download published weights with `hf download {entry.repo_id} --revision {entry.revision}`."
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


def load(name: str, hub: bool = True) -> MicroExpModel:
    """The model of zoo entry ``name``, in eval mode; loaded once per resolved directory."""
    resolved = resolve(name, hub=hub)
    model = _load(str(resolved.path))
    expected = get_entry(name)
    if model.arch != expected.arch:
        raise ModelError(f"{resolved.path} holds a {model.arch!r} model but zoo entry {name!r} is {expected.arch!r}")
    return model


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
