"""requirements.txt (what the Space installs) and pyproject.toml declare every package the product imports.

A package that is only present because something else pulls it in (pandas via gradio, httpx2 via
huggingface_hub) disappears the day that dependency stops needing it; imported means declared.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ["app.py", "microexp", "zoo", "train"]


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned(lines: list[str]) -> set[str]:
    return {_normalise(re.split(r"[=<>!~\[ ;]", line.strip(), maxsplit=1)[0]) for line in lines
            if line.strip() and not line.lstrip().startswith("#")}


def _imported_top_levels() -> set[str]:
    names: set[str] = set()
    files = [ROOT / "app.py", *[p for d in PRODUCT[1:] for p in (ROOT / d).rglob("*.py")]]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    local = {"microexp", "zoo", "train", "app", "bench", "tests"}
    return {n for n in names if n not in local and n not in sys.stdlib_module_names}


def test_every_imported_package_is_pinned_in_both_files() -> None:
    requirements = _pinned((ROOT / "requirements.txt").read_text().splitlines())
    project = _pinned(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert requirements == project
    distributions = packages_distributions()
    optional = {"httpx"}  # train.push falls back to it only when httpx2 is missing
    # An optional extra (h5py for `import-keras`) is declared in pyproject's extras and imported lazily.
    extras = {_normalise(n) for deps in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
              .get("optional-dependencies", {}).values() for n in _pinned(deps)}
    missing = {}
    for module in sorted(_imported_top_levels() - optional):
        dists = {_normalise(d) for d in distributions.get(module, [module])}
        if not dists & (requirements | extras):
            missing[module] = sorted(dists)
    assert not missing, f"imported but not declared in requirements.txt: {missing}"


def test_the_repository_tracks_no_links_and_no_virtual_environment():
    """A tracked ``.venv`` (a worktree's symlink committed by ``git add -A``) replaces the checkout's
    environment on the next pull and breaks a fresh clone's setup; links point outside the clone."""
    import shutil
    import subprocess

    import pytest

    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    staged = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    links = [line.split("\t", 1)[1] for line in staged.splitlines() if line.startswith("120000")]
    paths = [line.split("\t", 1)[1] for line in staged.splitlines()]
    assert links == [] and not any(p == ".venv" or p.startswith(".venv/") for p in paths)
