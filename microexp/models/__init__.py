"""The paper's networks (and a two-stream variant), all Hub-native ``nn.Module`` classes.

:data:`ARCHS` is the one table of architectures: each entry names its class, the crops it takes
and the constructor arguments its name fixes, so no caller tests architecture names by prefix.
Adding a model is one line in that table (a built-in) or one :func:`register_arch` call (a plugin or
a test; :func:`unregister_arch` removes it); tests, benches and CLIs iterate the live table.

Calibration: a ``config.json`` may hold a top-level ``temperature`` T (written by ``python -m train
fit``, fitted on held-out predictions). :func:`load_model` then makes the model's forward return
``logits / T``, so every softmax downstream (``Predictor``, the app) gives calibrated probabilities;
the argmax never changes. Without the field nothing is scaled.

Labelling: a ``config.json`` may also hold ``apex_spread``, the window offsets whose mean probabilities
label a spotted interval (:data:`microexp.windows.APEX_SPREAD`); :func:`load_model` puts it on the model
as ``model.apex_spread`` and ``Predictor`` uses it unless told otherwise; likewise ``mirror`` (true: every window
is also classified mirrored left-right and the two probabilities averaged, a test-time flip).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from ..errors import ModelError
from ..flow import MAGNIFY_ALPHA, MAGNIFY_SOURCE
from ..spec import InputSpec
from ..windows import apex_offsets
from .base import REGISTRY, MicroExpModel, read_config
from .base import load_model as _load_unscaled
from .flow import MicroExpFlowNet
from .fusenet import MicroExpFuseNet
from .magnified import MicroExpSTCNNMag
from .motion import MicroExpFuseNetFlow, MicroExpSTCNNFlow
from .stcnn import MicroExpSTCNN
from .twostream import MicroExpTwoStream


@dataclass(frozen=True)
class Architecture:
    """One registered architecture.

    Attributes:
        name: registry name, as written to ``config.json`` (``arch``).
        cls: the model class.
        regions: the crops it takes by default, in ``forward`` argument order.
        fixed: constructor arguments the name implies (``fusion`` for the FuseNets).
        spec: InputSpec fields the architecture needs (``representation`` for the flow net).
    """

    name: str
    cls: type[MicroExpModel]
    regions: tuple[str, ...]
    fixed: Mapping[str, Any] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)


# What a newly trained model's frames are registered with (``microexp.align``): image registration
# removes frame-to-frame shake that landmarks cannot follow. A config without the key means landmarks.
DEFAULT_EXTRA: Mapping[str, Any] = MappingProxyType({"register": "image"})
# the magnified net's spec records its magnification, so a config.json keeps it if the defaults change
_MAGNIFIED = {"representation": "magnified",
              "extra": {**DEFAULT_EXTRA, "magnify_alpha": MAGNIFY_ALPHA, "magnify_source": MAGNIFY_SOURCE}}

_ARCHS: dict[str, Architecture] = dict(
    {
        a.name: a
        for a in (
            Architecture("fusenet-intermediate", MicroExpFuseNet, ("eyes", "mouth"), {"fusion": "intermediate"}),
            Architecture("fusenet-late", MicroExpFuseNet, ("eyes", "mouth"), {"fusion": "late"}),
            Architecture("fusenet-intermediate-flow", MicroExpFuseNetFlow, ("eyes", "mouth"),
                         {"fusion": "intermediate"}, spec={"representation": "frames+flow"}),
            Architecture("fusenet-late-flow", MicroExpFuseNetFlow, ("eyes", "mouth"), {"fusion": "late"},
                         spec={"representation": "frames+flow"}),
            Architecture("flow", MicroExpFlowNet, ("face",), spec={"representation": "flow"}),
            Architecture("stcnn", MicroExpSTCNN, ("face",)),
            Architecture("stcnn-flow", MicroExpSTCNNFlow, ("face",), spec={"representation": "frames+flow"}),
            Architecture("stcnn-mag", MicroExpSTCNNMag, ("face",), spec=_MAGNIFIED),
            Architecture("twostream", MicroExpTwoStream, ("face",)),
        )
    }
)
# load_model's registry (filled by @register in each model module) and this table must agree
if set(_ARCHS) != set(REGISTRY) or any(REGISTRY[n] is not a.cls for n, a in _ARCHS.items()):
    raise RuntimeError(f"microexp.models.ARCHS {sorted(_ARCHS)} and the @register names {sorted(REGISTRY)} differ")

ARCHS: Mapping[str, Architecture] = MappingProxyType(_ARCHS)  # read-only and live: register_arch adds to it


class _Names(Sequence[str]):
    """The registered names as a live, read-only sequence (argparse choices, parametrised tests)."""

    def __getitem__(self, index):  # type: ignore[override]
        return tuple(_ARCHS)[index]

    def __len__(self) -> int:
        return len(_ARCHS)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_ARCHS))

    def __contains__(self, name: object) -> bool:
        return name in _ARCHS

    def __repr__(self) -> str:
        return repr(tuple(_ARCHS))


ARCHITECTURES: Sequence[str] = _Names()


def register_arch(arch: Architecture) -> Architecture:
    """Add an architecture to :data:`ARCHS` and to :func:`load_model`'s registry: one call per model.

    Raises ValueError if the name is taken (re-registering the same entry is a no-op)."""
    if _ARCHS.get(arch.name) == arch:
        return arch
    if arch.name in _ARCHS or arch.name in REGISTRY:
        raise ValueError(f"architecture {arch.name!r} is already registered")
    if not (isinstance(arch.cls, type) and issubclass(arch.cls, MicroExpModel)) or not arch.regions:
        raise ValueError(f"{arch.name!r}: cls must be a MicroExpModel subclass and regions non-empty")
    _ARCHS[arch.name] = arch
    REGISTRY[arch.name] = arch.cls
    return arch


def unregister_arch(name: str) -> None:
    """Remove an architecture added by :func:`register_arch` (tests and plugins clean up with it)."""
    get_arch(name)
    del _ARCHS[name]
    REGISTRY.pop(name, None)


def get_arch(arch: str) -> Architecture:
    """The table entry for ``arch``; ValueError naming the known ones otherwise."""
    try:
        return ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose from {ARCHITECTURES}") from None


def default_regions(arch: str) -> tuple[str, ...]:
    """The crops an architecture takes by default: eyes + mouth for the FuseNets, the face otherwise."""
    return get_arch(arch).regions


def accepts_regions(arch: str, regions: Sequence[str]) -> bool:
    """Whether tensors of ``regions`` can feed ``arch``: a one-crop net takes any single crop, a
    multi-crop net needs exactly its own crops (its branches are sized and named for them)."""
    own = get_arch(arch).regions
    if len(own) == 1:
        return len(regions) == 1
    return set(regions) == set(own) and len(regions) == len(own)


def default_spec(arch: str, **fields: Any) -> InputSpec:
    """The InputSpec an architecture trains on by default: its regions and the fields it needs, plus ``fields``."""
    entry = get_arch(arch)
    # no dict shared with the table
    needs = {k: dict(v) if isinstance(v, Mapping) else v for k, v in entry.spec.items()}
    return InputSpec(**{"regions": entry.regions, "extra": dict(DEFAULT_EXTRA), **needs, **fields})


TEMPERATURE_KEY = "temperature"  # top-level config.json field read by load_model
APEX_SPREAD_KEY = "apex_spread"  # top-level config.json field read by load_model
MIRROR_KEY = "mirror"  # top-level config.json field read by load_model


def _keep_in_config(model: MicroExpModel, key: str, value: Any) -> None:
    """Put ``key`` in the model's Hub config, so ``save_pretrained`` writes it to ``config.json`` (a model built
    without the Hub mixin's config has none to keep it in)."""
    if isinstance(getattr(model, "_hub_mixin_config", None), dict):
        model._hub_mixin_config[key] = value


