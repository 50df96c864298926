"""Does MicroExp run on a GPU? Predict, explain and two epochs of training on ``--device``, against the CPU.

For one architecture (default STCNN, T=18, random weights: speed and agreement do not depend on them):

- **predict**: the whole :class:`~microexp.pipeline.Predictor` on a real clip (the shipped example),
  the model on CPU and on the device (mixed precision there), the face tracked once and shared;
  milliseconds of the model stage and the largest difference of any window's probabilities;
- **explain**: saliency of the predicted window on both, the largest difference of the maps relative
  to the largest CPU value;
- **fit**: one training job (``train.loop.train_job``, default preset, ``--epochs`` epochs) on a small
  synthetic random TensorSet (timing only: nothing is learnt from it), seconds and the largest
  difference of the final weights (mixed precision on the GPU rounds differently, so they drift).

On a machine without a GPU ``--device auto`` is the CPU and this is a smoke test of the same code
(differences 0). Writes ``bench/results/gpu_check.json`` and prints one line per check.

    .venv/bin/python bench/gpu_check.py                  # auto: the GPU when one is usable
    .venv/bin/python bench/gpu_check.py --device cuda    # fail if there is none
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import RESULTS, write_json  # noqa: E402
from microexp.device import describe, resolve_device  # noqa: E402
from microexp.explain import explain_prediction  # noqa: E402
from microexp.face import FaceLandmarker  # noqa: E402
from microexp.models import ARCHITECTURES, build_model, default_spec  # noqa: E402
from microexp.pipeline import Predictor, inference_face_settings  # noqa: E402
from microexp.video import load_clip  # noqa: E402
from train.checkpoints import Checkpoints  # noqa: E402
from train.config import FitConfig  # noqa: E402
from train.distributed import DistContext  # noqa: E402
from train.loop import train_job  # noqa: E402
from train.presets import get_preset  # noqa: E402
from train.tensorset import TensorSet  # noqa: E402

CLIP = ROOT / "examples" / "surprise_au1-au2-au26_biden.mp4"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_predict(model, device: torch.device, clip_path: Path) -> tuple[dict, dict]:
    """The pipeline on CPU and on ``device``: model-stage ms (second call: warm), max probability difference;
    and the two ``(predictor, prediction)`` pairs for :func:`check_explain`."""
    clip = load_clip(clip_path)
    with FaceLandmarker(settings=inference_face_settings()) as landmarker:
        on_cpu = Predictor(copy.deepcopy(model), landmarker=landmarker, device="cpu")
        on_dev = Predictor(copy.deepcopy(model), landmarker=landmarker, device=device)
        first = on_cpu.predict(clip)
        track = first.track
        runs = {}
        for name, predictor in (("cpu", on_cpu), ("device", on_dev)):
            predictor.predict(clip, track=track)  # warm-up (cuDNN autotuning, allocator)
            _sync(device)
            runs[name] = predictor.predict(clip, track=track)
    diffs = [float(np.abs(a.probs - b.probs).max()) for a, b in zip(runs["cpu"].windows, runs["device"].windows)
             if a.probs is not None]  # fmt: skip
    summary = {"model_ms_cpu": runs["cpu"].timings_ms["model"], "model_ms_device": runs["device"].timings_ms["model"],
               "windows": len(diffs), "max_prob_diff": max(diffs),
               "same_prediction": runs["cpu"].prediction == runs["device"].prediction}  # fmt: skip
    return summary, {"cpu": (on_cpu, runs["cpu"]), "device": (on_dev, runs["device"])}


def check_explain(pairs: dict) -> dict:
    """Saliency of the CPU run's best window with the CPU model and with the device model."""
    out, maps = {}, {}
    window = pairs["cpu"][1].best_window
    for name, (predictor, prediction) in pairs.items():
        start = time.perf_counter()
        maps[name] = explain_prediction(predictor.model, prediction, "saliency", window=window).maps
        _sync(predictor.device)
        out[f"ms_{name}"] = 1000 * (time.perf_counter() - start)
    scale = max(float(m.max()) for m in maps["cpu"]) or 1.0
    out["max_map_diff_rel"] = max(float(np.abs(a - b).max()) for a, b in zip(maps["cpu"], maps["device"])) / scale
    return out


