"""``dnnx.ops``: Keras 3's ``keras.ops`` for MLP code.

On symbolic tensors (from ``dnnx.Input`` and layer calls) each op is recorded as a node
of the model's C++ graph, with its forward and gradient in C++, so a model built with ops
still trains whole epochs in C++. On NumPy arrays and Python scalars an op runs eagerly
and returns a NumPy array. Python's operators on tensors (``+ - * / ** @``, unary ``-``,
``abs``, ``x[:, i]``) are these ops.

Example:
    >>> x = dnnx.Input(shape=(8,))
    >>> h = layers.Dense(16)(x)
    >>> y = ops.relu(h) * 0.5 + ops.mean(h, axis=-1, keepdims=True)
    >>> model = dnnx.Model(x, layers.Dense(1)(y))
"""

from . import nn
from ._core_ops import (abs, absolute, add, amax, amin, cast, clip, concatenate, convert_to_tensor, divide, dot, equal,
                        exp, expand_dims, expm1, greater, greater_equal, less, less_equal, log, log1p, logical_and, logical_not, logical_or, logical_xor, log_softmax, logsumexp, matmul, max, maximum, mean,
                        min, minimum, multiply, negative, not_equal, one_hot, power, reciprocal, relu, reshape, shape, sigmoid,
                        sign, softmax, sqrt, square, squeeze, stack, subtract, sum, take, tanh, tensordot, transpose,
                        true_divide, where, _getitem)
from .nn import (elu, gelu, hard_sigmoid, hard_silu, leaky_relu, log_sigmoid, relu6, selu, silu, softplus,
                 softsign, swish)

__all__ = ["abs", "absolute", "add", "amax", "amin", "cast", "clip", "concatenate", "convert_to_tensor", "divide",
           "dot", "elu", "equal", "exp", "expand_dims", "expm1", "gelu", "greater", "greater_equal", "hard_sigmoid", "hard_silu", "leaky_relu", "less", "less_equal", "log", "logical_and", "logical_not", "logical_or", "logical_xor",
           "log1p", "log_sigmoid", "log_softmax", "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum",
           "multiply", "negative", "nn", "not_equal", "one_hot", "power", "reciprocal", "relu", "relu6", "reshape", "selu",
           "shape", "sigmoid", "sign", "silu", "softmax", "softplus", "softsign", "sqrt", "square", "squeeze",
           "stack", "subtract", "sum", "swish", "take", "tanh", "tensordot", "transpose", "true_divide", "where"]
