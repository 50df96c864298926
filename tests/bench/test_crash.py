"""One kill point of ``bench/crash.py --zoo`` (which kills a tiny real build once per phase, minutes each),
fast: a build whose training is already done is SIGKILLed while it installs, and the same command run
again installs the run's release and leaves nothing behind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.crash import (
    ZOO_ENTRY, kill_when, run_folders, run_to_end, start, zoo_command, zoo_environment, zoo_state, zoo_strays,
)  # fmt: skip
from tests.zoo.builds import finished_build
from zoo.build import BuildSettings

SETTINGS = BuildSettings(clips=12, epochs=2)
PADDING = 128 * 2**20  # bytes: its copy keeps the install busy long enough to be killed inside it


def test_a_build_killed_while_installing_is_finished_by_the_same_command(tmp_path: Path) -> None:
    run_dir = finished_build(tmp_path / "zoo" / ".build", SETTINGS, ZOO_ENTRY)
    (run_dir / "figures").mkdir()
    with (run_dir / "figures" / "padding.bin").open("wb") as f:  # travels with the release into the zoo
        for _ in range(PADDING // 2**20):
            f.write(bytes(2**20))
    (run_dir / "metrics.json").write_text(json.dumps({"uf1": 0.5}))
    command, env = zoo_command(SETTINGS.clips, SETTINGS.epochs), zoo_environment(tmp_path)
    try:
        proc = start(command, tmp_path / "build.log", env)
        assert kill_when(proc, tmp_path, "zoo/.tmp-*", at_file=1), (tmp_path / "build.log").read_text()
        state = zoo_state(tmp_path)
        assert state["temporaries"] and not state["installed"], state  # killed inside install()

        _, output = run_to_end(command, env)
        assert "removed 1 unfinished temporary file(s)" in output and "reusing the finished run" in output, output
        installed = tmp_path / "zoo" / ZOO_ENTRY
        for name in ("model.safetensors", "config.json"):
            assert (installed / name).read_bytes() == (run_dir / "release" / name).read_bytes()
        assert (installed / "figures" / "padding.bin").stat().st_size == PADDING
        assert json.loads((installed / "zoo.json").read_text())["run_dir"] == str(run_dir)
        assert zoo_strays(tmp_path, [run_dir.name]) == [] and run_folders(tmp_path) == [run_dir.name]
    finally:
        shutil.rmtree(tmp_path / "zoo", ignore_errors=True)  # pytest keeps the last runs' folders: not their padding