def _divide_by_temperature(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    return output / module.temperature


def set_temperature(model: MicroExpModel, temperature: float) -> MicroExpModel:
    """Make ``model``'s forward return logits / ``temperature`` from now on (1.0 leaves them as they are).

    The value is also put in the model's Hub config, so ``save_pretrained`` writes it back to
    ``config.json``. Returns the model.

    Raises:
        ModelError: ``temperature`` is not a finite number > 0.
    """
    t = float(temperature) if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) else math.nan
    if not (math.isfinite(t) and t > 0):
        raise ModelError(f"config.json {TEMPERATURE_KEY} must be a finite number > 0, got {temperature!r}")
    model.temperature = t
    if getattr(model, "_temperature_hook", None) is None:
        model._temperature_hook = model.register_forward_hook(_divide_by_temperature)
    _keep_in_config(model, TEMPERATURE_KEY, t)
    return model


def set_apex_spread(model: MicroExpModel, spread: Sequence[float]) -> MicroExpModel:
    """Make ``spread`` the window offsets that label ``model``'s spotted intervals (``model.apex_spread``,
    read by ``Predictor``), and put it in the model's Hub config so ``save_pretrained`` writes it. Returns
    the model.

    Raises:
        ModelError: not a non-empty list of offsets within +-0.5 of a window.
    """
    try:
        model.apex_spread = apex_offsets(spread)
    except ValueError as exc:
        raise ModelError(f"config.json {exc}") from None
    _keep_in_config(model, APEX_SPREAD_KEY, list(model.apex_spread))
    return model


