"""``python -m train fit`` and ``python -m train cache``: the command line over the training modules.

The work is split by job: ``train.tensorset`` (TensorSet and its file format), ``train.checkpoints``
(resumable state), ``train.distributed`` (seeds, ``torchrun``), ``train.loop`` (one training job),
``train.run`` (the run directory, evaluation and release) and ``train.protocols`` (folds). This
module parses options, loads data (through the preprocessing cache) and re-exports the names that
scripts and tests use, so ``from train.fit import run_fit`` keeps working.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors import SafetensorError

from microexp.align import REGISTER_MODES
from microexp.errors import MicroExpError
from microexp.models import ARCHITECTURES, accepts_regions, default_regions, default_spec
from microexp.models.fast import tune_malloc

from .cache import DEFAULT_JITTER, JITTER_SPAN
from .checkpoints import Checkpoints
from .config import FitConfig, TrainingError
from .distributed import DistContext, derive_seed, init_distributed, seed_everything
from .loop import EVAL_BATCH, augment, make_optimizer, predict, train_job
from .presets import PRESETS, get_preset
from .protocols import PROTOCOLS, make_folds
from .run import RELEASE, run_fit
from .tensorset import TENSORSET_KEY, TensorSet, load_tensor_set, save_tensor_set


# ----------------------------------------------------------------------------------------------
# Command line: `python -m train fit` and `python -m train cache`

DATA_HELP = (
    "data source: synthetic=DIR | casme2=DIR | samm=DIR | smic=DIR | casme_sq=DIR | megc=... "
    "(raw datasets are preprocessed once through the MicroExp face pipeline and cached), or "
    "tensors=FILE.safetensors, a TensorSet you preprocessed yourself (see train.tensorset.save_tensor_set: "
    "tensors input.<region> (N,C,T,H,W) float32 and labels (N,) int64, with spec/subjects/clips as JSON "
    "metadata under 'microexp_tensorset')"
)


def load_data(
    data: str,
    *,
    arch: str,
    frames: int | None,
    cache_dir: str | None,
    workers: int,
    progress: bool,
    jitter: int = 1,
    register: str | None = None,
) -> tuple[TensorSet, dict[str, Any]]:
    """Turn a ``--data`` string into a TensorSet plus ``{"dataset_name", "synthetic"}``.

    ``jitter`` K > 1 caches K apex-offset windows per clip of a raw dataset (``train.cache``); a
    ``tensors=`` file brings whatever windows it was saved with. ``register`` overrides how a raw
    dataset's frames are registered (``microexp.align``: ``image`` by default, or ``landmarks``).
    """
    kind, sep, location = data.partition("=")
    if not sep or not location:
        raise TrainingError(f"--data must look like KIND=PATH (e.g. synthetic=./synth), got {data!r}")
    if kind == "tensors":
        tensor_set, meta = load_tensor_set(location)
        if frames is not None and frames != tensor_set.spec.frames:
            raise TrainingError(
                f"--frames {frames} does not match the {tensor_set.spec.frames} frames stored in {location}"
            )
        if not accepts_regions(arch, tensor_set.spec.regions):
            raise TrainingError(
                f"{arch} needs the crops {default_regions(arch)}; {location} holds {tensor_set.spec.regions}"
            )
        wanted = default_spec(arch).representation
        if tensor_set.spec.representation != wanted:
            raise TrainingError(f"{arch} trains on {wanted}; {location} holds {tensor_set.spec.representation}")
        name = meta.get("dataset_name") or Path(location).stem
        return tensor_set, {"dataset_name": name, "synthetic": bool(meta.get("synthetic", False))}
    from .cache import build_tensor_set
    from .datasets import load_dataset

    records, report = load_dataset(data)
    if getattr(report, "issues", ()):
        print(
            f"{data}: {len(report.issues)} annotation row(s) skipped or repaired (see train.datasets)", file=sys.stderr
        )
    if not records:
        raise TrainingError(f"{data}: no usable clips found")
    # MEGC three classes (records' label3, else their native label when it is one of them)
    spec = default_spec(arch, frames=frames or 18)
    if register is not None:
        spec = spec.replace(extra={**spec.extra, "register": register})
    tensor_set = build_tensor_set(
        records, spec, Path(cache_dir) if cache_dir else None, workers=workers, progress=progress, jitter=jitter
    )
    name = getattr(report, "dataset", None) or kind.split("+")[0]
    synthetic = name == "synthetic" or all(getattr(r, "dataset", "") == "synthetic" for r in records)
    return tensor_set, {"dataset_name": name, "synthetic": synthetic}


def _add_cache_arguments(p: argparse.ArgumentParser) -> None:
    """``--cache-dir``, ``--jitter`` and ``--register``: where and what ``fit`` and ``cache`` store per clip."""
    p.add_argument("--cache-dir", default=None, help="where preprocessed tensors are cached")
    p.add_argument(
        "--register",
        choices=REGISTER_MODES,
        default=None,
        help="how the frames of a window are aligned to each other: image (landmarks, then ECC on the face "
        "crop, which removes frame-to-frame shake; the default) or landmarks only (models before 2026-12-02); "
        "stored in the model's input spec, so inference does the same",
    )
    p.add_argument(
        "--jitter",
        type=int,
        default=DEFAULT_JITTER,
        metavar="K",
        help=f"windows cached per clip, their centres spread over +-{JITTER_SPAN:g} of a window around the apex; "
        "training draws one per clip and epoch, evaluation uses the centred one (1: centred only; "
        f"default {DEFAULT_JITTER})",
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train fit",
        description="Train and evaluate a micro-expression model (LOSO by default), then save a release model "
        "to RUN_DIR/release/. Runs under torchrun for data-parallel training (gloo).",
    )
    p.add_argument("--arch", default="stcnn", choices=ARCHITECTURES)
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument(
        "--protocol",
        default="loso",
        choices=PROTOCOLS,
        help="loso (default, subject-independent), paper-split (the original 80/20 clip split; leaks identity) or "
        "cross-generator (train on --data without one person, test on that person's --test-data clips; one fold "
        "per person in both sets)",
    )
    p.add_argument(
        "--test-data",
        default=None,
        metavar="DATA",
        help="the cross-generator protocol's test clips, in --data's form (e.g. synthetic=DIR2 from another "
        "generator or seed); its people are matched to --data's by the 'person' column, else by subject",
    )
    p.add_argument(
        "--preset",
        default="default",
        choices=sorted(PRESETS),
        help="default: Adam 1e-3, 25 epochs, flip+shift; paper: SGD 0.01, 100 epochs, as the original code",
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory (must be new unless --resume)")
    p.add_argument("--frames", type=int, default=None, help="frames T per clip (default 18)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue a killed run in RUN_DIR from its last checkpoint")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--lr", type=float, default=None, help="override the preset's learning rate")
    p.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size")
    p.add_argument(
        "--arch-kwargs",
        default="{}",
        metavar="JSON",
        help='extra architecture arguments as JSON, e.g. \'{"filters": 16, "hidden": 64}\'',
    )
    p.add_argument("--no-release", action="store_true", help="evaluate only; do not train the release model")
    _add_cache_arguments(p)
    p.add_argument("--workers", type=int, default=1, help="preprocessing processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--device", default=None, metavar="auto|cpu|cuda",
                   help="where to train (default $MICROEXP_DEVICE, else auto: the GPU when one is usable; under "
                   "torchrun one GPU per process, NCCL)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--no-tune-malloc",
        action="store_true",
        help="keep glibc's default allocator policy (by default freed big buffers are kept for the next step, "
        "see microexp.models.fast.tune_malloc: STCNN-96 trains 20-30%% faster)",
    )
    return p


USER_ERRORS = (MicroExpError, ValueError, FileNotFoundError, NotADirectoryError)
EXIT_USER_ERROR, EXIT_FAILURE = 2, 1


def report_failure(exc: Exception) -> int:
    """Print one ``error:`` line for what stopped a command and return its exit status.

    The user's mistakes exit 2; anything else (a damaged tensors file, a preprocessing worker killed
    for memory, a torch error) exits 1 with its type and first line, never a traceback, unless
    ``MICROEXP_DEBUG=1`` asks for one.
    """
    if os.environ.get("MICROEXP_DEBUG"):
        raise exc
    if isinstance(exc, USER_ERRORS):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    if isinstance(exc, SafetensorError):
        hint = "a tensors file (--data, the cache or a checkpoint) is damaged; delete it and run again"
    elif isinstance(exc, BrokenProcessPool):
        hint = "a preprocessing worker died (killed for memory?); run again, with fewer --workers"
    elif isinstance(exc, MemoryError):
        hint = "out of memory; try a smaller --batch-size, --frames or model"
    else:
        hint = "training failed; rerun with MICROEXP_DEBUG=1 for the traceback"
    print(f"error: {hint} ({type(exc).__name__}: {first})", file=sys.stderr)
    return EXIT_FAILURE


def _parse_kwargs(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrainingError(f"--arch-kwargs is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise TrainingError("--arch-kwargs must be a JSON object")
    return value


def _load_on_rank0_first(
    args: argparse.Namespace, ctx: DistContext, source: str | None = None, jitter: int | None = None
) -> tuple[TensorSet, dict[str, Any]]:
    """Load the data (``--data`` unless ``source``); under DDP rank 0 fills the preprocessing cache
    before the other ranks read it."""
    progress = not args.quiet and sys.stderr.isatty() and ctx.is_main

    def load() -> tuple[TensorSet, dict[str, Any]]:
        return load_data(
            source or args.data,
            arch=args.arch,
            frames=args.frames,
            cache_dir=args.cache_dir,
            workers=args.workers,
            progress=progress,
            jitter=args.jitter if jitter is None else jitter,
            register=args.register,
        )

    if not ctx.distributed:
        return load()
    loaded, error = None, None
    if ctx.is_main:
        try:
            loaded = load()
        except USER_ERRORS as exc:
            error = exc
    ok = torch.tensor([int(error is None)])
    dist.broadcast(ok, src=0)  # every rank learns whether rank 0 could load, so none waits forever
    if error is not None:
        raise error
    if not ok.item():
        raise TrainingError("rank 0 could not load the data (its error is printed above)")
    return loaded if loaded is not None else load()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m train fit``: user errors print one line on stderr and exit with code 2."""
    args = build_parser().parse_args(argv)
    if not args.no_tune_malloc:
        tune_malloc()  # a training process reuses the same big buffers every step
    try:
        preset = get_preset(args.preset, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size)
        config_kw = {"arch_kwargs": _parse_kwargs(args.arch_kwargs)}
        if args.protocol == "paper-split" and int(os.environ.get("RANK", "0")) == 0:
            print(
                "warning: --protocol paper-split leaks identity: it reproduces the original clip-level 80/20 "
                "split, so the same people appear in training and test data and its scores overstate accuracy "
                "on new people",
                file=sys.stderr,
            )
        ctx = init_distributed(args.device)
        if (args.protocol == "cross-generator") != bool(args.test_data):
            raise TrainingError("--protocol cross-generator needs --test-data, and --test-data needs that protocol")
        tensor_set, info = _load_on_rank0_first(args, ctx)
        # the test side is only ever evaluated on its centred windows: no jitter to cache
        test_set = _load_on_rank0_first(args, ctx, source=args.test_data, jitter=1)[0] if args.test_data else None
        config = FitConfig(
            arch=args.arch,
            preset=preset,
            protocol=args.protocol,
            seed=args.seed,
            threads=args.threads,
            device=args.device,
            data=args.data,
            test_data=args.test_data or "",
            release=not args.no_release,
            quiet=args.quiet,
            **config_kw,
            **info,
        )
        metrics = run_fit(tensor_set, config, args.out, resume=args.resume, args=vars(args), test_set=test_set)
    except Exception as exc:  # noqa: BLE001 - one line for the user (report_failure)
        return report_failure(exc)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"{config.arch} {config.protocol}: UF1 {metrics['uf1']:.3f}  UAR {metrics['uar']:.3f}  "
            f"accuracy {metrics['accuracy']:.3f} over {metrics['clips']} clips -> {args.out}"
        )
    return 0


