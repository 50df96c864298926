"""A work folder as a killed ``python -m zoo build`` leaves it, for the build and background-build tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

import zoo
from microexp.models import build_model
from zoo.build import RECIPES, BuildSettings, run_name


def finished_build(work: Path, settings: BuildSettings, name: str = zoo.DEFAULT_ENTRY) -> Path:
    """Clips generated and entry ``name`` trained; returns its run folder.

    The data folder holds no clips: training would fail on it, so a build that passes trained nothing.
    """
    recipe = RECIPES[settings.recipe]
    data = work / f"{recipe.data}-{settings.clips}-s{settings.seed}"
    data.mkdir(parents=True)
    (data / ".complete").write_text("ok\n")
    run_dir = work / "runs" / run_name(name, settings, recipe.name, recipe.jitter)
    torch.manual_seed(0)
    build_model(zoo.ENTRIES[name].arch).save_pretrained(run_dir / "release")
    (run_dir / "run.json").write_text(json.dumps({"status": "complete"}))
    return run_dir
