"""Crash test of ``python -m train fit``: SIGKILL at random moments, resume, same result, nothing left over.

A small saved TensorSet (random clips of 4 subjects; the numbers only need to be reproducible) is
trained once without interruption (the reference). Then, for each kill point, the same command
starts in a fresh run directory and is SIGKILLed, then resumed with ``--resume`` until it finishes.
Kill points alternate between two draws, since the folds of so small a set train in a second or
two and the figures and release after them take most of the wall time: at the k-th new file seen
in ``checkpoints/`` (k uniform over the count the reference run showed: inside the folds' epochs),
and after a delay uniform over the reference's time from its ``run.json`` to its end. Each resumed run must
give the reference's ``metrics.json`` and ``predictions.csv`` byte for byte and the same release
weights, and leave no stray file (``.tmp-*`` anywhere, epoch state in ``checkpoints/``).
Writes ``bench/results/crash.json``.

Usage: ``python bench/crash.py [--points 6] [--seed 0] [--epochs 6]`` (1-2 minutes per point on
2 busy cores; six epochs on 48 clips make training, not the figures and release at the end, most of
the time in which a kill lands).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, write_json  # noqa: E402
from microexp.atomic import is_temporary  # noqa: E402

SUBJECTS = ("s1", "s2", "s3", "s4")
SMALL_ARCH = {"filters": 2, "hidden": 8, "dropout": 0.2}
COMPARED = ("metrics.json", "predictions.csv", "release/model.safetensors", "release/config.json")


def make_tensors(path: Path, clips_per_subject: int = 12, seed: int = 0) -> Path:
    """A saved TensorSet of random (1, 18, 32, 32) clips, 3 classes, 4 subjects."""
    import torch

    from microexp.spec import InputSpec
    from train.tensorset import TensorSet, save_tensor_set

    g = torch.Generator().manual_seed(seed)
    n = len(SUBJECTS) * clips_per_subject
    subjects = tuple(s for s in SUBJECTS for _ in range(clips_per_subject))
    tensor_set = TensorSet(
        inputs=(torch.randn(n, 1, 18, 32, 32, generator=g),),
        labels=torch.arange(n) % 3,
        subjects=subjects,
        clips=tuple(f"{s}/clip{i}" for i, s in enumerate(subjects)),
        spec=InputSpec(frames=18, face_size=32),
    )
    return save_tensor_set(tensor_set, path, dataset_name="crash-random", synthetic=True)


def fit_command(tensors: Path, out: Path, epochs: int, resume: bool = False) -> list[str]:
    """The user's command line (one torch thread, so resumed runs are bit-for-bit comparable)."""
    return [
        sys.executable, "-m", "train", "fit", "--data", f"tensors={tensors}", "--out", str(out),
        "--epochs", str(epochs), "--seed", "1", "--threads", "1", "--quiet",
        "--arch-kwargs", json.dumps(SMALL_ARCH), *(["--resume"] if resume else []),
    ]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_to_end(command: list[str]) -> float:
    """Run a command to completion; returns its wall time. Raises with its stderr when it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=environment(), cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return time.perf_counter() - started


def start_training(command: list[str], run_dir: Path, timeout_s: float = 600.0) -> subprocess.Popen:
    """Start ``train fit`` and return once its ``run.json`` exists (or the process ended)."""
    proc = subprocess.Popen(command, env=environment(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and not (run_dir / "run.json").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    return proc


def watch_checkpoints(proc: subprocess.Popen, run_dir: Path, stop_at: int | None = None) -> int:
    """Poll ``checkpoints/`` until the process ends or ``stop_at`` distinct file names were seen; the count."""
    seen: set[str] = set()
    folder = run_dir / "checkpoints"
    while proc.poll() is None and (stop_at is None or len(seen) < stop_at):
        try:
            seen.update(e.name for e in os.scandir(folder) if not is_temporary(e.name))
        except FileNotFoundError:
            pass
        time.sleep(0.001)
    return len(seen)


def reference_run(tensors: Path, out: Path, epochs: int) -> tuple[float, int]:
    """The uninterrupted run: seconds from its ``run.json`` to its end, and checkpoint files seen."""
    proc = start_training(fit_command(tensors, out, epochs), out)
    started = time.perf_counter()
    files = watch_checkpoints(proc, out)
    if proc.wait() != 0:
        raise RuntimeError(f"the reference run failed: {proc.stderr.read().decode()[-2000:]}")
    return time.perf_counter() - started, files


def state_at_kill(run_dir: Path) -> dict[str, Any]:
    """What a killed run left: finished jobs, the epoch of each job in progress, temporaries."""
    ckpt = run_dir / "checkpoints"
    names = sorted(p.name for p in ckpt.iterdir()) if ckpt.is_dir() else []
    temporaries = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if is_temporary(p.name))
    return {
        "run_json": (run_dir / "run.json").is_file(),
        "done_jobs": sum(n.endswith(".done.json") for n in names),
        "epoch_files": [n for n in names if n.endswith(".safetensors")],
        "release": (run_dir / "release" / "config.json").is_file(),
        "temporaries": temporaries,
    }


def stray_files(run_dir: Path) -> list[str]:
    """Files a finished run should not hold: temporaries anywhere, epoch state in checkpoints/."""
    stray = [p for p in run_dir.rglob("*") if is_temporary(p.name)]
    ckpt = run_dir / "checkpoints"
    if ckpt.is_dir():
        stray += [p for p in ckpt.iterdir() if not p.name.endswith(".done.json")]
    return sorted(str(p.relative_to(run_dir)) for p in stray)


def differences(run_dir: Path, reference: Path) -> list[str]:
    """The compared outputs that are not byte-identical to the reference's."""
    return [name for name in COMPARED if (run_dir / name).read_bytes() != (reference / name).read_bytes()]


