"""The training loop: cross-validated evaluation, then one release model, in a resumable run directory.

``run_fit`` does, in order:

1. for every fold of the protocol (LOSO by default): train from a seeded initialisation for the
   preset's fixed number of epochs (no epoch is ever chosen on test data), predict the held-out
   subject(s) and store the predictions;
2. pool the predictions of all folds and summarise them (UF1 / UAR / accuracy / confusion, the
   MEGC convention) into ``metrics.json``, ``predictions.csv`` and figures;
3. train a release model on all clips with the same recipe and save it, with its model card, to
   ``release/`` (the directory ``python -m train push`` publishes).

Run directory (a contract with ``train/push.py``)::

    RUN_DIR/release/{model.safetensors,config.json,README.md}
    RUN_DIR/metrics.json  predictions.csv  run.json
    RUN_DIR/figures/{curves.png,confusion.png}
    RUN_DIR/checkpoints/  per-epoch state of the job in progress, finished folds' predictions

Every file is written to a temporary name and renamed into place; ``release/`` is assembled in a
temporary directory and renamed, so a killed run never leaves a half-written model.

Determinism and resume: every job (fold or release) has a seed derived from the run seed and the
job name, and every epoch re-seeds torch and the samplers from (job seed, epoch). A checkpoint
therefore needs only the model and optimiser tensors (safetensors) plus a JSON sidecar (epoch,
curves, optimiser hyperparameters), never pickle and never RNG state, and a resumed run ends
bit-for-bit where an uninterrupted one would (same machine, same thread count).

Distributed: under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` set) the loop joins a gloo process
group, wraps the model in ``DistributedDataParallel``, gives each rank a ``DistributedSampler``
share of every batch (the global batch stays the preset's), and only rank 0 writes files.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import BatchSampler, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

import microexp
from microexp.errors import MicroExpError
from microexp.models import ARCHITECTURES, build_model, default_regions
from microexp.models.fast import tune_malloc
from microexp.spec import InputSpec

from .presets import PRESETS, Preset, get_preset
from .tensorset import TensorSet

PROTOCOLS = ("loso", "paper-split")
RELEASE = "release"
TENSORSET_KEY = "microexp_tensorset"  # safetensors metadata key of a saved TensorSet
EVAL_BATCH = 64


class TrainingError(MicroExpError):
    """A training run cannot start or continue as asked (bad options, mismatched resume, no data)."""


@dataclass(frozen=True)
class FitConfig:
    """What to train and how; everything here is recorded in ``run.json`` and checked on resume.

    Attributes:
        arch: registry name of the architecture (``stcnn``, ``fusenet-intermediate``, ...).
        preset: the training recipe.
        protocol: ``loso`` or ``paper-split`` (the original's clip-level 80/20 split, leaks identity).
        seed: run seed; fold and release seeds are derived from it.
        threads: torch intra-op threads (``None`` keeps torch's default).
        arch_kwargs: extra keyword arguments for the architecture (``filters``, ``hidden``, ...).
        data: the data source string, for the record (``synthetic=DIR``, ``casme2=DIR``, ...).
        dataset_name: short name for the model card.
        synthetic: whether the data is synthetic (said loudly in the card).
        release: train and save the release model after evaluation.
        quiet: no progress bars.
    """

    arch: str = "stcnn"
    preset: Preset = PRESETS["default"]
    protocol: str = "loso"
    seed: int = 0
    threads: int | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    dataset_name: str = ""
    synthetic: bool = False
    release: bool = True
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise TrainingError(f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHITECTURES)}")
        if self.protocol not in PROTOCOLS:
            raise TrainingError(f"unknown protocol {self.protocol!r}; choose from {', '.join(PROTOCOLS)}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["preset"] = self.preset.to_dict()
        return out

    def recipe(self) -> dict[str, Any]:
        """The fields that decide the numbers; a resumed run must match them exactly."""
        keys = ("arch", "preset", "protocol", "seed", "arch_kwargs", "data", "release")
        return json.loads(json.dumps({k: v for k, v in self.to_dict().items() if k in keys}))


# ----------------------------------------------------------------------------------------------
# Small utilities: atomic writes, seeds, distributed context


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _atomic_write_json(path: Path, data: Any) -> None:
    _atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


def _atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def derive_seed(*parts: Any) -> int:
    """A stable 63-bit seed from any printable parts (independent of fold order and Python's hash salt)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's ``random`` (numpy takes 32 bits)."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class DistContext:
    """Rank and world size of this process (1 process unless launched by ``torchrun``)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def init_distributed() -> DistContext:
    """Join the gloo process group when ``torchrun`` set ``WORLD_SIZE`` > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size())


# ----------------------------------------------------------------------------------------------
# Saved TensorSets (the ``tensors=FILE.safetensors`` data source)


def save_tensor_set(
    tensor_set: TensorSet, path: str | os.PathLike[str], *, dataset_name: str = "", synthetic: bool = False
) -> Path:
    """Write a TensorSet as one safetensors file: ``input.<region>``, ``labels`` and JSON metadata.

    Useful for your own preprocessing: build the tensors any way you like, save them, and train with
    ``python -m train fit --data tensors=FILE.safetensors``.
    """
    path = Path(path)
    tensors = {f"input.{r}": x.float() for r, x in zip(tensor_set.spec.regions, tensor_set.inputs, strict=True)}
    tensors["labels"] = tensor_set.labels.long()
    meta = {
        "spec": tensor_set.spec.to_dict(),
        "subjects": list(tensor_set.subjects),
        "clips": list(tensor_set.clips),
        "dataset_name": dataset_name,
        "synthetic": bool(synthetic),
    }
    _atomic_save_tensors(path, tensors, {TENSORSET_KEY: json.dumps(meta)})
    return path


def load_tensor_set(path: str | os.PathLike[str]) -> tuple[TensorSet, dict[str, Any]]:
    """Read a file written by :func:`save_tensor_set`; returns the set and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"tensors file not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(TENSORSET_KEY)
        if raw is None:
            raise TrainingError(f"{path} is a safetensors file but not a saved TensorSet (no {TENSORSET_KEY} metadata)")
        meta = json.loads(raw)
        tensors = load_file(str(path))
        spec = InputSpec.from_dict(meta["spec"])
        tensor_set = TensorSet(
            inputs=tuple(tensors[f"input.{r}"] for r in spec.regions),
            labels=tensors["labels"].long(),
            subjects=tuple(meta["subjects"]),
            clips=tuple(meta["clips"]),
            spec=spec,
        )
    except TrainingError:
        raise
    except Exception as exc:  # corrupt header, missing key, wrong shapes: all the user's file
        raise TrainingError(f"cannot read TensorSet from {path}: {exc}") from exc
    return tensor_set, meta


# ----------------------------------------------------------------------------------------------
# Checkpoints: safetensors for tensors, JSON sidecar for everything else


class Checkpoints:
    """Per-epoch state of the running job and the saved results of finished jobs.

    Files under ``RUN_DIR/checkpoints/``: ``<job>-e<epoch>.safetensors`` (model + optimiser
    tensors), ``<job>.json`` (points at the latest tensors file, written after it, so the pair is
    always consistent) and ``<job>.done.json`` (predictions and curves of a finished job).
    """

    def __init__(self, run_dir: Path, writer: bool) -> None:
        self.dir = run_dir / "checkpoints"
        self.writer = writer

    @staticmethod
    def _safe(job: str) -> str:
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in job)

    def save_epoch(
        self, job: str, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, curves: dict
    ) -> None:
        if not self.writer:
            return
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        opt = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for pid, state in opt["state"].items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"optim.{pid}.{key}"] = value
                else:
                    scalars.setdefault(str(pid), {})[key] = value
        name = f"{self._safe(job)}-e{epoch:04d}.safetensors"
        _atomic_save_tensors(self.dir / name, tensors)
        sidecar = self.dir / f"{self._safe(job)}.json"
        previous = json.loads(sidecar.read_text()).get("tensors") if sidecar.exists() else None
        _atomic_write_json(
            sidecar,
            {
                "job": job,
                "epoch": epoch,
                "tensors": name,
                "curves": curves,
                "param_groups": opt["param_groups"],
                "optim_scalars": scalars,
            },
        )
        if previous and previous != name:
            (self.dir / previous).unlink(missing_ok=True)

    def load_epoch(self, job: str, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[int, dict] | None:
        """Restore model and optimiser in place; returns (epochs done, curves) or ``None``."""
        sidecar = self.dir / f"{self._safe(job)}.json"
        if not sidecar.exists():
            return None
        meta = json.loads(sidecar.read_text())
        tensors = load_file(str(self.dir / meta["tensors"]))
        model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, pid, name = key.split(".", 2)
                state.setdefault(int(pid), {})[name] = value
        for pid, values in meta["optim_scalars"].items():
            state.setdefault(int(pid), {}).update(values)
        optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        return int(meta["epoch"]), meta["curves"]

    def save_done(self, job: str, result: dict[str, Any]) -> None:
        if not self.writer:
            return
        _atomic_write_json(self.dir / f"{self._safe(job)}.done.json", result)
        sidecar = self.dir / f"{self._safe(job)}.json"
        if sidecar.exists():
            tensors = json.loads(sidecar.read_text()).get("tensors")
            sidecar.unlink()
            if tensors:
                (self.dir / tensors).unlink(missing_ok=True)

    def load_done(self, job: str) -> dict[str, Any] | None:
        path = self.dir / f"{self._safe(job)}.done.json"
        return json.loads(path.read_text()) if path.exists() else None


# ----------------------------------------------------------------------------------------------
# Training one job


def make_optimizer(model: nn.Module, preset: Preset) -> torch.optim.Optimizer:
    """The preset's optimiser in its fused form (one kernel over all parameters: Adam's step on a
    T=18 STCNN takes 0.5 instead of 2.1 ms; same update rule)."""
    if preset.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=preset.lr, momentum=preset.momentum, weight_decay=preset.weight_decay, fused=True
        )
    return torch.optim.Adam(model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay, fused=True)


def augment(inputs: tuple[torch.Tensor, ...], preset: Preset, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Clip-level flip and translation, identical for every frame and every region of a clip.

    Each input is (B, C, T, H, W). A micro-expression is a change over time, so moving or mirroring
    the whole clip keeps its label; per-frame jitter would not (it would add fake motion).
    """
    batch = inputs[0].shape[0]
    flip = torch.rand(batch, generator=generator) < preset.hflip
    m = preset.max_shift
    shifts = torch.randint(-m, m + 1, (batch, 2), generator=generator) if m > 0 else None
    out = []
    for x in inputs:
        x = torch.where(flip.view(-1, 1, 1, 1, 1), x.flip(-1), x)
        if shifts is not None:
            h, w = x.shape[-2:]
            padded = nn.functional.pad(x, (m, m, m, m, 0, 0), mode="replicate")  # pads W, H (T untouched)
            x = torch.stack(
                [
                    padded[i, :, :, m + dy : m + dy + h, m + dx : m + dx + w]
                    for i, (dy, dx) in enumerate(shifts.tolist())
                ]
            )
        out.append(x)
    return tuple(out)


def _batches(n: int, batch_size: int, seed: int, epoch: int, ctx: DistContext) -> Iterator[list[int]]:
    """Shuffled index batches for one epoch, reproducible from (seed, epoch) alone."""
    if ctx.distributed:
        sampler = DistributedSampler(
            range(n), num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=seed % 2**31
        )
        sampler.set_epoch(epoch)
        per_rank = max(1, batch_size // ctx.world_size)  # gradients are averaged: global batch = preset's
        return iter(BatchSampler(sampler, per_rank, drop_last=False))
    generator = torch.Generator().manual_seed(derive_seed(seed, epoch, "order"))
    return iter(BatchSampler(RandomSampler(range(n), generator=generator), batch_size, drop_last=False))


def _weights_digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def _identical_across_ranks(model: nn.Module, ctx: DistContext) -> bool:
    """True when every rank holds bit-identical weights (always true for one process)."""
    if not ctx.distributed:
        return True
    local = torch.tensor([int(_weights_digest(model)[:15], 16)], dtype=torch.int64)
    gathered = [torch.zeros_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, local)
    return all(bool((g == local).all()) for g in gathered)


def train_job(
    job: str,
    data: TensorSet,
    config: FitConfig,
    checkpoints: Checkpoints,
    ctx: DistContext,
    resume: bool,
    progress: bool,
) -> tuple[nn.Module, dict[str, list[float]]]:
    """Train one model on ``data`` for the preset's epochs; returns the model and its curves."""
    preset = config.preset
    job_seed = derive_seed(config.seed, job)
    seed_everything(job_seed)
    model = build_model(config.arch, input_spec=data.spec, **config.arch_kwargs)
    optimizer = make_optimizer(model, preset)
    start, curves = 0, {"loss": [], "accuracy": []}
    if resume:
        restored = checkpoints.load_epoch(job, model, optimizer)
        if restored is not None:
            start, curves = restored
    net: nn.Module = nn.parallel.DistributedDataParallel(model) if ctx.distributed else model
    loss_fn = nn.CrossEntropyLoss()
    bar = tqdm(total=preset.epochs, initial=start, desc=job, leave=False, disable=not progress, unit="epoch")
    for epoch in range(start, preset.epochs):
        epoch_seed = derive_seed(job_seed, epoch, ctx.rank)
        torch.manual_seed(epoch_seed)  # dropout masks of this epoch
        aug_gen = torch.Generator().manual_seed(derive_seed(epoch_seed, "augment"))
        net.train()
        stats = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
        for index in _batches(len(data), preset.batch_size, job_seed, epoch, ctx):
            idx = torch.as_tensor(index, dtype=torch.long)
            inputs = tuple(x[idx] for x in data.inputs)
            if preset.augments:
                inputs = augment(inputs, preset, aug_gen)
            target = data.labels[idx]
            logits = net(*inputs)
            loss = loss_fn(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            stats += torch.tensor(
                [loss.item() * len(idx), (logits.argmax(1) == target).sum().item(), len(idx)], dtype=torch.float64
            )
        if ctx.distributed:
            dist.all_reduce(stats)
        curves["loss"].append(float(stats[0] / stats[2]))
        curves["accuracy"].append(float(stats[1] / stats[2]))
        checkpoints.save_epoch(job, model, optimizer, epoch + 1, curves)
        ctx.barrier()
        bar.update(1)
        bar.set_postfix(loss=f"{curves['loss'][-1]:.3f}", acc=f"{curves['accuracy'][-1]:.2f}")
    bar.close()
    return model, curves


@torch.no_grad()
def predict(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Class probabilities (N, classes) in evaluation mode."""
    model.eval()
    n = inputs[0].shape[0]
    chunks = [torch.softmax(model(*(x[i : i + EVAL_BATCH] for x in inputs)), dim=1) for i in range(0, n, EVAL_BATCH)]
    return torch.cat(chunks) if chunks else torch.zeros(0, 0)


# ----------------------------------------------------------------------------------------------
# The run


def make_folds(tensor_set: TensorSet, protocol: str) -> list[Any]:
    """Folds of the protocol over ``tensor_set`` (``train.protocols`` objects)."""
    from . import protocols

    try:
        if protocol == "loso":
            folds = protocols.loso(tensor_set.subjects)
        else:
            folds = [protocols.paper_split(len(tensor_set), subjects=tensor_set.subjects)]
    except ValueError as exc:
        raise TrainingError(f"cannot build {protocol} folds: {exc}") from exc
    return list(folds)


def _fold_subjects(fold: Any, tensor_set: TensorSet) -> list[str]:
    subjects = getattr(fold, "test_subjects", None)
    if subjects is None:
        subjects = sorted({tensor_set.subjects[i] for i in fold.test})
    return list(subjects)


def _prepare_run_dir(run_dir: Path, config: FitConfig, resume: bool, ctx: DistContext) -> dict[str, Any]:
    """Check the run directory against ``resume`` and return the run record to keep extending."""
    record_path = run_dir / "run.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if not resume:
            raise TrainingError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
        if record.get("recipe") != config.recipe():
            raise TrainingError(
                f"{run_dir} was started with different settings; --resume needs the same arch, preset, protocol, "
                f"seed, data and overrides (recorded in {record_path})"
            )
        record["resumes"] = record.get("resumes", 0) + 1
        return record
    if run_dir.exists() and any(run_dir.iterdir()):
        raise TrainingError(f"{run_dir} exists, is not empty and holds no run.json; choose another --out")
    return {
        "recipe": config.recipe(),
        "config": config.to_dict(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "running",
        "timings": {},
    }


def _versions() -> dict[str, str]:
    return {
        "microexp": microexp.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _summarize(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    from .metrics import summarize

    return summarize([labels[i] for i in y_true], [labels[i] for i in y_pred], list(labels))


def _predictions_csv(rows: list[dict[str, Any]], labels: Sequence[str]) -> bytes:
    buf = io.StringIO()
    fields = ["clip", "subject", "fold", "true", "pred", *[f"prob_{label}" for label in labels]]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def _write_release(
    run_dir: Path, model: nn.Module, config: FitConfig, metrics: dict[str, Any], record: dict[str, Any]
) -> Path:
    """save_pretrained + model card into a temporary directory, then rename it to ``release/``."""
    final = run_dir / RELEASE
    tmp = run_dir / f".{RELEASE}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _assemble_release(tmp, model, config, metrics, record)
        if final.exists():  # only possible if an earlier run finished; replace it whole
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _assemble_release(
    tmp: Path, model: nn.Module, config: FitConfig, metrics: dict[str, Any], record: dict[str, Any]
) -> None:
    from .card import render_card

    model.save_pretrained(tmp)
    model_config = json.loads((tmp / "config.json").read_text())
    run_info = {
        "data": config.data,
        "dataset_name": config.dataset_name,
        "synthetic": config.synthetic,
        "protocol": config.protocol,
        "preset": config.preset.name,
        "hyperparameters": {**config.preset.to_dict(), "seed": config.seed, "arch_kwargs": config.arch_kwargs},
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "model_name": f"microexp-{config.arch}" + (f"-{config.dataset_name}" if config.dataset_name else ""),
        "created": record["created"],
        "microexp_version": microexp.__version__,
    }
    (tmp / "README.md").write_text(render_card(model_config, metrics, run_info), encoding="utf-8")


def run_fit(
    tensor_set: TensorSet,
    config: FitConfig,
    out_dir: str | os.PathLike[str],
    resume: bool = False,
    *,
    args: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate ``config`` on ``tensor_set`` under its protocol, then train and save the release model.

    Args:
        tensor_set: preprocessed clips (all of them; folds are drawn from it).
        config: architecture, recipe, protocol and seed.
        out_dir: the run directory (layout in the module docstring).
        resume: continue a killed run in ``out_dir`` from its last checkpoint.
        args: the command-line arguments, recorded in ``run.json``.

    Returns:
        The contents of ``metrics.json``.

    Raises:
        TrainingError: the run directory or the data do not allow the run.
    """
    with _torch_settings(config.threads):
        return _run(tensor_set, config, Path(out_dir), resume, args or {})


@contextmanager
def _torch_settings(threads: int | None) -> Iterator[None]:
    """Thread count and deterministic kernels for the run; the caller's settings come back after."""
    previous_threads = torch.get_num_threads()
    previous_mode = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    if threads:
        torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_mode[0], warn_only=previous_mode[1])


def _run(tensor_set: TensorSet, config: FitConfig, run_dir: Path, resume: bool, args: dict[str, Any]) -> dict[str, Any]:
    ctx = init_distributed()
    progress = not config.quiet and ctx.is_main and sys.stderr.isatty()
    record = _prepare_run_dir(run_dir, config, resume, ctx)
    ctx.barrier()
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        record.update(
            args=args,
            versions=_versions(),
            world_size=ctx.world_size,
            threads=torch.get_num_threads(),
            data={
                "spec": config.data,
                "dataset_name": config.dataset_name,
                "synthetic": config.synthetic,
                "clips": len(tensor_set),
                "input_spec": tensor_set.spec.to_dict(),
            },
        )
        _atomic_write_json(run_dir / "run.json", record)
    checkpoints = Checkpoints(run_dir, writer=ctx.is_main)
    labels = tensor_set.spec.labels
    folds = make_folds(tensor_set, config.protocol)
    started = time.perf_counter()
    identical = True

    # 1. cross-validation: one model per fold, predictions on the held-out clips
    results: list[dict[str, Any]] = []
    for fold in tqdm(folds, desc="folds", disable=not progress, unit="fold"):
        job = f"fold-{fold.name}"
        done = checkpoints.load_done(job) if resume else None
        if done is None:
            t0 = time.perf_counter()
            train_idx = torch.as_tensor(list(fold.train), dtype=torch.long)
            test_idx = list(fold.test)
            model, curves = train_job(job, tensor_set.subset(train_idx), config, checkpoints, ctx, resume, progress)
            identical &= _identical_across_ranks(model, ctx)
            probs = predict(model, tuple(x[torch.as_tensor(test_idx, dtype=torch.long)] for x in tensor_set.inputs))
            done = {
                "fold": str(fold.name),
                "test": test_idx,
                "test_subjects": _fold_subjects(fold, tensor_set),
                "pred": probs.argmax(1).tolist(),
                "probs": probs.tolist(),
                "curves": curves,
                "seconds": time.perf_counter() - t0,
            }
            checkpoints.save_done(job, done)
            ctx.barrier()
        results.append(done)

    # 2. pooled metrics (MEGC convention: one confusion matrix over all folds)
    y_true = [int(tensor_set.labels[i]) for r in results for i in r["test"]]
    y_pred = [p for r in results for p in r["pred"]]
    metrics = _summarize(y_true, y_pred, labels)
    fold_rows = []
    for r in results:
        truth = [int(tensor_set.labels[i]) for i in r["test"]]
        correct = sum(int(t == p) for t, p in zip(truth, r["pred"], strict=True))
        fold_rows.append(
            {
                "name": r["fold"],
                "test_subjects": r["test_subjects"],
                "n": len(truth),
                "accuracy": correct / len(truth) if truth else None,
            }
        )
    metrics.update(
        protocol=config.protocol,
        identity_leak=any(bool(getattr(f, "identity_leak", False)) for f in folds),
        arch=config.arch,
        preset=config.preset.name,
        folds=len(fold_rows),
        subjects=len(set(tensor_set.subjects)),
        clips=len(tensor_set),
        per_fold=fold_rows,
    )
    if ctx.is_main:
        from .figures import plot_curves
        from .metrics import plot_confusion

        _atomic_write_json(run_dir / "metrics.json", metrics)
        rows = []
        for r in results:
            for i, pred, probs in zip(r["test"], r["pred"], r["probs"], strict=True):
                rows.append(
                    {
                        "clip": tensor_set.clips[i],
                        "subject": tensor_set.subjects[i],
                        "fold": r["fold"],
                        "true": labels[int(tensor_set.labels[i])],
                        "pred": labels[pred],
                        **{f"prob_{label}": f"{p:.6f}" for label, p in zip(labels, probs, strict=True)},
                    }
                )
        _atomic_write_bytes(run_dir / "predictions.csv", _predictions_csv(rows, labels))
        plot_curves({r["fold"]: r["curves"] for r in results}, run_dir / "figures" / "curves.png")
        plot_confusion(metrics, run_dir / "figures" / "confusion.png")  # atomic itself
        record["timings"]["folds_s"] = {r["fold"]: round(r["seconds"], 3) for r in results}
    evaluated = time.perf_counter()

    # 3. the release model: all clips, same recipe, saved atomically for `python -m train push`
    if config.release and not (run_dir / RELEASE / "config.json").exists():
        model, curves = train_job(RELEASE, tensor_set, config, checkpoints, ctx, resume, progress)
        identical &= _identical_across_ranks(model, ctx)
        if ctx.is_main:
            _write_release(run_dir, model, config, metrics, record)
            checkpoints.save_done(RELEASE, {"fold": RELEASE, "curves": curves})
        ctx.barrier()

    if ctx.is_main:
        record["timings"].update(
            evaluation_s=round(evaluated - started, 3), release_s=round(time.perf_counter() - evaluated, 3)
        )
        record.update(
            status="complete",
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
            ddp={"world_size": ctx.world_size, "weights_identical_across_ranks": identical},
        )
        _atomic_write_json(run_dir / "run.json", record)
    ctx.barrier()
    return metrics


# ----------------------------------------------------------------------------------------------
# Command line: `python -m train fit` and `python -m train cache`

DATA_HELP = (
    "data source: synthetic=DIR | casme2=DIR | samm=DIR | smic=DIR | casme_sq=DIR | megc=... "
    "(raw datasets are preprocessed once through the MicroExp face pipeline and cached), or "
    "tensors=FILE.safetensors, a TensorSet you preprocessed yourself (see train.fit.save_tensor_set: "
    "tensors input.<region> (N,C,T,H,W) float32 and labels (N,) int64, with spec/subjects/clips as JSON "
    "metadata under 'microexp_tensorset')"
)


def load_data(
    data: str, *, arch: str, frames: int | None, cache_dir: str | None, workers: int, progress: bool
) -> tuple[TensorSet, dict[str, Any]]:
    """Turn a ``--data`` string into a TensorSet plus ``{"dataset_name", "synthetic"}``."""
    kind, sep, location = data.partition("=")
    if not sep or not location:
        raise TrainingError(f"--data must look like KIND=PATH (e.g. synthetic=./synth), got {data!r}")
    if kind == "tensors":
        tensor_set, meta = load_tensor_set(location)
        if frames is not None and frames != tensor_set.spec.frames:
            raise TrainingError(
                f"--frames {frames} does not match the {tensor_set.spec.frames} frames stored in {location}"
            )
        if set(tensor_set.spec.regions) != set(default_regions(arch)) and arch.startswith("fusenet"):
            raise TrainingError(f"{arch} needs eyes and mouth crops; {location} holds {tensor_set.spec.regions}")
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
    spec = InputSpec(frames=frames or 18, regions=default_regions(arch))
    tensor_set = build_tensor_set(
        records, spec, Path(cache_dir) if cache_dir else None, workers=workers, progress=progress
    )
    name = getattr(report, "dataset", None) or kind.split("+")[0]
    synthetic = name == "synthetic" or all(getattr(r, "dataset", "") == "synthetic" for r in records)
    return tensor_set, {"dataset_name": name, "synthetic": synthetic}


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
        help="loso (default, subject-independent) or paper-split (the original 80/20 clip split; leaks identity)",
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
    p.add_argument("--cache-dir", default=None, help="where preprocessed tensors are cached")
    p.add_argument("--workers", type=int, default=1, help="preprocessing processes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--no-tune-malloc",
        action="store_true",
        help="keep glibc's default allocator policy (by default freed big buffers are kept for the next step, "
        "see microexp.models.fast.tune_malloc: STCNN-96 trains 20-30%% faster)",
    )
    return p


def _parse_kwargs(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrainingError(f"--arch-kwargs is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise TrainingError("--arch-kwargs must be a JSON object")
    return value


def _load_on_rank0_first(args: argparse.Namespace, ctx: DistContext) -> tuple[TensorSet, dict[str, Any]]:
    """Load the data; under DDP rank 0 fills the preprocessing cache before the other ranks read it."""
    progress = not args.quiet and sys.stderr.isatty() and ctx.is_main

    def load() -> tuple[TensorSet, dict[str, Any]]:
        return load_data(
            args.data,
            arch=args.arch,
            frames=args.frames,
            cache_dir=args.cache_dir,
            workers=args.workers,
            progress=progress,
        )

    if not ctx.distributed:
        return load()
    loaded, error = None, None
    if ctx.is_main:
        try:
            loaded = load()
        except (MicroExpError, ValueError, FileNotFoundError, NotADirectoryError) as exc:
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
        ctx = init_distributed()
        tensor_set, info = _load_on_rank0_first(args, ctx)
        config = FitConfig(
            arch=args.arch,
            preset=preset,
            protocol=args.protocol,
            seed=args.seed,
            threads=args.threads,
            data=args.data,
            release=not args.no_release,
            quiet=args.quiet,
            **config_kw,
            **info,
        )
        metrics = run_fit(tensor_set, config, args.out, resume=args.resume, args=vars(args))
    except (MicroExpError, ValueError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    p.add_argument("--cache-dir", default=None, help="where preprocessed tensors are cached")
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
        )
        if args.export:
            save_tensor_set(tensor_set, args.export, **info)
    except (MicroExpError, ValueError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{len(tensor_set)} clips from {len(set(tensor_set.subjects))} subjects cached"
        + (f", exported to {args.export}" if args.export else "")
    )
    return 0


__all__ = [
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
    "predict",
    "run_fit",
    "save_tensor_set",
    "train_job",
]
