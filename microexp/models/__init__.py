"""The paper's networks (and a two-stream variant), all Hub-native ``nn.Module`` classes.

:data:`ARCHS` is the one table of architectures: each entry names its class, the crops it takes
and the constructor arguments its name fixes, so no caller tests architecture names by prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..spec import InputSpec
from .base import REGISTRY, MicroExpModel, load_model, read_config
from .flow import MicroExpFlowNet
from .fusenet import MicroExpFuseNet
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


ARCHS: Mapping[str, Architecture] = MappingProxyType(
    {
        a.name: a
        for a in (
            Architecture("fusenet-intermediate", MicroExpFuseNet, ("eyes", "mouth"), {"fusion": "intermediate"}),
            Architecture("fusenet-late", MicroExpFuseNet, ("eyes", "mouth"), {"fusion": "late"}),
            Architecture("flow", MicroExpFlowNet, ("face",), spec={"representation": "flow"}),
            Architecture("stcnn", MicroExpSTCNN, ("face",)),
            Architecture("twostream", MicroExpTwoStream, ("face",)),
        )
    }
)
# load_model's registry (filled by @register in each model module) and this table must agree
if set(ARCHS) != set(REGISTRY) or any(REGISTRY[n] is not a.cls for n, a in ARCHS.items()):
    raise RuntimeError(f"microexp.models.ARCHS {sorted(ARCHS)} and the @register names {sorted(REGISTRY)} differ")

ARCHITECTURES = tuple(ARCHS)


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
    return InputSpec(**{"regions": entry.regions, **entry.spec, **fields})


def build_model(arch: str, **kwargs: Any) -> MicroExpModel:
    """Instantiate an architecture by registry name (``stcnn``, ``fusenet-intermediate``, ...)."""
    entry = get_arch(arch)
    return entry.cls(**{**entry.fixed, **kwargs})


__all__ = [
    "ARCHITECTURES",
    "ARCHS",
    "REGISTRY",
    "Architecture",
    "MicroExpFlowNet",
    "MicroExpFuseNet",
    "MicroExpModel",
    "MicroExpSTCNN",
    "MicroExpTwoStream",
    "accepts_regions",
    "build_model",
    "default_regions",
    "default_spec",
    "get_arch",
    "load_model",
    "read_config",
]
