"""Per-stage pipeline timings on a 3 s, 30 fps, 640x360 face clip (median of repeats).

Usage: ``python bench/pipeline.py [--repeats 5] [--threads 2] [--out bench/results/pipeline.json]``

The clip is made from a public-domain photo (tests/media.py) and classified by a randomly initialised
STCNN (T=18; weights do not change the cost). One Predictor (one MediaPipe landmarker) serves every
repeat, as in the app; the first run is a warm-up and is not counted. Each landmark stride is a mode:
1 = MediaPipe on every frame, k = on every k-th frame with interpolation between (FaceSettings).
Targets (issue): landmarks <= 10 ms/frame; whole clip <= 2 s on 2 cores; landmarks + alignment
<= 5 ms/frame amortised (fast mode).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from microexp.face import FaceLandmarker  # noqa: E402
from microexp.models import MicroExpSTCNN  # noqa: E402
from microexp.pipeline import Predictor  # noqa: E402
from microexp.spec import InputSpec  # noqa: E402
from tests.media import face_clip  # noqa: E402

STAGES = ("decode", "landmarks", "align", "model", "total")


def measure(predictor: Predictor, clip: Path, repeats: int) -> dict[str, float]:
    predictor.predict(clip)  # warm-up: landmarker graph, oneDNN kernels
    runs = [predictor.predict(clip) for _ in range(repeats)]
    frames = len(runs[0].clip)
    out = {s: statistics.median(r.timings_ms[s] for r in runs) for s in STAGES}
    out["frames"] = frames
    out["landmarks_per_frame"] = out["landmarks"] / frames
    out["landmarks_align_per_frame"] = statistics.median((r.timings_ms["landmarks"] + r.timings_ms["align"]) / frames for r in runs)
    out["windows"] = len(runs[0].windows)
    return out


def table(results: dict[str, dict[str, float]]) -> str:
    head = "| mode | decode | landmarks | align | model | total | landmarks/frame | landmarks+align/frame |"
    rows = [head, "|" + "---|" * 8]
    for mode, r in results.items():
        cells = [f"{r[s]:.0f}" for s in STAGES] + [f"{r['landmarks_per_frame']:.2f}", f"{r['landmarks_align_per_frame']:.2f}"]
        rows.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n\n(milliseconds, median of repeats)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the target is 2 cores)")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        clip = face_clip(Path(tmp) / "face.mp4", seconds=3.0, fps=30.0, size=(640, 360))
        model = MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6)).eval()
        results = {}
        with FaceLandmarker() as landmarker:
            for k in args.strides:
                predictor = Predictor(model, landmarker=landmarker, landmark_stride=k)
                results[f"STCNN T=18, landmark stride {k}"] = measure(predictor, clip, args.repeats)
    report = {
        "clip": {"seconds": 3.0, "fps": 30.0, "size": [640, 360], "photo": "grace_hopper.jpg"},
        "repeats": args.repeats,
        "torch_threads": args.threads,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                    "torch": torch.__version__, "cores": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},  # other jobs on the box inflate timings
        "results_ms": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
