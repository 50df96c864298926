"""Which OpenCV optical flow for ``microexp.flow``: speed and accuracy on a known displacement.

The input is what the flow model sees: a 64x64 grey crop (``InputSpec.face_size``) whose content
moves by a smooth local displacement (a Gaussian bump of ``--amplitude`` pixels, about a 6 % IOD
movement at this crop size) plus a small global shift, rounded to uint8 as the crops are. Error is
the mean end-point error (EPE, pixels) against the true displacement over the inner crop. Timings
are CPU time per call (``time.process_time``, median of interleaved rounds, one OpenCV thread): on
the shared 2-core machine wall time swung 2-10x with the other processes' load, CPU time did not.
``flow_input`` is the whole per-window step (apex search, DIS, median removal, strain, resize).

``--apex DIR`` also checks the apex pick on a ``python -m train synth`` set: on the window training
cuts around each annotated apex, how far :func:`microexp.flow.apex_index` lands from the model frame
nearest the annotation, against the plain "differs most from the first frame" rule.

Usage: ``python bench/flow.py [--seeds 5] [--amplitude 1.5] [--apex DIR [--stride 2]]``; writes
``bench/results/flow.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import RESULTS, markdown_table, write_json  # noqa: E402

SIZE = 64


def scene(seed: int, amplitude: float):
    """(onset uint8, apex uint8, true flow (S, S, 2)) for one random texture."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.uniform(0, 255, (2 * SIZE, 2 * SIZE)).astype(np.float32), (0, 0), 2.0)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    cx, cy = rng.uniform(16, 48, 2)
    bump = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 8.0**2))
    angle = rng.uniform(0, 2 * np.pi)
    shift = rng.uniform(-0.5, 0.5, 2)
    u = (amplitude * np.cos(angle) * bump + shift[0]).astype(np.float32)
    v = (amplitude * np.sin(angle) * bump + shift[1]).astype(np.float32)
    off = SIZE / 2

    def moved(du, dv):
        out = cv2.remap(img, xx + off - du, yy + off - dv, cv2.INTER_CUBIC)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    return moved(0 * u, 0 * v), moved(u, v), np.dstack([u, v])


def cpu_ms(fns: dict, rounds: int = 15, min_calls: float = 0.05) -> dict[str, float]:
    """Median CPU milliseconds per call; each round runs each function for >= ``min_calls`` CPU seconds."""
    import statistics
    import time

    samples: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            n, t0 = 0, time.process_time()
            while time.process_time() - t0 < min_calls or n == 0:
                fn()
                n += 1
            samples[name].append((time.process_time() - t0) / n * 1e3)
    return {k: statistics.median(v) for k, v in samples.items()}


def first_frame_apex(crops) -> int:
    """The plain rule: the frame that differs most from the first ([1, 2, 1] smoothed)."""
    import numpy as np

    diff = np.abs(crops - crops[:1]).reshape(len(crops), -1).mean(axis=1)
    p = np.concatenate([diff[:1], diff, diff[-1:]])
    return int(np.argmax((0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:])[1:])) + 1


def apex_check(folder: Path, stride: int) -> dict:
    """Apex pick error (model frames) on the apex-centred windows of every ``stride``-th clip of a set."""
    import numpy as np

    from microexp.face import FaceLandmarker
    from microexp.flow import apex_index
    from microexp.models import default_spec
    from microexp.pipeline import preprocess_clip
    from microexp.video import load_clip
    from microexp.windows import window_at
    from train.cache import centre_index
    from train.datasets import load_dataset

    spec = default_spec("flow")
    records, _ = load_dataset(f"synthetic={folder}")
    errors: dict[str, list[int]] = {"first frame": [], "apex_index (drift line)": []}
    last = {k: 0 for k in errors}
    with FaceLandmarker() as landmarker:
        for r in records[::stride]:
            clip = load_clip(r.video)
            apex = centre_index(r, len(clip.frames))
            window = window_at(clip.timestamps, spec, apex / r.fps)
            aligned = preprocess_clip(clip, landmarker.track(clip.frames, clip.timestamps), spec, [window])
            if not aligned:
                continue
            crops = aligned[0].crops["face"]
            truth = int(np.argmin(np.abs(window.positions - apex)))
            picks = {"first frame": first_frame_apex(crops), "apex_index (drift line)": apex_index(crops)}
            for name, pick in picks.items():
                errors[name].append(abs(pick - truth))
                last[name] += int(pick == len(crops) - 1)
    return {name: {"clips": len(e), "mean_abs_error_frames": round(float(np.mean(e)), 2),
                   "within_2_frames": round(float(np.mean(np.array(e) <= 2)), 3),
                   "last_frame_picked": last[name]} for name, e in errors.items()}  # fmt: skip