def kill_and_resume(
    tensors: Path, out: Path, epochs: int, delay_s: float | None = None, at_file: int | None = None
) -> dict[str, Any]:
    """Start the run, SIGKILL it ``delay_s`` after its ``run.json`` appears or at the ``at_file``-th new
    checkpoint file, then resume it to the end."""
    proc = start_training(fit_command(tensors, out, epochs), out)
    started = time.perf_counter()
    if at_file is not None:
        watch_checkpoints(proc, out, stop_at=at_file)
    else:
        try:
            proc.wait(timeout=delay_s)
        except subprocess.TimeoutExpired:
            pass
    killed = proc.poll() is None  # else it finished first
    if killed:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    delay_s = time.perf_counter() - started
    state = state_at_kill(out)
    resume_s = run_to_end(fit_command(tensors, out, epochs, resume=True))
    return {"at_file": at_file, "delay_s": round(delay_s, 2), "killed": killed, "state_at_kill": state,
            "resume_s": round(resume_s, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=6, help="kill points (each one killed run + its resume)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill delays")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=RESULTS / "crash.json")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="microexp-crash-") as tmp:
        tmp = Path(tmp)
        tensors = make_tensors(tmp / "random.safetensors")
        reference = tmp / "reference"
        reference_s, files = reference_run(tensors, reference, args.epochs)
        print(f"reference run: {reference_s:.1f} s from run.json to the end, {files} checkpoint files seen")
        i = 0
        while sum(r["killed"] for r in rows) < args.points and i < 2 * args.points:  # a run may end before its kill
            if i % 2 == 0:
                row = kill_and_resume(tensors, tmp / f"killed-{i}", args.epochs, at_file=rng.randint(1, files))
            else:
                row = kill_and_resume(tensors, tmp / f"killed-{i}", args.epochs, delay_s=rng.uniform(0.0, reference_s))
            row.update(differences=differences(tmp / f"killed-{i}", reference), stray=stray_files(tmp / f"killed-{i}"))
            rows.append(row)
            state = row["state_at_kill"]
            print(f"kill {i}: after {row['delay_s']:5.1f} s (file {row['at_file']})  done jobs {state['done_jobs']}  "
                  f"epoch files {len(state['epoch_files'])}  temporaries {len(state['temporaries'])}  "
                  f"release {state['release']}  ->  differences {row['differences'] or 'none'}  "
                  f"stray {row['stray'] or 'none'}" + ("" if row["killed"] else "  (finished before the kill)"))
            i += 1
    killed = [r for r in rows if r["killed"]]
    ok = len(killed) == args.points and all(not r["differences"] and not r["stray"] for r in rows)
    write_json(args.out, {"reference_s": round(reference_s, 1), "reference_checkpoint_files": files,
                          "epochs": args.epochs, "seed": args.seed,
                          "points": rows, "all_identical_and_clean": ok})
    print(f"{sum(not r['differences'] and not r['stray'] for r in killed)}/{len(killed)} killed and resumed runs "
          "identical and clean"
          f" -> {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
