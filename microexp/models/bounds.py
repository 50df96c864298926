"""Bounds on a ``config.json`` before anything is allocated for it.

A config comes from a folder or a Hub repo anyone can write, and its fields size the network:
``{"hidden": 100000000}`` would ask for terabytes. :func:`check_config` therefore checks every
field first: the :class:`~microexp.spec.InputSpec` against its own bounds, each numeric constructor
argument by type and range, then builds the network on PyTorch's ``meta`` device (shapes only, no
memory) and runs one forward there, to bound the parameter count and the largest activation.
Every failure is a :class:`~microexp.errors.ModelError` naming the field.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ModelError
from ..spec import InputSpec
from . import fast

# The paper's largest network (Intermediate FuseNet at 96 frames) has 177 M parameters.
MAX_PARAMETERS = 256 * 2**20
# Elements of the largest layer output for one sample (256 MB as float32).
MAX_ACTIVATION = 64 * 2**20
MAX_INT = 8192  # filters, widths, kernel sides, pool sizes
MAX_TUPLE = 8


def constructor_kwargs(cls: type, config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``config.json`` fields that ``cls.__init__`` takes (what the Hub mixin passes it)."""
    params = inspect.signature(cls.__init__).parameters
    return {k: v for k, v in config.items() if k in params and k != "self"}


def check_config(cls: type, config: Mapping[str, Any], source: str) -> None:
    """Raise :class:`ModelError` unless ``config`` builds a network of bounded size for ``cls``.

    Args:
        cls: the registered model class ``config["arch"]`` names.
        config: the parsed ``config.json``.
        source: the folder or repo id, for the message.
    """
    kwargs = constructor_kwargs(cls, config)
    try:
        InputSpec.from_dict(_mapping(kwargs.get("input_spec", {}), "input_spec"))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{source}: input_spec is invalid: {exc}") from exc
    defaults = {
        name: p.default for name, p in inspect.signature(cls.__init__).parameters.items() if name in kwargs
    }
    for name, value in kwargs.items():
        if name != "input_spec":
            _check_argument(name, value, defaults[name], source)
    try:
        with torch.device("meta"):
            model = cls(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{source}: not a valid {cls.__name__}: {exc}") from exc
    parameters = sum(p.numel() for p in model.parameters())
    if parameters > MAX_PARAMETERS:
        raise ModelError(
            f"{source}: describes {parameters:,} parameters, over the {MAX_PARAMETERS:,} limit"
        )
    largest = _largest_activation(model, source)
    if largest > MAX_ACTIVATION:
        raise ModelError(
            f"{source}: describes a layer output of {largest:,} values per clip, "
            f"over the {MAX_ACTIVATION:,} limit"
        )


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def _check_argument(name: str, value: Any, default: Any, source: str) -> None:
    """Integers (and tuples of them) in ``[1, MAX_INT]``, floats finite; others the class checks."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = _small_int(value)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif isinstance(default, tuple):
        ok = isinstance(value, (list, tuple)) and 0 < len(value) <= MAX_TUPLE and all(map(_small_int, value))
    else:
        return
    if not ok:
        raise ModelError(f"{source}: {name}={value!r} is out of bounds (expected like {default!r})")


def _small_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INT


def _largest_activation(model: torch.nn.Module, source: str) -> int:
    """Largest per-sample output of any submodule, from one forward on the meta device."""
    largest = 0

    def record(module, args, output) -> None:
        nonlocal largest
        if isinstance(output, torch.Tensor) and output.dim() > 0:
            largest = max(largest, output.numel() // max(output.shape[0], 1))

    hooks = [m.register_forward_hook(record) for m in model.modules()]
    try:
        with torch.device("meta"), fast.fast_mode("reference"), torch.no_grad():
            model.eval()(*model.example_inputs())
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{source}: describes a network that cannot run: {exc}") from exc
    finally:
        for h in hooks:
            h.remove()
    return largest