def cache_main(argv: Sequence[str] | None = None) -> int:
    """``python -m train cache``: preprocess a dataset into the tensor cache (and optionally export it)."""
    p = argparse.ArgumentParser(
        prog="python -m train cache",
        description="Preprocess a dataset once through the face pipeline and cache the tensors.",
    )
    p.add_argument("--data", required=True, help=DATA_HELP)
    p.add_argument("--arch", default="stcnn", choices=ARCHITECTURES, help="decides the crops (face, or eyes+mouth)")
    p.add_argument("--frames", type=int, default=None, help="frames T per clip (default 18)")
    _add_cache_arguments(p)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument(
        "--export",
        default=None,
        metavar="FILE.safetensors",
        help="also write the TensorSet to one file usable as --data tensors=FILE.safetensors",
    )
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    try:
        tensor_set, info = load_data(
            args.data,
            arch=args.arch,
            frames=args.frames,
            cache_dir=args.cache_dir,
            workers=args.workers,
            progress=not args.quiet and sys.stderr.isatty(),
            jitter=args.jitter,
            register=args.register,
        )
        if args.export:
            save_tensor_set(tensor_set, args.export, **info)
    except Exception as exc:  # noqa: BLE001 - one line for the user (report_failure)
        return report_failure(exc)
    print(
        f"{len(tensor_set)} clips from {len(set(tensor_set.subjects))} subjects cached"
        + (f", exported to {args.export}" if args.export else "")
    )
    return 0


__all__ = [
    "EVAL_BATCH",
    "PROTOCOLS",
    "RELEASE",
    "TENSORSET_KEY",
    "Checkpoints",
    "DistContext",
    "FitConfig",
    "TrainingError",
    "augment",
    "build_parser",
    "cache_main",
    "derive_seed",
    "init_distributed",
    "load_data",
    "load_tensor_set",
    "main",
    "make_folds",
    "make_optimizer",
    "predict",
    "run_fit",
    "save_tensor_set",
    "seed_everything",
    "train_job",
]
