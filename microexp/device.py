"""Which device models run on: ``auto`` | ``cpu`` | ``cuda``, from an argument or ``MICROEXP_DEVICE``.

One resolver for every entry point (``Predictor``, ``python -m microexp predict --device``,
``python -m train fit --device``, the app through ``Predictor``'s default), so they agree on what
``auto`` means and on the error a missing GPU gives. On CPU the models' own fast path
(:mod:`microexp.models.fast`) applies; it checks the input's device itself, so on CUDA the reference
layers run (cuDNN) under :func:`autocast` mixed precision.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from .errors import MicroExpError

DEVICES = ("auto", "cpu", "cuda")
ENV = "MICROEXP_DEVICE"


class DeviceError(MicroExpError):
    """The device asked for is unknown or not available on this machine."""


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """The torch device for ``name`` (``None``: ``$MICROEXP_DEVICE``, else ``auto``).

    ``auto`` is the first CUDA GPU when one is usable, else the CPU. ``cuda`` and ``cuda:N`` raise
    :class:`DeviceError` when no such GPU is usable, rather than falling back silently: a user who
    asked for the GPU should learn that the run would be on CPU.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = (name if name is not None else os.environ.get(ENV, "") or "auto").strip().lower()
    kind, _, index = text.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        source = f"{ENV}={text!r}" if name is None else repr(text)
        raise DeviceError(f"unknown device {source}; choose from {', '.join(DEVICES)} (or cuda:N)")
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError("device 'cuda' asked for, but no CUDA GPU is usable here (use --device cpu or auto)")
        if index and int(index) >= count:
            raise DeviceError(f"device {text!r} asked for, but only {count} CUDA GPU(s) are usable here")
        return torch.device(text)
    return torch.device("cpu")


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """Mixed-precision dtype for ``device``: bf16 on GPUs that have it, else fp16; ``None`` on CPU
    (the CPU keeps fp32: bf16 pays only on CPUs with native bf16, see ``fast.native_bf16``)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """``torch.autocast`` with :func:`amp_dtype` on CUDA; nothing on CPU."""
    dtype = amp_dtype(device)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def prepare(device: torch.device) -> None:
    """Process settings for ``device``: cuDNN picks the fastest conv algorithm for the fixed clip shapes."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def describe(device: torch.device) -> str:
    """A short human description (GPU name, or CPU), for timings and logs."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"


__all__ = ["DEVICES", "ENV", "DeviceError", "amp_dtype", "autocast", "describe", "prepare", "resolve_device"]
