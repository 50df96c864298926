"""The Space end to end: cold start, request latency per model and attribution method, peak memory.

Usage: ``python bench/app.py [--repeats 3] [--out bench/results/app.json]``

Serves ``app.py`` in a subprocess (127.0.0.1, free port, ``HF_HUB_OFFLINE=1``) on a temporary zoo of
randomly initialised models at each entry's spec (weights do not change the cost), then sends a 3 s,
30 fps, 640x360 face clip through ``gradio_client`` exactly as a user of the API would.
- cold start: process spawn -> first HTTP 200 of the page;
- latency: wall time of ``Client.predict`` (upload + queue + pipeline + explanation + rendering +
  download of the outputs), median of ``repeats`` after one warm-up per model;
- peak memory: the server's VmHWM (peak resident set) from /proc after all requests.
Target (issue): a 3 s clip with STCNN and Saliency answered in under 3 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch
from gradio_client import Client, handle_file

import zoo
from microexp.explain import METHODS
from microexp.models import build_model
from microexp.spec import InputSpec
from tests.fixtures.app import free_port
from tests.media import face_clip


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "app.json"))
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="microexp-bench-app-"))
    for name, entry in zoo.ENTRIES.items():
        torch.manual_seed(0)
        build_model(entry.arch, input_spec=InputSpec.from_dict(entry.input_spec)).save_pretrained(work / "zoo" / name)
    clip = face_clip(work / "clip.mp4", seconds=3.0, fps=30.0, size=(640, 360))
    port = free_port()
    env = {**os.environ, "MICROEXP_ZOO_DIR": str(work / "zoo"), "HF_HUB_OFFLINE": "1",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
           "MICROEXP_APP_OUTPUT": str(work / "out"), "GRADIO_TEMP_DIR": str(work / "gradio")}
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - started > 180:
                    raise SystemExit("app.py did not start") from None
                time.sleep(0.1)
        cold_start = time.perf_counter() - started
        client = Client(url, verbose=False)
        latency: dict[str, dict[str, float]] = {}
        first_request: dict[str, float] = {}
        for name in zoo.ENTRIES:
            t = time.perf_counter()
            client.predict(handle_file(str(clip)), name, "saliency", api_name="/predict")  # warm-up: model load
            first_request[name] = round(time.perf_counter() - t, 3)
            latency[name] = {}
            for method in METHODS:
                times = []
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    client.predict(handle_file(str(clip)), name, method, api_name="/predict")
                    times.append(time.perf_counter() - t)
                latency[name][method] = round(statistics.median(times), 3)
                print(f"{name:26s} {method:22s} {latency[name][method]:.2f} s", flush=True)
        result = {
            "clip": "3 s, 30 fps, 640x360 H.264 face clip (tests/media.py)",
            "cold_start_s": round(cold_start, 2),
            "first_request_s": first_request,
            "latency_s_median": latency,
            "peak_rss_mb": round(peak_rss_mb(proc.pid), 1),
            "repeats": args.repeats,
            "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "python": platform.python_version(), "torch": torch.__version__},
            "target": "stcnn-t18 + saliency < 3 s",
            "target_met": latency["stcnn-t18"]["saliency"] < 3.0,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("cold_start_s", "first_request_s", "peak_rss_mb", "target_met")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
