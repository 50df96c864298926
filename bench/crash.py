"""Crash test of ``python -m train fit`` and ``python -m zoo build``: SIGKILL at chosen moments, rerun, same
result, nothing left over.

``train fit`` (the default mode): a small saved TensorSet (random clips of 4 subjects; the numbers only
need to be reproducible) is trained once without interruption (the reference). Then, for each kill
point, the same command starts in a fresh run directory and is SIGKILLed, then resumed with ``--resume``
until it finishes. Kill points alternate between two draws, since the folds of so small a set train in
a second or two and the figures and release after them take most of the wall time: at the k-th new
file seen in ``checkpoints/`` (k uniform over the count the reference run showed: inside the folds'
epochs), and after a delay uniform over the reference's time from its ``run.json`` to its end. Each
resumed run must give the reference's ``metrics.json`` and ``predictions.csv`` byte for byte and the
same release weights, and leave no stray file (``.tmp-*`` anywhere, epoch state in ``checkpoints/``).
Writes ``bench/results/crash.json``.

``--zoo``: a tiny ``python -m zoo build`` of the default entry (its recipe's two generation steps,
merge, tensor cache, LOSO training, release, install) in a temporary zoo, offline. The reference build
records when every file under the zoo first appears; each kill point is one phase of the build
(:data:`ZOO_PHASES`, a pattern of the paths that phase writes) and is hit at the k-th new path of that
phase (k uniform over the reference's count); ``--delays`` more points come after a delay uniform over
the reference build. A kill is a SIGKILL of the build's whole process group (the build and the
``train`` command it runs, as a power cut or a stopped container does), except for a last point in
training that kills the build process alone: its ``train fit`` goes on holding the build lock, so the
same command run at once must be refused. The same command is then run again, once. It must install
the reference's weights, config and metrics byte for byte, reuse its one run folder (no new run), and
leave no temporary, no epoch state, no generation parts and no held lock. A phase that lasts
milliseconds (the merge) can end before the watcher has seen k of its paths: the point is reported as
not killed and the script exits 1. Writes ``bench/results/crash_zoo.json``.

Usage: ``python bench/crash.py [--points 6] [--seed 0] [--epochs 6]`` (1-2 minutes per point on
2 busy cores; six epochs on 48 clips make training, not the figures and release at the end, most of
the time in which a kill lands); ``python bench/crash.py --zoo [--clips 12] [--epochs 2] [--delays 2]``
(about 2 minutes per point).
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
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
ZOO_ENTRY = "stcnn-t18"  # zoo.DEFAULT_ENTRY, written out: this script does not import the zoo
# Phases of a build and the paths (relative to the kill run's folder, fnmatch: ``*`` crosses ``/``) each writes.
ZOO_PHASES = {
    "generation step 1": "zoo/.build/*.parts/0-*",
    "generation step 2": "zoo/.build/*.parts/1-*",
    "merge": "zoo/.build/.tmp-*",
    "preprocessing": "zoo/.build/cache/*",
    "training": "zoo/.build/runs/*/checkpoints/*",
    "release": "zoo/.build/runs/*/release/*",
    "install": "zoo/.tmp-*",
}
ZOO_COMPARED = (f"zoo/{ZOO_ENTRY}/model.safetensors", f"zoo/{ZOO_ENTRY}/config.json", f"zoo/{ZOO_ENTRY}/metrics.json")


# ----------------------------------------------------------------------------------------------
# Shared by both modes: start a command in its own process group, watch the files it writes, kill it


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(extra or {})}


def run_to_end(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a command to completion; its wall time and output. Raises with its output when it fails."""
    started = time.perf_counter()
    done = subprocess.run(command, env=environment(env), cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    return time.perf_counter() - started, done.stdout


def start(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``command`` in a new process group (so a kill reaches the commands it runs), output to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(command, env=environment(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def paths_under(root: Path) -> list[str]:
    """Every file and folder below ``root``, relative to it (``[]`` while it does not exist)."""
    found, stack = [], [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    found.append(os.path.relpath(entry.path, root))
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except (FileNotFoundError, NotADirectoryError):
            pass  # a folder renamed or removed while it was read
    return found


def watch_files(proc: subprocess.Popen, root: Path, pattern: str = "*", stop_at: int | None = None) -> dict[str, float]:
    """Poll ``root`` until the process ends or ``stop_at`` distinct paths matching ``pattern`` (fnmatch on the
    path relative to ``root``) were seen; returns each seen path with its first sighting in seconds."""
    started, seen = time.perf_counter(), {}
    while proc.poll() is None and (stop_at is None or len(seen) < stop_at):
        now = time.perf_counter() - started
        for path in paths_under(root):
            if path not in seen and fnmatch.fnmatch(path, pattern):
                seen[path] = now
        time.sleep(0.001)
    return seen


def child_processes(pid: int) -> list[int]:
    """The processes ``pid`` started (Linux ``/proc``; ``[]`` once it is gone)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
        return [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except OSError:  # the process or one of its threads ended while it was read
        return []


def kill_when(proc: subprocess.Popen, root: Path, pattern: str = "*", at_file: int | None = None,
              delay_s: float | None = None, alone: bool = False) -> bool:  # fmt: skip
    """SIGKILL the process group (``alone``: the process only) at the ``at_file``-th new path matching
    ``pattern`` under ``root``, or after ``delay_s``; False when the process ended first."""
    if at_file is not None:
        watch_files(proc, root, pattern, stop_at=at_file)
    else:
        try:
            proc.wait(timeout=delay_s)
        except subprocess.TimeoutExpired:
            pass
    if proc.poll() is not None:
        return False
    if alone:
        os.kill(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


def temporaries(root: Path) -> list[str]:
    """Temporaries of ours or of a library (:func:`microexp.atomic.is_temporary`) anywhere below ``root``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if is_temporary(p.name))


def byte_differences(run: Path, reference: Path, names: tuple[str, ...]) -> list[str]:
    """The files in ``names`` that are not byte-identical in the two folders."""
    return [name for name in names if (run / name).read_bytes() != (reference / name).read_bytes()]


# ----------------------------------------------------------------------------------------------
# `python -m train fit`


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


def start_training(command: list[str], run_dir: Path, timeout_s: float = 600.0) -> subprocess.Popen:
    """Start ``train fit`` and return once its ``run.json`` exists (or the process ended)."""
    proc = start(command, run_dir.with_name(run_dir.name + ".log"))
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and not (run_dir / "run.json").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    return proc


CHECKPOINT_FILES = "[!.]*"  # in checkpoints/: every name but temporaries (which start with a dot)


def reference_run(tensors: Path, out: Path, epochs: int) -> tuple[float, int]:
    """The uninterrupted run: seconds from its ``run.json`` to its end, and checkpoint files seen."""
    proc = start_training(fit_command(tensors, out, epochs), out)
    started = time.perf_counter()
    files = len(watch_files(proc, out / "checkpoints", CHECKPOINT_FILES))
    if proc.wait() != 0:
        raise RuntimeError(f"the reference run failed: {out.with_name(out.name + '.log').read_text()[-2000:]}")
    return time.perf_counter() - started, files


def state_at_kill(run_dir: Path) -> dict[str, Any]:
    """What a killed run left: finished jobs, the epoch of each job in progress, temporaries."""
    ckpt = run_dir / "checkpoints"
    names = sorted(p.name for p in ckpt.iterdir()) if ckpt.is_dir() else []
    return {
        "run_json": (run_dir / "run.json").is_file(),
        "done_jobs": sum(n.endswith(".done.json") for n in names),
        "epoch_files": [n for n in names if n.endswith(".safetensors")],
        "release": (run_dir / "release" / "config.json").is_file(),
        "temporaries": temporaries(run_dir),
    }


def epoch_state(checkpoints: Path) -> list[Path]:
    """What a finished run's ``checkpoints/`` should no longer hold: anything but its done records."""
    return [p for p in checkpoints.iterdir() if not p.name.endswith(".done.json")] if checkpoints.is_dir() else []


def stray_files(run_dir: Path) -> list[str]:
    """Files a finished run should not hold: temporaries anywhere, epoch state in checkpoints/."""
    return sorted({*temporaries(run_dir), *(str(p.relative_to(run_dir)) for p in epoch_state(run_dir / "checkpoints"))})


def kill_and_resume(
    tensors: Path, out: Path, epochs: int, delay_s: float | None = None, at_file: int | None = None
) -> dict[str, Any]:
    """Start the run, SIGKILL it ``delay_s`` after its ``run.json`` appears or at the ``at_file``-th new
    checkpoint file, then resume it to the end."""
    proc = start_training(fit_command(tensors, out, epochs), out)
    started = time.perf_counter()
    killed = kill_when(proc, out / "checkpoints", CHECKPOINT_FILES, at_file=at_file, delay_s=delay_s)
    delay_s = time.perf_counter() - started
    state = state_at_kill(out)
    resume_s, _ = run_to_end(fit_command(tensors, out, epochs, resume=True))
    return {"at_file": at_file, "delay_s": round(delay_s, 2), "killed": killed, "state_at_kill": state,
            "resume_s": round(resume_s, 1)}


def fit_main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    epochs = args.epochs or 6
    rows = []
    with tempfile.TemporaryDirectory(prefix="microexp-crash-") as tmp:
        tmp = Path(tmp)
        tensors = make_tensors(tmp / "random.safetensors")
        reference = tmp / "reference"
        reference_s, files = reference_run(tensors, reference, epochs)
        print(f"reference run: {reference_s:.1f} s from run.json to the end, {files} checkpoint files seen")
        i = 0
        while sum(r["killed"] for r in rows) < args.points and i < 2 * args.points:  # a run may end before its kill
            if i % 2 == 0:
                row = kill_and_resume(tensors, tmp / f"killed-{i}", epochs, at_file=rng.randint(1, files))
            else:
                row = kill_and_resume(tensors, tmp / f"killed-{i}", epochs, delay_s=rng.uniform(0.0, reference_s))
            row.update(differences=byte_differences(tmp / f"killed-{i}", reference, COMPARED),
                       stray=stray_files(tmp / f"killed-{i}"))
            rows.append(row)
            state = row["state_at_kill"]
            print(f"kill {i}: after {row['delay_s']:5.1f} s (file {row['at_file']})  done jobs {state['done_jobs']}  "
                  f"epoch files {len(state['epoch_files'])}  temporaries {len(state['temporaries'])}  "
                  f"release {state['release']}  ->  differences {row['differences'] or 'none'}  "
                  f"stray {row['stray'] or 'none'}" + ("" if row["killed"] else "  (finished before the kill)"))
            i += 1
    killed = [r for r in rows if r["killed"]]
    ok = len(killed) == args.points and all(not r["differences"] and not r["stray"] for r in rows)
    write_json(args.out or RESULTS / "crash.json",
               {"reference_s": round(reference_s, 1), "reference_checkpoint_files": files, "epochs": epochs,
                "seed": args.seed, "points": rows, "all_identical_and_clean": ok})  # fmt: skip
    print(f"{sum(not r['differences'] and not r['stray'] for r in killed)}/{len(killed)} killed and resumed runs "
          f"identical and clean -> {args.out or RESULTS / 'crash.json'}")
    return 0 if ok else 1


# ----------------------------------------------------------------------------------------------
# `python -m zoo build`


def zoo_command(clips: int, epochs: int) -> list[str]:
    """A tiny build of one entry (the rerun after a kill is the very same command)."""
    return [sys.executable, "-m", "zoo", "build", "--entries", ZOO_ENTRY, "--clips", str(clips),
            "--epochs", str(epochs)]


def zoo_environment(root: Path) -> dict[str, str]:
    """A private zoo under ``root``, no Hub."""
    return {"MICROEXP_ZOO_DIR": str(root / "zoo"), "HF_HUB_OFFLINE": "1"}


def zoo_state(root: Path) -> dict[str, Any]:
    """What a killed build left, phase by phase."""
    work = root / "zoo" / ".build"
    runs = sorted(work.glob("runs/*/run.json"))
    return {
        "data_complete": any(work.glob("*/.complete")),
        "parts": sorted(str(p.relative_to(work)) for p in work.glob("*.parts/*")),
        "cache_entries": sum(not is_temporary(p.name) for p in work.glob("cache/*")),
        "run_json": bool(runs),
        "done_jobs": len(list(work.glob("runs/*/checkpoints/*.done.json"))),
        "release": any(work.glob("runs/*/release/model.safetensors")),
        "installed": (root / "zoo" / ZOO_ENTRY / "zoo.json").is_file(),
        "temporaries": temporaries(root / "zoo"),
    }


def lock_held(zoo_root: Path) -> bool:
    """Whether some process still holds the zoo's build lock (``zoo.build.LOCK_FILE``)."""
    path = zoo_root / ".build.lock"
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def run_folders(root: Path) -> list[str]:
    """The run folders of the build under ``root`` (one per entry and settings: a rerun must add none)."""
    runs = root / "zoo" / ".build" / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def zoo_strays(root: Path, runs: list[str]) -> list[str]:
    """What a finished build should not hold: temporaries, epoch state, generation parts, other run
    folders than ``runs``, a held lock."""
    work = root / "zoo" / ".build"
    stray = temporaries(root / "zoo") + [str(p.relative_to(work)) for p in work.glob("*.parts")]
    for checkpoints in work.glob("runs/*/checkpoints"):
        stray += [str(p.relative_to(work)) for p in epoch_state(checkpoints)]
    stray += [f"runs/{name}" for name in run_folders(root) if name not in runs]
    return stray + (["a held .build.lock"] if lock_held(root / "zoo") else [])


def zoo_differences(root: Path, reference: Path) -> list[str]:
    """Installed files and the run's predictions that differ from the reference build's; ``zoo.json`` but
    for when and where it was built."""
    predictions = reference.glob("zoo/.build/runs/*/predictions.csv")
    names = (*ZOO_COMPARED, *(str(p.relative_to(reference)) for p in predictions))
    diffs = byte_differences(root, reference, names)

    def record(r: Path) -> dict[str, Any]:
        return {k: v for k, v in json.loads((r / "zoo" / ZOO_ENTRY / "zoo.json").read_text()).items()
                if k not in ("built_at", "run_dir")}  # fmt: skip

    return diffs + ([f"zoo/{ZOO_ENTRY}/zoo.json"] if record(root) != record(reference) else [])


def pattern_phase(pattern: str) -> str | None:
    return next((name for name, p in ZOO_PHASES.items() if p == pattern), None)


def phase_of(path: str) -> str | None:
    return next((name for name, pattern in ZOO_PHASES.items() if fnmatch.fnmatch(path, pattern)), None)


def zoo_kill_and_rerun(command: list[str], root: Path, reference: Path, pattern: str = "*",
                       at_file: int | None = None, delay_s: float | None = None, alone: bool = False,
                       ) -> dict[str, Any]:  # fmt: skip
    """Start the build in a fresh zoo under ``root``, SIGKILL it at the ``at_file``-th new path matching
    ``pattern`` or after ``delay_s``, run the same command again to its end, compare with ``reference``.

    ``alone``: kill the build process only. Its ``train`` command goes on by itself, holding the build lock:
    the same command run at once must be refused, and is run again once that one has ended.
    """
    root.mkdir()
    env = zoo_environment(root)
    proc = start(command, root / "build.log", env)
    started = time.perf_counter()
    killed = kill_when(proc, root, pattern, at_file=at_file, delay_s=delay_s, alone=alone)
    delay_s = time.perf_counter() - started
    state = zoo_state(root)
    extra: dict[str, Any] = {}
    if alone:
        at_once = subprocess.run(command, env=environment(env), cwd=ROOT, capture_output=True, text=True, check=False)
        extra["refused_while_its_train_command_ran"] = "another `python -m zoo build`" in at_once.stderr
        waited = time.perf_counter()
        while lock_held(root / "zoo") and time.perf_counter() - waited < 900:
            time.sleep(0.1)
        extra["lock_held_after_the_kill_s"] = round(time.perf_counter() - waited, 1)
    rerun_s, output = run_to_end(command, env)
    took_up = "(resuming)" in output or "reusing the finished run" in output  # its run folder, not a new one
    return {"at_file": at_file, "delay_s": round(delay_s, 2), "killed": killed, "state_at_kill": state,
            "rerun_s": round(rerun_s, 1), "rerun_took_up_its_run": took_up,
            "differences": zoo_differences(root, reference), "stray": zoo_strays(root, run_folders(reference)),
            **extra}


def zoo_main(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    command = zoo_command(args.clips, args.epochs or 2)
    rows = []
    with tempfile.TemporaryDirectory(prefix="microexp-crash-zoo-") as tmp:
        reference = Path(tmp) / "reference"
        reference.mkdir()
        proc = start(command, reference / "build.log", zoo_environment(reference))
        started = time.perf_counter()
        seen = watch_files(proc, reference)
        if proc.wait() != 0:
            raise RuntimeError(f"the reference build failed: {(reference / 'build.log').read_text()[-2000:]}")
        reference_s = time.perf_counter() - started
        phases = {name: sorted(t for p, t in seen.items() if phase_of(p) == name) for name in ZOO_PHASES}
        print(f"reference build: {reference_s:.1f} s; paths per phase, first and last seen (s): " + "; ".join(
            f"{name} {len(ts)} ({ts[0]:.1f}-{ts[-1]:.1f})" if ts else f"{name} 0" for name, ts in phases.items()))
        points = [(name, ZOO_PHASES[name], rng.randint(1, len(ts)), None, False) for name, ts in phases.items() if ts]
        points += [("random moment", "*", None, rng.uniform(0.0, reference_s), False) for _ in range(args.delays)]
        if phases["training"]:
            points.append(("training, build process alone", ZOO_PHASES["training"],
                           rng.randint(1, len(phases["training"])), None, True))  # fmt: skip
        for i, (name, pattern, at_file, delay_s, alone) in enumerate(points):
            row = {"phase": name, **zoo_kill_and_rerun(command, Path(tmp) / f"killed-{i}", reference, pattern,
                                                       at_file, delay_s, alone)}  # fmt: skip
            rows.append(row)
            state = row["state_at_kill"]
            at = f"path {at_file} of {len(phases.get(pattern_phase(pattern), ()))}" if at_file else "delay"
            print(f"kill {i} in {name} ({at}) after {row['delay_s']:5.1f} s: parts {len(state['parts'])}  "
                  f"data {state['data_complete']}  cache {state['cache_entries']}  run.json {state['run_json']}  "
                  f"done jobs {state['done_jobs']}  release {state['release']}  installed {state['installed']}  "
                  f"temporaries {len(state['temporaries'])}  ->  rerun {row['rerun_s']:.0f} s"
                  f"{' (took up its run)' if row['rerun_took_up_its_run'] else ''}, "
                  f"differences {row['differences'] or 'none'}, stray {row['stray'] or 'none'}"
                  + ("" if row["killed"] else "  (finished before the kill)")
                  + (f"; refused at once: {row['refused_while_its_train_command_ran']}, lock held "
                     f"{row['lock_held_after_the_kill_s']} s more" if alone else ""))
    killed = [r for r in rows if r["killed"]]
    every_phase = all(phases.values()) and all(r["killed"] for r in rows if r["phase"] in ZOO_PHASES)
    ok = every_phase and all(not r["differences"] and not r["stray"] for r in rows) and all(
        r.get("refused_while_its_train_command_ran", True) for r in rows)
    out = args.out or RESULTS / "crash_zoo.json"
    write_json(out, {"command": " ".join(command[1:]), "reference_s": round(reference_s, 1),
                     "reference_paths_per_phase": {k: len(v) for k, v in phases.items()}, "seed": args.seed,
                     "points": rows, "all_identical_and_clean": ok})  # fmt: skip
    print(f"{sum(not r['differences'] and not r['stray'] for r in killed)}/{len(killed)} killed and rerun builds "
          f"identical and clean -> {out}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", action="store_true", help="kill `python -m zoo build` instead of `train fit`")
    parser.add_argument("--points", type=int, default=6, help="kill points of train fit (a killed run + its resume)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 6; --zoo: 2)")
    parser.add_argument("--clips", type=int, default=12, help="--zoo: synthetic clips of the build")
    parser.add_argument("--delays", type=int, default=2,
                        help="--zoo: kill points after a delay uniform over the reference build, beyond one per phase")
    parser.add_argument("--out", type=Path, default=None,
                        help="results file (default bench/results/crash.json; --zoo: crash_zoo.json)")
    args = parser.parse_args(argv)
    return zoo_main(args) if args.zoo else fit_main(args)


if __name__ == "__main__":
    sys.exit(main())
