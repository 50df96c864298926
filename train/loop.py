"""One training job (a fold or the release model): optimiser, augmentation, epoch loop, prediction.

Every epoch re-seeds torch and the samplers from (job seed, epoch), so a job resumed from its last
checkpoint ends bit-for-bit where an uninterrupted one would (same machine, same thread count).
Under DDP each rank takes a ``DistributedSampler`` share of every batch (the global batch stays
the preset's).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import BatchSampler, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from microexp.align import mirror_window
from microexp.device import amp_dtype, autocast
from microexp.flow import mirror_factors
from microexp.models import build_model

from .checkpoints import Checkpoints
from .config import FitConfig
from .distributed import DistContext, derive_seed, seed_everything
from .presets import Preset
from .tensorset import TensorSet

EVAL_BATCH = 64


def make_optimizer(model: nn.Module, preset: Preset) -> torch.optim.Optimizer:
    """The preset's optimiser in its fused form: one kernel over all parameters, several times faster
    per step on small models, same update rule."""
    if preset.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=preset.lr, momentum=preset.momentum, weight_decay=preset.weight_decay, fused=True
        )
    return torch.optim.Adam(model.parameters(), lr=preset.lr, weight_decay=preset.weight_decay, fused=True)


def augment(
    inputs: tuple[torch.Tensor, ...], preset: Preset, generator: torch.Generator, mirror: torch.Tensor | None = None
) -> tuple[torch.Tensor, ...]:
    """Clip-level flip and translation, identical for every frame and every region of a clip.

    Each input is (B, C, T, H, W). A micro-expression is a change over time, so moving or mirroring
    the whole clip keeps its label; per-frame jitter would not (it would add fake motion).
    ``mirror``: (C,) factor per channel of a flipped input (``microexp.flow.mirror_factors``: a mirrored flow
    field moves the other way horizontally, so u changes sign); None leaves the values as they are.
    """
    batch = inputs[0].shape[0]
    flip = torch.rand(batch, generator=generator) < preset.hflip
    m = preset.max_shift
    shifts = torch.randint(-m, m + 1, (batch, 2), generator=generator) if m > 0 else None
    out = []
    for x in inputs:
        x = torch.where(flip.view(-1, 1, 1, 1, 1), mirror_window(x, mirror), x)
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


def draw_windows(n: int, k: int, job_seed: int, epoch: int) -> torch.Tensor:
    """Which of the K stored windows each of the n clips trains on in ``epoch`` (n,) int64.

    Drawn from (job seed, epoch) alone, the same on every rank, so resume and DDP stay exact.
    """
    generator = torch.Generator().manual_seed(derive_seed(job_seed, epoch, "windows"))
    return torch.randint(0, k, (n,), generator=generator)


def batch_inputs(data: TensorSet, idx: torch.Tensor, windows: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """The batch ``idx`` of ``data``: its jittered windows ``windows[idx]`` when given, else the centred ones."""
    if windows is None or not data.jitter:
        return tuple(x[idx] for x in data.inputs)
    return tuple(j[idx, windows[idx]] for j in data.jitter)


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
    model = build_model(config.arch, input_spec=data.spec, **config.arch_kwargs).to(ctx.device)
    optimizer = make_optimizer(model, preset)
    start, curves = 0, {"loss": [], "accuracy": []}
    if resume:
        restored = checkpoints.load_epoch(job, model, optimizer)
        if restored is not None:
            start, curves = restored
    gpu = [ctx.device.index] if ctx.device.type == "cuda" else None
    net: nn.Module = nn.parallel.DistributedDataParallel(model, device_ids=gpu) if ctx.distributed else model
    # fp16 autocast (GPUs without bf16) needs loss scaling; bf16 and the exact fp32 CPU path do not
    scaler = torch.amp.GradScaler("cuda") if amp_dtype(ctx.device) == torch.float16 else None
    loss_fn = nn.CrossEntropyLoss()
    factors = mirror_factors(data.spec)
    mirror = torch.tensor(factors) if factors is not None else None
    bar = tqdm(total=preset.epochs, initial=start, desc=job, leave=False, disable=not progress, unit="epoch")
    for epoch in range(start, preset.epochs):
        epoch_seed = derive_seed(job_seed, epoch, ctx.rank)
        torch.manual_seed(epoch_seed)  # dropout masks of this epoch
        aug_gen = torch.Generator().manual_seed(derive_seed(epoch_seed, "augment"))
        net.train()
        stats = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
        # one jittered window per clip and epoch (epochs keep their length); centred-only sets skip this
        windows = draw_windows(len(data), data.windows_per_clip, job_seed, epoch) if data.jitter else None
        for index in _batches(len(data), preset.batch_size, job_seed, epoch, ctx):
            idx = torch.as_tensor(index, dtype=torch.long)
            inputs = batch_inputs(data, idx, windows)
            if preset.augments:
                inputs = augment(inputs, preset, aug_gen, mirror)
            inputs = tuple(x.to(ctx.device, non_blocking=True) for x in inputs)  # batches are drawn on CPU
            target = data.labels[idx].to(ctx.device)
            with autocast(ctx.device):
                logits = net(*inputs)
                loss = loss_fn(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
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
def predict_logits(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Logits (N, classes) in evaluation mode (kept for temperature calibration), on CPU, in fp32
    (the model runs on its own device)."""
    model.eval()
    n = inputs[0].shape[0]
    device = next(model.parameters()).device
    chunks = [model(*(x[i : i + EVAL_BATCH].to(device) for x in inputs)).float().cpu() for i in range(0, n, EVAL_BATCH)]
    return torch.cat(chunks) if chunks else torch.zeros(0, 0)


def predict(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Class probabilities (N, classes) in evaluation mode."""
    logits = predict_logits(model, inputs)
    return torch.softmax(logits, dim=1) if logits.numel() else logits


__all__ = [
    "EVAL_BATCH",
    "augment",
    "batch_inputs",
    "draw_windows",
    "make_optimizer",
    "predict",
    "predict_logits",
    "train_job",
]
