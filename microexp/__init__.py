"""MicroExp: spontaneous facial micro-expression recognition from video (IJCNN 2019 3D-CNNs)."""

from .errors import MicroExpError
from .spec import InputSpec

__version__ = "0.1.0"
__all__ = ["InputSpec", "MicroExpError", "Prediction", "Predictor", "__version__"]

_LAZY = {"Predictor": "pipeline", "Prediction": "pipeline"}  # torch/mediapipe load only when used


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
