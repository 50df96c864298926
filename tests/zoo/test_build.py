"""``python -m zoo build`` finds its own earlier work: a finished run is installed, not trained again; one
build at a time, and a new one clears what a killed one left behind."""

from __future__ import annotations

import json

import pytest

import zoo
from microexp.errors import ModelError
from tests.zoo.builds import finished_build
from zoo.build import RECIPES, BuildSettings, build, build_lock, run_name

NAME = zoo.DEFAULT_ENTRY
SETTINGS = BuildSettings(clips=12, epochs=2)


@pytest.fixture
def zoo_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROEXP_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    zoo.clear_cache()
    yield tmp_path / "zoo"
    zoo.clear_cache()


def test_a_killed_build_resumes_from_its_finished_runs(zoo_root, tmp_path):
    work = tmp_path / "work"
    run_dir = finished_build(work, SETTINGS)
    recipe = RECIPES[SETTINGS.recipe]
    assert run_name(NAME, SETTINGS, recipe.name, recipe.jitter) == run_dir.name  # the same settings, the same folder
    lines: list[str] = []
    installed = build([NAME], SETTINGS, work_dir=work, log=lines.append)
    assert installed == [zoo_root / NAME] and zoo.resolve(NAME, hub=False).source == "local"
    assert any("reusing the finished run" in line for line in lines)
    assert json.loads((installed[0] / "zoo.json").read_text())["run_dir"] == str(run_dir)
    assert sorted(p.name for p in (work / "runs").iterdir()) == [run_dir.name]


def test_one_build_at_a_time_and_a_new_one_clears_what_a_killed_one_left(zoo_root):
    work = zoo_root / ".build"
    finished_build(work, SETTINGS)
    stale = [zoo_root / f".tmp-{NAME}.x1", work / ".tmp-synth.x2", work / "runs" / ".tmp-run.x3"]
    for path in stale:
        path.mkdir()
    with build_lock(zoo_root), pytest.raises(ModelError, match="another `python -m zoo build` is building"):
        build([NAME], SETTINGS)
    assert all(path.exists() for path in stale)  # a running build's files are left alone
    lines: list[str] = []
    assert build([NAME], SETTINGS, log=lines.append) == [zoo_root / NAME]
    assert not any(path.exists() for path in stale) and "removed 3 unfinished temporary file(s)" in lines[0]


def test_a_new_build_clears_what_a_killed_one_left_in_its_tensor_cache(zoo_root):
    """Killed while ``train fit`` preprocessed into the build's tensor cache (``bench/crash.py --zoo`` found
    it): our temporary and safetensors' own are removed, finished entries are kept for reuse."""
    work = zoo_root / ".build"
    finished_build(work, SETTINGS)
    cache = work / "cache"
    cache.mkdir()
    entry = cache / "0123abcd.safetensors"
    entry.write_bytes(b"a finished entry")
    stale = [cache / ".tmp-4567ef.safetensors.k2j4h1.safetensors", cache / ".tmpMSwzQ0"]
    for path in stale:
        path.write_bytes(b"half written")
    lines: list[str] = []
    assert build([NAME], SETTINGS, log=lines.append) == [zoo_root / NAME]
    assert not any(path.exists() for path in stale) and entry.read_bytes() == b"a finished entry"
    assert "removed 2 unfinished temporary file(s)" in lines[0]


def test_generation_parts_a_kill_left_beside_finished_clips_are_removed(zoo_root):
    """Killed after the merged clips were marked complete but before the recipe's generation parts were
    deleted: the next build reuses the clips and deletes the parts (a second copy of every clip)."""
    work = zoo_root / ".build"
    finished_build(work, SETTINGS)
    (data,) = [p for p in work.iterdir() if (p / ".complete").exists()]
    parts = data.with_name(data.name + ".parts")
    (parts / "0-synth" / "sub01").mkdir(parents=True)
    (parts / "0-synth" / "sub01" / "clip_0001.mp4").write_bytes(b"a generated clip")
    assert build([NAME], SETTINGS) == [zoo_root / NAME]
    assert not parts.exists()


def test_the_lock_lasts_while_the_train_command_of_a_killed_build_runs(zoo_root):
    """``kill -9`` of the build process alone leaves the ``train`` command it runs going on by itself: the
    lock must last until that one ends too, or a second build would write the same folders beside it."""
    import os
    import signal
    import time

    from bench.crash import child_processes, lock_held, start, zoo_command, zoo_environment

    proc = start(zoo_command(SETTINGS.clips, SETTINGS.epochs), zoo_root.parent / "build.log",
                 zoo_environment(zoo_root.parent))  # fmt: skip
    deadline = time.monotonic() + 120
    while not (children := child_processes(proc.pid)) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until the build runs its first generation step
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        assert children and lock_held(zoo_root), (zoo_root.parent / "build.log").read_text()
        with pytest.raises(ModelError, match="another `python -m zoo build` is building"):
            build([NAME], SETTINGS)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the orphaned step, still in the build's process group
    while lock_held(zoo_root) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not lock_held(zoo_root)
