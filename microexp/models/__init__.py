"""The paper's networks (and a two-stream variant), all Hub-native ``nn.Module`` classes.

:data:`ARCHS` is the one table of architectures: each entry names its class, the crops it takes
and the constructor arguments its name fixes, so no caller tests architecture names by prefix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..spec import InputSpec
from .base import REGISTRY, MicroExpModel, load_model, read_config
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


_ARCHS: dict[str, Architecture] = dict(
    {
        a.name: a
        for a in (
            Architecture("fusenet-intermediate", MicroExpFuseNet, ("eyes", "mouth"), {"fusion": "intermediate"}),
            Architecture("fusenet-late", MicroExpFuseNet, ("eyes", "mouth"), {"fusion": "late"}),
            Architecture("stcnn", MicroExpSTCNN, ("face",)),
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
    "register_arch",
    "unregister_arch",
]