def random_set(arch: str, frames: int, clips: int = 32, subjects: int = 4, seed: int = 0) -> TensorSet:
    """A synthetic random TensorSet in ``arch``'s input layout (timing only)."""
    spec = default_spec(arch, frames=frames)
    g = torch.Generator().manual_seed(seed)
    model = build_model(arch, input_spec=spec)
    shapes = [x.shape[1:] for x in model.example_inputs(1)]
    return TensorSet(
        inputs=tuple(torch.randn((clips, *s), generator=g) for s in shapes),
        labels=torch.arange(clips) % spec.num_classes,
        subjects=tuple(f"s{i % subjects}" for i in range(clips)),
        clips=tuple(f"c{i}" for i in range(clips)),
        spec=spec,
    )


def check_fit(arch: str, frames: int, device: torch.device, epochs: int) -> dict:
    """One training job of ``epochs`` epochs on CPU and on ``device`` from the same seed."""
    data = random_set(arch, frames)
    config = FitConfig(arch=arch, preset=get_preset("default", epochs=epochs), seed=0, quiet=True, release=False,
                       synthetic=True)  # fmt: skip
    out, weights = {}, {}
    with tempfile.TemporaryDirectory(prefix="microexp-gpu-check-") as tmp:
        for name, dev in (("cpu", torch.device("cpu")), ("device", device)):
            start = time.perf_counter()
            model, curves = train_job("gpu-check", data, config, Checkpoints(Path(tmp) / name, writer=False),
                                      DistContext(device=dev), resume=False, progress=False)  # fmt: skip
            _sync(dev)
            out[f"seconds_{name}"] = time.perf_counter() - start
            out[f"loss_{name}"] = curves["loss"]
            weights[name] = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    out["max_weight_diff"] = max(float((weights["cpu"][k] - weights["device"][k]).abs().max()) for k in weights["cpu"])
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto | cuda | cuda:N | cpu (auto: the GPU if usable)")
    parser.add_argument("--arch", default="stcnn", choices=list(ARCHITECTURES))
    parser.add_argument("--frames", type=int, default=18)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--clip", type=Path, default=CLIP)
    parser.add_argument("--out", type=Path, default=RESULTS / "gpu_check.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    torch.manual_seed(0)
    model = build_model(args.arch, input_spec=default_spec(args.arch, frames=args.frames))
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": describe(device),
              "torch": torch.__version__, "cuda": torch.version.cuda, "arch": args.arch,
              "frames": args.frames}  # fmt: skip
    result["predict"], pairs = check_predict(model, device, args.clip)
    result["explain"] = check_explain(pairs)
    result["fit"] = check_fit(args.arch, args.frames, device, args.epochs)
    write_json(args.out, result)
    p, e, f = result["predict"], result["explain"], result["fit"]
    print(f"{result['date']}, {result['device']}, torch {result['torch']} (CUDA {result['cuda']}), "
          f"{args.arch} T={args.frames}")
    print(f"predict: model stage {p['model_ms_cpu']:.1f} ms on CPU, {p['model_ms_device']:.1f} ms on device, "
          f"{p['windows']} windows, max probability difference {p['max_prob_diff']:.2e}, same prediction: "
          f"{p['same_prediction']}")
    print(f"explain (saliency): {e['ms_cpu']:.0f} ms on CPU, {e['ms_device']:.0f} ms on device, max map difference "
          f"{e['max_map_diff_rel']:.2e} of the largest value")
    print(f"fit ({args.epochs} epochs, 32 random clips): {f['seconds_cpu']:.2f} s on CPU, {f['seconds_device']:.2f} s "
          f"on device, final loss {f['loss_cpu'][-1]:.4f} / {f['loss_device'][-1]:.4f}, max weight difference "
          f"{f['max_weight_diff']:.2e}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