def methods():
    import cv2

    dis = {p: cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{p.upper()}"))
           for p in ("ultrafast", "fast", "medium")}  # fmt: skip
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    return {
        **{f"DIS {p}": (lambda a, b, d=d: d.calc(a, b, None)) for p, d in dis.items()},
        "Farneback": lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 9, 5, 5, 1.1, 0),
        "Dual TV-L1 (contrib)": lambda a, b: tvl1.calc(a, b, None),
    }


def main(argv: list[str] | None = None) -> int:
    import cv2
    import numpy as np

    from microexp.flow import flow_input
    from microexp.spec import InputSpec

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="random scenes")
    p.add_argument("--amplitude", type=float, default=1.5, help="peak local displacement in pixels")
    p.add_argument("--apex", type=Path, default=None, help="a synthetic set (mp4) for the apex-pick check")
    p.add_argument("--stride", type=int, default=2, help="--apex: every k-th clip")
    p.add_argument("--out", type=Path, default=RESULTS / "flow.json")
    args = p.parse_args(argv)
    cv2.setNumThreads(1)
    scenes = [scene(s, args.amplitude) for s in range(args.seeds)]
    inner = slice(8, -8)
    rows, results = [], {}
    a, b, _ = scenes[0]
    spec = InputSpec(representation="flow")
    crops = np.stack([a] * 4 + [b] * 14).astype(np.float32)[..., None]  # (18, 64, 64, 1)
    fns = {name: (lambda fn=fn: fn(a, b)) for name, fn in methods().items()}
    ms = cpu_ms({**fns, "flow_input": lambda: flow_input(crops, spec)})
    for name, fn in methods().items():
        epe = [float(np.mean(np.linalg.norm(fn(a, b)[inner, inner] - t[inner, inner], axis=-1))) for a, b, t in scenes]
        results[name] = {"epe_px": round(float(np.mean(epe)), 4), "cpu_ms": round(ms[name], 3)}
        rows.append([name, f"{np.mean(epe):.3f}", f"{ms[name]:.2f}"])
    results["flow_input (whole window, T=18)"] = {"cpu_ms": round(ms["flow_input"], 3)}
    rows.append(["flow_input, whole window (T=18)", "-", f"{ms['flow_input']:.2f}"])
    mean_disp = float(np.mean([np.linalg.norm(t[inner, inner], axis=-1).mean() for *_, t in scenes]))
    apex = apex_check(args.apex, args.stride) if args.apex else None
    write_json(args.out, {"command": " ".join(["python", "bench/flow.py", *(argv or sys.argv[1:])]),
                          "size": SIZE, "amplitude_px": args.amplitude, "seeds": args.seeds,
                          "mean_true_displacement_px": round(mean_disp, 4), "results": results,
                          "apex": apex, "apex_set": str(args.apex) if args.apex else None})  # fmt: skip
    print(markdown_table(["method", "EPE (px)", "CPU ms per call"], rows))
    if apex:
        print(markdown_table(["apex rule", "clips", "mean abs error (frames)", "within 2 frames", "last frame picked"],
                             [[k, v["clips"], v["mean_abs_error_frames"], v["within_2_frames"], v["last_frame_picked"]]
                              for k, v in apex.items()]))  # fmt: skip
    print(f"mean true displacement {mean_disp:.3f} px -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
