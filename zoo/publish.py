"""``python -m zoo publish --namespace NS``: push every built entry to the Hub and pin the commits.

Each entry's local zoo folder (``python -m zoo build``) is staged as a run directory (weights,
``config.json`` and card under ``release/``, plus ``figures/`` and ``metrics.json``) and pushed in one
commit by ``python -m train push``, a subprocess so the zoo never imports ``train``. The commit sha of
each push is written to the pins file (:mod:`zoo.pins`) as soon as it is known, so an interrupted
publish keeps the pins of the entries it finished. The local ``zoo.json`` (build paths and times of
this machine) is not uploaded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from microexp.atomic import write_text
from microexp.errors import ModelError

from .pins import Pins, check_namespace, pins_path, record_pins, with_preload
from .registry import ENTRIES, get_entry
from .resolve import is_model_dir, zoo_dir

RELEASE_FILES = ("config.json", "model.safetensors", "README.md")
_COMMIT_URL = re.compile(r"/commit/([0-9a-f]{40})\s*$")


def built_entries() -> list[str]:
    """Entries with a complete folder in the local zoo, in registry order."""
    return [name for name in ENTRIES if is_model_dir(zoo_dir() / name)]


def stage(model_dir: Path, out: Path) -> Path:
    """Lay a local zoo folder out as the run directory ``python -m train push`` publishes."""
    release = out / "release"
    release.mkdir(parents=True)
    for name in RELEASE_FILES:
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, release / name)
    if (model_dir / "figures").is_dir():
        shutil.copytree(model_dir / "figures", out / "figures")
    if (model_dir / "metrics.json").is_file():
        shutil.copy2(model_dir / "metrics.json", out / "metrics.json")
    return out


def push_entry(name: str, repo_id: str, private: bool = False, log: Callable[[str], None] = print) -> str:
    """Push entry ``name``'s local build to ``repo_id`` in one commit; returns the commit sha."""
    model_dir = zoo_dir() / name
    if not is_model_dir(model_dir):
        raise ModelError(f"{model_dir} is not built; run `python -m zoo build --entries {name}` first")
    with tempfile.TemporaryDirectory(prefix=f"publish-{name}-") as tmp:
        run_dir = stage(model_dir, Path(tmp) / name)
        cmd = [sys.executable, "-m", "train", "push", str(run_dir), "--repo-id", repo_id,
               "--message", f"Publish {name} (python -m zoo publish)", *(["--private"] if private else [])]
        log(f"pushing {name} -> {repo_id}")
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        raise ModelError(f"publishing {name} to {repo_id} failed: {(done.stderr or done.stdout).strip()}")
    found = _COMMIT_URL.search(done.stdout.strip())
    if not found:
        raise ModelError(f"publishing {name}: `train push` printed no commit URL ({done.stdout.strip()!r})")
    return found.group(1)


def publish(
    namespace: str,
    names: Sequence[str] | None = None,
    private: bool = False,
    pins: Path | None = None,
    readme: Path | None = None,
    log: Callable[[str], None] = print,
) -> Pins:
    """Push ``names`` (default: every built entry) to ``<namespace>/<name>`` and pin each commit.

    ``readme``: a Space README whose front matter gets the ``preload_from_hub`` block of the new pins,
    so the Space downloads exactly the pinned commits when it is built.

    Returns:
        The pins file's content after the last push.
    """
    check_namespace(namespace)
    names = list(names) if names else built_entries()
    if not names:
        raise ModelError(f"nothing to publish: no entry is built in {zoo_dir()}; run `python -m zoo build` first")
    for name in names:
        get_entry(name)
    path = Path(pins) if pins else pins_path()
    result = None
    for name in names:
        repo_id = f"{namespace}/{name}"
        sha = push_entry(name, repo_id, private=private, log=log)
        result = record_pins(namespace, {name: sha}, path)
        log(f"  pinned {repo_id}@{sha} in {path}")
    assert result is not None
    if readme is not None:
        write_text(readme, with_preload(Path(readme).read_text(encoding="utf-8"), result))
        log(f"  {readme}: preload_from_hub lists the pinned commits")
    return result
