"""dnnx: fast CPU multilayer perceptrons with a Keras-style API and a C++ core."""

from . import _core
from ._core import __version__
from .config import get_num_threads, set_num_threads, show_config
from .linalg import matmul

__all__ = [
    "__version__",
    "get_num_threads",
    "matmul",
    "set_num_threads",
    "show_config",
]
