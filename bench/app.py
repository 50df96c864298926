"""The Space end to end: cold start, request latency per model and attribution method, peak memory.

Usage: ``python bench/app.py [--repeats 3] [--out bench/results/app.json]``

Serves ``app.py`` in a subprocess (127.0.0.1, free port, ``HF_HUB_OFFLINE=1``) on a temporary zoo of
randomly initialised models at each entry's spec (weights do not change the cost), then sends 3 s,
30 fps, 640x360 face clips through ``gradio_client`` exactly as a user of the API would.
- cold start: process spawn -> first HTTP 200 of the page;
- latency: wall time of ``Client.predict`` (upload + queue + pipeline + explanation + rendering +
  download of the outputs), median of ``repeats`` after one warm-up per model. The app keeps its
  last clips by content hash, so these requests cycle through distinct clips (different sensor
  noise) that are never in its cache: every one decodes and tracks its clip;
- reuse: the same clip again after another model (decode and landmarks reused) and after another
  attribution method (the whole prediction reused), as when a user switches model or method;
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
from bench.common import free_port, write_json
from microexp.explain import METHODS
from microexp.models import build_model
from microexp.spec import InputSpec
from train.synth.media import face_clip


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def random_zoo(root: Path) -> Path:
    """Every zoo entry randomly initialised at its spec under ``root`` (weights do not change the cost)."""
    for name, entry in zoo.ENTRIES.items():
        torch.manual_seed(0)
        build_model(entry.arch, input_spec=InputSpec.from_dict(entry.input_spec)).save_pretrained(root / name)
    return root


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "app.json"))
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="microexp-bench-app-"))
    random_zoo(work / "zoo")
    # More distinct clips than the app caches (2), so a cycled clip has always left the cache.
    clips = [face_clip(work / f"clip{i}.mp4", seconds=3.0, fps=30.0, size=(640, 360), seed=i) for i in range(4)]
    turn = iter(range(10**9))

    def fresh() -> str:
        return str(clips[next(turn) % len(clips)])
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
        reuse: dict[str, dict[str, float]] = {}
        handler: dict[str, list[float]] = {}  # seconds inside analyse(), from the timings it returns

        def request(clip: str, name: str, method: str, expect: str) -> float:
            t = time.perf_counter()
            out = client.predict(handle_file(clip), name, method, api_name="/predict")
            took = time.perf_counter() - t
            if out[6]["reused"] != expect:
                raise SystemExit(f"{name}/{method}: expected reuse {expect!r}, got {out[6]['reused']!r}")
            handler.setdefault(expect, []).append(out[6]["request"] / 1000.0)
            return took

        names = list(zoo.ENTRIES)
        for name in names:
            t = time.perf_counter()
            client.predict(handle_file(fresh()), name, "saliency", api_name="/predict")  # warm-up: model load
            first_request[name] = round(time.perf_counter() - t, 3)
            latency[name] = {}
            for method in METHODS:
                times = [request(fresh(), name, method, "none") for _ in range(args.repeats)]
                latency[name][method] = round(statistics.median(times), 3)
                print(f"{name:26s} {method:22s} {latency[name][method]:.2f} s", flush=True)
        for name in names:
            other = next(n for n in names if n != name)
            model_switch, method_switch = [], []
            for _ in range(args.repeats):
                clip = fresh()
                request(clip, other, "saliency", "none")
                model_switch.append(request(clip, name, "saliency", "clip"))
                method_switch.append(request(clip, name, "saliency", "prediction"))
            reuse[name] = {"model_switch_saliency": round(statistics.median(model_switch), 3),
                           "method_switch_saliency": round(statistics.median(method_switch), 3)}
            print(f"{name:26s} saliency, same clip: after a model switch {reuse[name]['model_switch_saliency']:.2f} s, "
                  f"after a method switch {reuse[name]['method_switch_saliency']:.2f} s", flush=True)
        result = {
            "clip": "3 s, 30 fps, 640x360 H.264 face clip (train/synth/media.py)",
            "cold_start_s": round(cold_start, 2),
            "first_request_s": first_request,
            "latency_s_median": latency,
            "same_clip_latency_s_median": reuse,
            # the rest of a request's wall time is Gradio and HTTP: upload, pre/postprocessing, downloads
            "handler_s_median": {k: round(statistics.median(v), 3) for k, v in handler.items()},
            "peak_rss_mb": round(peak_rss_mb(proc.pid), 1),
            "repeats": args.repeats,
            "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "python": platform.python_version(), "torch": torch.__version__,
                        "load_average_1min": round(os.getloadavg()[0], 2)},
            "target": "stcnn-t18 + saliency < 3 s",
            "target_met": latency["stcnn-t18"]["saliency"] < 3.0,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("cold_start_s", "first_request_s", "handler_s_median", "peak_rss_mb",
                                             "target_met")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
