"""Process setup for training: derived seeds, and the (optional) ``torchrun`` process group.

Every job and epoch re-seeds from stable hashes of its name, so a resumed run needs no RNG state.
Under ``torchrun`` (``RANK`` / ``WORLD_SIZE`` set) the process joins a process group (gloo on CPU;
on GPUs NCCL for CUDA tensors, each rank on GPU ``LOCAL_RANK``); rank 0 writes.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from microexp.device import resolve_device


def derive_seed(*parts: Any) -> int:
    """A stable 63-bit seed from any printable parts (independent of fold order and Python's hash salt)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and Python's ``random`` (numpy takes 32 bits)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class DistContext:
    """Rank, world size and device of this process (1 process on CPU unless told otherwise)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def process_group_backend(device: torch.device) -> str:
    """NCCL for the GPU tensors DDP reduces, gloo for the CPU tensors the run also exchanges (epoch
    statistics, rank 0's "data loaded" flag), so the same collectives work on either device."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


def init_distributed(device: str | torch.device | None = None) -> DistContext:
    """This process's :class:`DistContext`; joins the process group when ``torchrun`` set ``WORLD_SIZE`` > 1.

    ``device``: ``auto`` | ``cpu`` | ``cuda`` (``None``: ``$MICROEXP_DEVICE``, else ``auto``); under
    ``torchrun`` a plain ``cuda`` becomes GPU ``LOCAL_RANK``, one GPU per process.
    """
    target = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=target)
    if target.type == "cuda" and target.index is None:
        target = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if target.type == "cuda":
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        dist.init_process_group(process_group_backend(target))
    return DistContext(rank=dist.get_rank(), world_size=dist.get_world_size(), device=target)


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over every named tensor of the model, in name order."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def identical_across_ranks(model: nn.Module, ctx: DistContext) -> bool:
    """True when every rank holds bit-identical weights (always true for one process)."""
    if not ctx.distributed:
        return True
    local = torch.tensor([int(weights_digest(model)[:15], 16)], dtype=torch.int64)
    gathered = [torch.zeros_like(local) for _ in range(ctx.world_size)]
    dist.all_gather(gathered, local)
    return all(bool((g == local).all()) for g in gathered)


__all__ = [
    "DistContext",
    "derive_seed",
    "identical_across_ranks",
    "init_distributed",
    "process_group_backend",
    "seed_everything",
    "weights_digest",
]
