"""The paper's networks (and a two-stream variant), all Hub-native ``nn.Module`` classes."""

from .base import REGISTRY, MicroExpModel, load_model, read_config
from .fusenet import MicroExpFuseNet
from .stcnn import MicroExpSTCNN
from .twostream import MicroExpTwoStream

ARCHITECTURES = tuple(REGISTRY)


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
    "load_model",
    "read_config",
]
