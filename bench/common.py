"""What the benchmark scripts share: the model workloads, LOSO runs through the CLI, and how results are written and shown.

Plain Python (no torch; ``microexp.atomic`` is standard library only), so ``keras_reference.py`` can import
it from its own environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from microexp.atomic import write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# name -> (architecture, frames T); the paper's CAS(ME)^2 spec is T=96, its SMIC spec and the zoo's T=18.
MODEL_WORKLOADS = {
    "stcnn-96": ("stcnn", 96),
    "fusenet-intermediate-96": ("fusenet-intermediate", 96),
    "stcnn-18": ("stcnn", 18),
    "fusenet-intermediate-18": ("fusenet-intermediate", 18),
    "fusenet-late-18": ("fusenet-late", 18),
}
QUICK_MODEL_WORKLOADS = ("stcnn-96", "stcnn-18", "fusenet-intermediate-18")
MIN_SECONDS = 1.0  # per measurement: sub-millisecond T=18 calls get hundreds of samples


def median_seconds(
    fns: dict[str, Callable[[], object]], repeats: int, min_seconds: float = MIN_SECONDS, warmup: int = 2
) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved round-robin (load from other processes
    on the shared cores hits every implementation alike), at least ``repeats`` rounds and until the
    slowest function has run ``min_seconds`` in total: a fixed 15 rounds were too few calls for the
    millisecond-scale workloads (Keras STCNN-18 at batch 1: 1.62 ms median, 1.16 ms with a second of
    calls)."""

    def timed(fn: Callable[[], object]) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start

        return run

    return median_timed({name: timed(fn) for name, fn in fns.items()}, repeats, min_seconds, warmup)


def median_timed(
    timers: dict[str, Callable[[], float]], repeats: int, min_seconds: float = MIN_SECONDS, warmup: int = 2
) -> dict[str, float]:
    """:func:`median_seconds` for calls that report their own duration in seconds (a subprocess that
    times itself, so the pipe round trip is not counted)."""
    for _ in range(warmup):
        for timer in timers.values():
            timer()
    times: dict[str, list[float]] = {name: [] for name in timers}
    while len(next(iter(times.values()))) < repeats or max(map(sum, times.values())) < min_seconds:
        for name, timer in timers.items():
            times[name].append(timer())
    return {name: statistics.median(ts) for name, ts in times.items()}


def run_quietly(*args: str | os.PathLike[str]) -> None:
    """``python -m <args>`` from the project root with this interpreter; output hidden, failure raises."""
    subprocess.run([sys.executable, "-m", *map(str, args)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def loso_metrics(arch: str, data: str, seed: int, run_dir: Path, *extra: str | os.PathLike[str]) -> dict[str, Any]:
    """Evaluate ``arch`` on ``data`` exactly as a user would (``python -m train fit --no-release``, LOSO,
    default preset) and return the run's ``metrics.json``."""
    run_quietly("train", "fit", "--arch", arch, "--data", data, "--seed", str(seed), "--out", run_dir,
                "--no-release", "--quiet", *extra)
    return json.loads((Path(run_dir) / "metrics.json").read_text())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the OS picks it), for a server under test or benchmark."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(work: Path, zoo_dir: Path, timeout: float = 180.0, **env: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """``python app.py`` on 127.0.0.1:<free port> (loopback only), offline, with ``zoo_dir`` as its zoo and its
    outputs, Gradio cache and log (``app.log``) under ``work``; yields (process, url) once the page answers.

    ``env`` adds or overrides environment variables of the app. Raises RuntimeError (with the log's tail)
    when the app exits or does not answer within ``timeout`` seconds.
    """
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "MICROEXP_ZOO_DIR": str(zoo_dir), "HF_HUB_OFFLINE": "1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False",
           "MICROEXP_APP_OUTPUT": str(work), "GRADIO_TEMP_DIR": str(work / "gradio"), **env}
    log = work / "app.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield proc, url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as indented JSON (keys in insertion order, as the tables read) atomically."""
    path = Path(path)
    write_text(path, json.dumps(data, indent=2) + "\n")
    return path


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table, the format README.md quotes."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
