"""``dnnx.ops.nn``: Keras 3's ``keras.ops.nn`` activations and one_hot, on symbolic tensors
(recorded as graph nodes with C++ gradients) and on NumPy arrays (eager).

Most map onto the core's fused activation kernels along the last axis; the rest are
compositions of ops (each a node): relu6, log_sigmoid, hard_silu, gelu(approximate=True).
"""

from __future__ import annotations

import numpy as np
from math import erf as _erf

from . import _core_ops as _o
from ._core_ops import log_softmax, one_hot, relu, sigmoid, softmax, tanh

_SQRT_2_PI = float(np.sqrt(2.0 / np.pi))


def _act(name: str, eager, alpha=None):
    def f(x):
        if not _o._sym(x):
            return np.asarray(eager(np.asarray(x)))
        return _o._activation(name, x, alpha=alpha)
    f.__name__ = name
    return f


def softplus(x):
    """``log(1 + exp(x))``."""
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(np.logaddexp(0, x))
    return _o._activation("softplus", x)


def softsign(x):
    """``x / (1 + |x|)``."""
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(x / (1 + np.abs(x)))
    return _o._activation("softsign", x)


def silu(x):
    """``x * sigmoid(x)``."""
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(x * _o._sigmoid_np(x))
    return _o._activation("silu", x)


swish = silu


def elu(x, alpha=1.0):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))))
    return _o._activation("elu", x, alpha=alpha)


def selu(x):
    """Scaled ELU (Klambauer et al., 2017)."""
    a, s = 1.6732632423543772, 1.0507009873554805
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(s * np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))))
    return _o._activation("selu", x)


def leaky_relu(x, negative_slope=0.2):
    """``x`` for x >= 0, ``negative_slope * x`` otherwise."""
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(np.where(x >= 0, x, negative_slope * x))
    return _o._activation("leaky_relu", x, alpha=negative_slope)


def hard_sigmoid(x):
    """``relu6(x + 3) / 6`` (Keras 3)."""
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(np.clip(x + 3, 0, 6) / 6)
    return _o._activation("hard_sigmoid", x)


def hard_silu(x):
    """``x * hard_sigmoid(x)``."""
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(x * hard_sigmoid(x))
    return _o.multiply(x, hard_sigmoid(x))


hard_swish = hard_silu


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return _o.clip(x, 0.0, 6.0) if _o._sym(x) else np.asarray(np.clip(np.asarray(x), 0, 6))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``."""
    if not _o._sym(x):
        x = np.asarray(x)
        return np.asarray(-np.logaddexp(0, -x))
    return _o.negative(softplus(_o.negative(x)))


def gelu(x, approximate=True):
    """Gaussian error linear unit: ``x * Phi(x)`` (approximate=False, erf) or Keras's
    default tanh form ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""
    if not _o._sym(x):
        x = np.asarray(x)
        if approximate:
            return np.asarray(0.5 * x * (1 + np.tanh(_SQRT_2_PI * (x + 0.044715 * x ** 3))))
        return np.asarray(0.5 * x * (1 + np.vectorize(_erf)(x / np.sqrt(2.0))).astype(x.dtype))
    if not approximate:
        return _o._activation("gelu", x)
    inner = _o.multiply(_o.add(x, _o.multiply(_o.power(x, 3.0), 0.044715)), _SQRT_2_PI)
    return _o.multiply(_o.multiply(x, 0.5), _o.add(tanh(inner), 1.0))


__all__ = ["elu", "gelu", "hard_sigmoid", "hard_silu", "hard_swish", "leaky_relu", "log_sigmoid", "log_softmax",
           "one_hot", "relu", "relu6", "selu", "sigmoid", "silu", "softmax", "softplus", "softsign", "swish",
           "tanh"]
