"""The paper's networks (and a two-stream variant), all Hub-native ``nn.Module`` classes."""

from .base import REGISTRY, MicroExpModel, load_model, read_config
from .fusenet import MicroExpFuseNet
from .stcnn import MicroExpSTCNN
from .twostream import MicroExpTwoStream

ARCHITECTURES = tuple(REGISTRY)


def default_regions(arch: str) -> tuple[str, ...]:
    """The crops an architecture takes by default: eyes + mouth for the FuseNets, the face otherwise."""
    if arch not in REGISTRY:
        raise ValueError(f"unknown architecture {arch!r}; choose from {ARCHITECTURES}")
    return ("eyes", "mouth") if arch.startswith("fusenet-") else ("face",)


def build_model(arch: str, **kwargs) -> MicroExpModel:
    """Instantiate an architecture by registry name (``stcnn``, ``fusenet-intermediate``, ...)."""
    if arch not in REGISTRY:
        raise ValueError(f"unknown architecture {arch!r}; choose from {ARCHITECTURES}")
    if arch.startswith("fusenet-"):
        kwargs.setdefault("fusion", arch.removeprefix("fusenet-"))
    return REGISTRY[arch](**kwargs)


__all__ = [
    "ARCHITECTURES",
    "REGISTRY",
    "MicroExpFuseNet",
    "MicroExpModel",
    "MicroExpSTCNN",
    "MicroExpTwoStream",
    "build_model",
    "default_regions",
    "load_model",
    "read_config",
]
