"""bench/crash.py's check, at one kill point: SIGKILL ``python -m train fit`` mid-run, resume, compare.

The full crash test (6 random kill points) is ``python bench/crash.py``; this runs one point, chosen
at random after the first epoch checkpoint, so the suite keeps a quick guard on it.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

from bench.crash import (
    ROOT,
    differences,
    environment,
    fit_command,
    make_tensors,
    state_at_kill,
    stray_files,
)
from train import fit


def test_sigkill_at_a_random_point_then_resume_gives_the_same_run_and_no_stray_files(tmp_path: Path) -> None:
    tensors = make_tensors(tmp_path / "random.safetensors", clips_per_subject=3)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    proc = subprocess.Popen(
        fit_command(tensors, killed, epochs=2), env=environment(), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300  # a generous bound on the wait for the first checkpoint (the event)
    while time.monotonic() < deadline and proc.poll() is None and not list(killed.glob("checkpoints/*.json")):
        time.sleep(0.005)
    time.sleep(random.Random().uniform(0.0, 0.5))  # then anywhere in the next half second of training
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    state = state_at_kill(killed)
    assert state["run_json"] and not (killed / "metrics.json").exists(), state  # really killed mid-run

    argv = fit_command(tensors, killed, epochs=2, resume=True)
    assert fit.main(argv[argv.index("fit") + 1 :]) == 0, state
    argv = fit_command(tensors, reference, epochs=2)
    assert fit.main(argv[argv.index("fit") + 1 :]) == 0  # same code path and threads, uninterrupted
    assert differences(killed, reference) == [], state
    assert stray_files(killed) == [], state
