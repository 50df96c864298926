"""Many users at once on the Space: failures, latency percentiles and the server's peak memory.

Usage: ``python bench/app_load.py [--users 16] [--requests 5] [--deadline 1800] [--out bench/results/app_load.json]``

Serves ``app.py`` on 127.0.0.1 only (a free port, ``HF_HUB_OFFLINE=1``) with a temporary zoo of randomly
initialised models at each entry's spec (weights do not change the cost). Each of ``users`` threads is one
user: its own ``gradio_client.Client`` (so its own Gradio session) and its own clip (a 3 s, 30 fps,
640x360 face clip with its own sensor noise, so no two users send the same bytes). All users start
together; each sends ``requests`` requests one after the other, as a person switching model and
attribution method on their clip would: the zoo's models in turn with saliency, then the first model
again with occlusion. A request's latency is the wall time of ``Client.submit(...).result()``:
upload, queue wait (the app answers one request at a time), pipeline, explanation, rendering and
download. The whole run is bounded by ``--deadline`` seconds; a request still unanswered then counts as a
failure. Peak memory is the server's VmHWM (peak resident set) from /proc after all requests; the
machine's load average is sampled every second, since other processes on shared cores slow the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np
from gradio_client import Client, handle_file

import zoo
from bench.app import peak_rss_mb, random_zoo
from bench.common import serve_app, write_json
from train.synth.media import face_clip


def _user_plan(requests: int) -> list[tuple[str, str]]:
    """(model, method) of each request of one user: every zoo model with saliency, then the first with occlusion."""
    names = list(zoo.ENTRIES)
    plan = [(names[k % len(names)], "saliency") for k in range(min(requests, len(names)))]
    while len(plan) < requests:
        plan.append((names[(len(plan) - len(names)) % len(names)], "occlusion"))
    return plan


def _user(url: str, clip: Path, plan: list[tuple[str, str]], deadline: float) -> list[dict]:
    """One user's requests in order; each record holds its latency or its failure."""
    client = Client(url, verbose=False)
    records = []
    for model, method in plan:
        started = time.perf_counter()
        job = client.submit(handle_file(str(clip)), model, method, "auto", api_name="/predict")
        try:
            out = job.result(timeout=max(deadline - time.monotonic(), 0.001))
            records.append({"model": model, "method": method, "seconds": time.perf_counter() - started,
                            "reused": out[6]["reused"]})
        except FutureTimeout:
            job.cancel()
            records.append({"model": model, "method": method, "error": "no answer before the deadline"})
        except Exception as exc:  # the failure is the measurement
            records.append({"model": model, "method": method, "error": f"{exc.__class__.__name__}: {exc}"[:300]})
    return records


def _sample_load(stop: threading.Event, samples: list[float]) -> None:
    while not stop.wait(1.0):
        samples.append(os.getloadavg()[0])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=16)
    p.add_argument("--requests", type=int, default=5, help="requests per user")
    p.add_argument("--deadline", type=float, default=1800.0, help="seconds for the whole run once the app is up")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "app_load.json"))
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="microexp-bench-load-"))
    random_zoo(work / "zoo")
    clips = [face_clip(work / f"user{i}.mp4", seconds=3.0, fps=30.0, size=(640, 360), seed=100 + i)
             for i in range(args.users)]
    plan = _user_plan(args.requests)
    load: list[float] = []
    stop = threading.Event()
    with serve_app(work / "app", work / "zoo") as (proc, url):
        warm = Client(url, verbose=False)  # each model's first load happens before the clock starts
        for model in dict.fromkeys(m for m, _ in plan):
            warm.predict(handle_file(str(clips[0])), model, "saliency", "auto", api_name="/predict")
        sampler = threading.Thread(target=_sample_load, args=(stop, load), daemon=True)
        sampler.start()
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        deadline = time.monotonic() + args.deadline
        with ThreadPoolExecutor(args.users) as pool:
            futures = [pool.submit(_user, url, clip, plan, deadline) for clip in clips]
            records = [r for f in futures for r in f.result()]
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        peak = peak_rss_mb(proc.pid)
    seconds = [r["seconds"] for r in records if "seconds" in r]
    errors = [r["error"] for r in records if "error" in r]
    result = {
        "users": args.users,
        "requests_per_user": args.requests,
        "plan": [f"{m}/{k}" for m, k in plan],
        "clip": "3 s, 30 fps, 640x360 H.264 face clip per user (train/synth/media.py, distinct noise)",
        "answered": len(seconds),
        "failures": len(errors),
        "failure_messages": sorted(set(errors))[:5],
        # percentiles by linear interpolation between order statistics (numpy's default)
        "latency_s": ({"p50": round(float(np.percentile(seconds, 50)), 2),
                       "p95": round(float(np.percentile(seconds, 95)), 2),
                       "max": round(max(seconds), 2), "mean": round(statistics.fmean(seconds), 2)}
                      if seconds else None),
        "reused": {k: sum(r.get("reused") == k for r in records) for k in ("none", "clip", "prediction")},
        "wall_s": round(wall, 1),
        "throughput_per_min": round(60 * len(seconds) / wall, 2),
        "peak_rss_mb": round(peak, 1),
        "machine": {"cpus": os.cpu_count(), "load_average_1min_before": round(load_before, 2),
                    "load_average_1min_max": round(max(load, default=load_before), 2),
                    "load_average_1min_median": round(statistics.median(load), 2) if load else None},
    }
    write_json(args.out, result)
    print(json.dumps(result, indent=2))
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