def set_mirror(model: MicroExpModel, mirror: bool) -> MicroExpModel:
    """Make ``Predictor`` also classify every window of ``model`` mirrored and average the two
    (``model.mirror``), and put it in the model's Hub config so ``save_pretrained`` writes it. Returns the model.

    Raises:
        ModelError: ``mirror`` is not a boolean.
    """
    if not isinstance(mirror, bool):
        raise ModelError(f"config.json {MIRROR_KEY} must be true or false, got {mirror!r}")
    model.mirror = mirror
    _keep_in_config(model, MIRROR_KEY, mirror)
    return model


def load_model(model_id: str | os.PathLike[str], revision: str | None = None, **hub_kwargs: Any) -> MicroExpModel:
    """Load any MicroExp model from a ``save_pretrained`` directory or a Hub repo id, applying the
    ``temperature``, ``apex_spread`` and ``mirror`` of its ``config.json`` when it has them (module docstring)."""
    model = _load_unscaled(model_id, revision=revision, **hub_kwargs)
    config = read_config(model_id, revision=revision, **hub_kwargs)
    if config.get(TEMPERATURE_KEY) is not None:
        set_temperature(model, config[TEMPERATURE_KEY])
    if config.get(APEX_SPREAD_KEY) is not None:
        set_apex_spread(model, config[APEX_SPREAD_KEY])
    if config.get(MIRROR_KEY) is not None:
        set_mirror(model, config[MIRROR_KEY])
    return model


def build_model(arch: str, **kwargs: Any) -> MicroExpModel:
    """Instantiate an architecture by registry name (``stcnn``, ``fusenet-intermediate``, ...)."""
    entry = get_arch(arch)
    return entry.cls(**{**entry.fixed, **kwargs})


__all__ = [
    "APEX_SPREAD_KEY",
    "MIRROR_KEY",
    "ARCHITECTURES",
    "ARCHS",
    "REGISTRY",
    "TEMPERATURE_KEY",
    "Architecture",
    "MicroExpFlowNet",
    "MicroExpFuseNet",
    "MicroExpFuseNetFlow",
    "MicroExpModel",
    "MicroExpSTCNN",
    "MicroExpSTCNNFlow",
    "MicroExpSTCNNMag",
    "MicroExpTwoStream",
    "accepts_regions",
    "build_model",
    "default_regions",
    "default_spec",
    "get_arch",
    "load_model",
    "read_config",
    "register_arch",
    "set_apex_spread",
    "set_mirror",
    "set_temperature",
    "unregister_arch",
]
