"""MicroExp: spontaneous facial micro-expression recognition from video (IJCNN 2019 3D-CNNs)."""

from .errors import MicroExpError
from .spec import InputSpec

__version__ = "0.1.0"
__all__ = ["InputSpec", "MicroExpError", "__version__"]
