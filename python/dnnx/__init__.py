"""dnnx: fast CPU multilayer perceptrons with a Keras-style API and a C++ core."""

from . import _core  # noqa: F401  (dnnx._core is part of the public surface)
from ._core import __version__
from . import (activations, callbacks, datasets, distributed, initializers, layers, losses, metrics, models, onnx,
               ops, optimizers, regularizers, saving, utils)
from .config import get_num_threads, set_num_threads, show_config
from .layers import Input
from .linalg import matmul
from .models import Model, Sequential
from .saving import load_model

__all__ = [
    "__version__", "activations", "callbacks", "datasets", "distributed", "get_num_threads", "initializers", "Input",
    "layers", "load_model", "losses", "matmul", "metrics", "Model", "models", "onnx", "ops", "optimizers", "regularizers",
    "Sequential", "set_num_threads", "show_config", "utils",
]
