"""``python -m zoo build`` finds its own earlier work: a finished run is installed, not trained again."""

from __future__ import annotations

import json

import torch

import zoo
from microexp.models import build_model
from zoo.build import RECIPES, BuildSettings, build, run_name


def test_a_killed_build_resumes_from_its_finished_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROEXP_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = zoo.DEFAULT_ENTRY
    settings = BuildSettings(clips=12, epochs=2)
    recipe = RECIPES[settings.recipe]
    work = tmp_path / "work"
    data = work / f"{recipe.data}-{settings.clips}-s{settings.seed}"
    data.mkdir(parents=True)
    (data / ".complete").write_text("ok\n")  # the clips were generated before the kill
    run_dir = work / "runs" / run_name(name, settings, recipe.name, recipe.jitter)
    torch.manual_seed(0)
    build_model(zoo.ENTRIES[name].arch).save_pretrained(run_dir / "release")
    (run_dir / "run.json").write_text(json.dumps({"status": "complete"}))
    assert run_name(name, settings, recipe.name, recipe.jitter) == run_dir.name  # the same settings, the same folder
    lines: list[str] = []
    # No clips in the data folder: training would fail, so passing means nothing was trained again.
    installed = build([name], settings, work_dir=work, log=lines.append)
    assert installed == [tmp_path / "zoo" / name] and zoo.resolve(name, hub=False).source == "local"
    assert any("reusing the finished run" in line for line in lines)
    assert json.loads((installed[0] / "zoo.json").read_text())["run_dir"] == str(run_dir)
    assert sorted(p.name for p in (work / "runs").iterdir()) == [run_dir.name]
