"""Clip -> explained prediction timings on a 3 s, 30 fps, 640x360 face clip, every mode in ONE run.

Usage: ``python bench/pipeline.py [--repeats 5] [--threads 2] [--out bench/results/pipeline.json]``

The clip is made from a public-domain photo (train/synth/media.py) and classified by a randomly initialised
STCNN (T=18; weights do not change the cost). Modes (ratios are against ``reference``):

- reference: the pipeline before the speed work: ``FaceLandmarker()`` defaults (blendshapes, one
  landmarker), landmarks on every frame, supersampled alignment; render draws the overlays twice
  and encodes the video with x264 ``veryfast`` (what the app did).
- full rate: no blendshapes, two landmarkers side by side, landmarks on every frame: same landmarks
  and crops as the reference (the bench checks the model inputs are bit-identical), overlays drawn
  once, video ``ultrafast``.
- default: what ``Predictor`` and the app do: full rate, but landmarks on every 2nd frame
  (``INFERENCE_LANDMARK_STRIDE``) interpolated between; ``bench/variants.py`` shows it leaves LOSO
  accuracy unchanged.
- stride k: landmarks on every k-th frame (opt-in ``landmark_stride``).
- stride k + prescaled: also the opt-in ``spec.extra["resample"] = "prescaled"`` alignment.
- default + image registration: ``default`` for a model trained with ``spec.extra["register"] = "image"``
  (every model trained since 2026-12-02's third session): ECC registration of each window's frames.

For each mode, the input drift against the reference is reported (max / mean abs difference of the
normalised model inputs, and how many windows change their predicted class). Repeats are interleaved
across modes so that load from other jobs is shared fairly; each mode has its own warmed Predictor.
Stage times are medians; ``cpu_ms`` is process CPU time of one whole explained request (the machine
is shared, so wall time depends on the load; the 1-minute load average is recorded).
Targets (issue "Speed"): landmarks + alignment <= 5 ms/frame amortised; the 3 s clip explained end to
end (decode -> landmarks -> align -> model -> Captum saliency -> overlays) <= 1 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av
import numpy as np
import torch

from bench.common import write_json
from microexp import render
from microexp.explain import explain_prediction
from microexp.face import FaceLandmarker, FaceSettings
from microexp.models import MicroExpSTCNN
from microexp.pipeline import Prediction, Predictor, inference_face_settings
from microexp.spec import InputSpec
from microexp.video import write_video
from train.synth.media import face_clip

STAGES = ("decode", "landmarks", "align", "model", "explain", "render", "e2e")


@dataclass
class Mode:
    name: str
    predictor: Predictor
    new_render: bool


def explained_request(mode: Mode, clip: Path, out: Path) -> tuple[dict[str, float], Prediction]:
    """One request as the app serves it: predict, explain the best window with Saliency, render."""
    cpu0, start = os.times(), time.perf_counter()
    pred = mode.predictor.predict(clip)
    t0 = time.perf_counter()
    explanation = explain_prediction(mode.predictor.model, pred, "saliency")
    t1 = time.perf_counter()
    indices, heat = render.source_heatmaps(pred, explanation)
    frames = pred.clip.frames[indices]
    fps = max(1.0, pred.clip.fps / 4)
    if mode.new_render:  # app.py now: overlays once, shared by gallery and video, ultrafast x264
        write_video(out, render.overlay_frames(frames, heat), fps, preset="ultrafast")
    else:  # app.py before: gallery overlays, then overlay_video drew them again (veryfast)
        render.overlay_frames(frames, heat)
        render.overlay_video(frames, heat, fps, out)
    aligned = pred.windows[pred.best_window].aligned
    render.crops_montage(aligned), render.crops_montage(aligned, heat=explanation.maps)
    end, cpu1 = time.perf_counter(), os.times()
    times = {s: pred.timings_ms[s] for s in ("decode", "landmarks", "align", "model")}
    times.update(explain=(t1 - t0) * 1e3, render=(end - t1) * 1e3, e2e=(end - start) * 1e3,
                 cpu_ms=(cpu1.user + cpu1.system - cpu0.user - cpu0.system) * 1e3)
    return times, pred


def drift(pred: Prediction, ref: Prediction) -> dict[str, float]:
    """How far a mode's model inputs and per-window classes are from the reference's."""
    diffs = [(a - b).abs() for a, b in zip(pred.inputs, ref.inputs)]
    changed = sum(int(np.argmax(a.probs) != np.argmax(b.probs)) for a, b in zip(pred.windows, ref.windows))
    return {"inputs_max_abs_diff": round(max(float(d.max()) for d in diffs), 4),
            "inputs_mean_abs_diff": round(float(np.mean([float(d.mean()) for d in diffs])), 4),
            "windows_with_another_class": changed, "same_prediction": pred.prediction == ref.prediction}


def decode_alternative(clip: Path, repeats: int) -> float:
    """PyAV decode with single-threaded rgb24 conversion (a suggestion for microexp/video.py): median ms."""
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        with av.open(str(clip)) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            [f.to_ndarray(format="rgb24", threads=1) for f in c.decode(s)]
        runs.append((time.perf_counter() - t) * 1e3)
    return statistics.median(runs)


def modes(model: torch.nn.Module, strides: list[int]) -> list[Mode]:
    def variant(**extra: str) -> torch.nn.Module:
        other = MicroExpSTCNN(model.spec.replace(extra=extra)).eval()
        other.load_state_dict(model.state_dict())
        return other

    prescaled = variant(resample="prescaled")
    out = [Mode("reference", Predictor(model, landmarker=FaceLandmarker(settings=FaceSettings())), False),
           Mode("full rate", Predictor(model, landmarker=FaceLandmarker(settings=inference_face_settings(landmark_stride=1))),
                True),
           Mode("default", Predictor(model, landmarker=FaceLandmarker(settings=inference_face_settings())), True),
           Mode("default + image registration",
                Predictor(variant(register="image"), landmarker=FaceLandmarker(settings=inference_face_settings())), True)]
    for k in strides:
        lm = FaceLandmarker(settings=inference_face_settings(landmark_stride=k))
        out.append(Mode(f"stride {k}", Predictor(model, landmarker=lm), True))
        out.append(Mode(f"stride {k} + prescaled", Predictor(prescaled, landmarker=lm), True))
    return out


def table(results: dict[str, dict]) -> str:
    head = ("| mode | " + " | ".join(STAGES) + " | cpu | lm+align ms/frame | x ref e2e | x ref lm+align "
            "| inputs mean/max abs diff | windows changed |")
    rows = [head, "|" + "---|" * (len(STAGES) + 7)]
    for name, r in results.items():
        d = r["drift"]
        cells = [f"{r['ms'][s]:.0f}" for s in STAGES] + [f"{r['ms']['cpu_ms']:.0f}",
                 f"{r['landmarks_align_per_frame']:.2f}", f"{r['speedup_e2e']:.2f}", f"{r['speedup_landmarks_align']:.2f}",
                 f"{d['inputs_mean_abs_diff']:.3f} / {d['inputs_max_abs_diff']:.2f}",
                 f"{d['windows_with_another_class']}/{r['windows']}"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n\n(milliseconds, median of repeats; x ref = reference time / mode time)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (the target is 2 cores)")
    parser.add_argument("--strides", type=int, nargs="+", default=[3])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pipeline.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MicroExpSTCNN(InputSpec(frames=18, window_seconds=0.6)).eval()
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        clip = face_clip(Path(tmp) / "face.mp4", seconds=3.0, fps=30.0, size=(640, 360))
        ms = modes(model, args.strides)
        first = {m.name: explained_request(m, clip, Path(tmp) / "warm.mp4")[1] for m in ms}  # warm-up
        runs: dict[str, list[dict[str, float]]] = {m.name: [] for m in ms}
        for i in range(args.repeats):  # interleaved: every mode sees the same load
            for m in ms:
                runs[m.name].append(explained_request(m, clip, Path(tmp) / f"{i}.mp4")[0])
            load.append(os.getloadavg()[0])
        decode_alt = decode_alternative(clip, args.repeats)
        for m in ms:
            m.predictor.landmarker.close()
    frames = len(first["reference"].clip)
    results = {}
    for m in ms:
        med = {k: statistics.median(r[k] for r in runs[m.name]) for k in (*STAGES, "cpu_ms")}
        lm_align = statistics.median((r["landmarks"] + r["align"]) / frames for r in runs[m.name])
        results[m.name] = {"ms": med, "landmarks_align_per_frame": lm_align, "windows": len(first[m.name].windows),
                           "drift": drift(first[m.name], first["reference"])}
    ref = results["reference"]
    for r in results.values():
        r["speedup_e2e"] = ref["ms"]["e2e"] / r["ms"]["e2e"]
        r["speedup_landmarks_align"] = ref["landmarks_align_per_frame"] / r["landmarks_align_per_frame"]
    report = {
        "clip": {"seconds": 3.0, "fps": 30.0, "size": [640, 360], "frames": frames, "photo": "grace_hopper.jpg"},
        "repeats": args.repeats,
        "torch_threads": args.threads,
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                    "torch": torch.__version__, "cores": os.cpu_count(),
                    # other jobs on the box inflate wall times; compare modes within this run
                    "load_average_1min": {"min": min(load), "max": max(load)}},
        "decode_rgb24_single_thread_ms": decode_alt,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, report)
    print(table(results))
    print(f"\ndecode with to_ndarray(threads=1): {decode_alt:.0f} ms (load_clip: {ref['ms']['decode']:.0f} ms)")
    print(f"load average {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} cores; written to {args.out}")


if __name__ == "__main__":
    main()
