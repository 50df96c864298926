"""The background build: a real ``python -m zoo build`` child process whose progress the app polls."""

from __future__ import annotations

import zoo
from tests.zoo.builds import finished_build
from zoo.background import BackgroundBuild, start_if_missing
from zoo.build import BuildSettings

NAME = zoo.DEFAULT_ENTRY


def _prepare(tmp_path, monkeypatch):
    """A zoo dir whose default build already generated its clips and trained NAME, then was killed."""
    monkeypatch.setenv("MICROEXP_ZOO_DIR", str(tmp_path / "zoo"))
    monkeypatch.setenv("MICROEXP_ZOO_PINS", str(tmp_path / "pins.json"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MICROEXP_DEMO_QUICK", raising=False)
    monkeypatch.delenv("MICROEXP_BACKGROUND_BUILD", raising=False)
    zoo.clear_cache()
    finished_build(tmp_path / "zoo" / ".build", BuildSettings())


def test_progress_follows_the_build_and_the_app_picker_gains_the_model(tmp_path, monkeypatch):
    _prepare(tmp_path, monkeypatch)
    lines: list[str] = []
    build = BackgroundBuild((NAME,), echo=lines.append)
    assert build.progress().running and "0/1 models ready" in build.progress().markdown()
    import app

    demo = app.build_demo(build)  # the page is built before any model exists
    picker = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model")
    assert picker.choices == []
    build.start()
    assert build.wait(120) == 0
    progress = build.progress()
    assert progress.finished == (NAME,) and progress.error is None and (progress.step, progress.steps) == (2, 2)
    assert "1/1 models ready" in progress.markdown() and any(line.startswith("[zoo build] ") for line in lines)
    assert zoo.resolve(NAME, hub=False).source == "local"

    assert picker.choices == [(zoo.ENTRIES[NAME].title, NAME)]  # what API clients are checked against
    markdown, update, timer = app.build_status(build, None)  # a browser session's next tick
    assert "finished" in markdown and update.value == NAME and update.choices == picker.choices
    assert timer.active is False


def test_a_failing_build_shows_its_error_and_nothing_starts_when_nothing_is_missing(tmp_path, monkeypatch):
    build = BackgroundBuild(("no-such-entry",), echo=lambda _line: None).start()
    assert build.wait(120) not in (0, None)
    progress = build.progress()
    assert not progress.running and "invalid choice" in progress.error and "failed" in progress.markdown()
    monkeypatch.setenv("MICROEXP_BACKGROUND_BUILD", "0")
    assert start_if_missing() is None
