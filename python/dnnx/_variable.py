"""Weights a subclassed layer makes with ``Layer.add_weight`` (Keras's ``Variable``).

A ``Variable`` holds its values in NumPy until a traced ``call()`` uses it as an operand
of a ``dnnx.ops`` op (``ops.matmul(x, self.w)``, ``x * self.w + self.b``): that op node
then owns it as a parameter in the C++ network (cpp/src/nn/layers/ops.hpp), so fit
trains it whole epochs in C++ like a Dense kernel, and the variable reads and writes the
model's copy from then on. Each variable belongs to one op node (the ``holder``); the
same layer called again shares that node, and another op on the same variable (tied
weights) is refused, naming it.

Outside a trace a variable is an array: ``np.asarray(v)``, ``ops.matmul(a, v)`` and
``a @ v`` compute in NumPy. Inside a traced ``call()`` it can only be an op operand:
turning it into an array there would bake its current values into the graph as a
constant that never trains, so that raises.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

from ._tensor_ops import TensorOperators

_FLOAT_DTYPES = ("float32", "float64")


def tracing() -> bool:
    from ._subclass import tracing as active
    return active()


def _fans(shape) -> tuple:
    """Keras's fans of a weight of this shape (``compute_fans``)."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Variable(TensorOperators):
    """A weight of a layer (from ``add_weight``): ``shape``, ``dtype``, ``name``, ``path``,
    ``trainable``, ``numpy()``, ``assign(value)``, ``value``; an operand of ``dnnx.ops``
    and of Python's operators."""

    __array_priority__ = 100  # ndarray <op> variable defers to the variable's operators

    def __init__(self, owner, shape, initializer, dtype, trainable: bool, name: str, regularizer):
        from . import _core
        from .utils import next_seed
        self._owner = owner
        self.name = name
        self._trainable = trainable
        self.regularizer = regularizer
        self.initializer = initializer
        self._dtype = dtype
        fan_in, fan_out = _fans(shape)
        self._value = _core.initial_values(initializer.spec(), list(shape), max(int(fan_in), 1),
                                           max(int(fan_out), 1), dtype, next_seed(None))
        self._holder = None  # the op node (OpLayer) that owns it in the graph
        self._slot = 0  # its index among the holder's weights

    # -- what Keras's Variable shows -------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self._value.shape)

    @property
    def ndim(self) -> int:
        return self._value.ndim

    @property
    def dtype(self) -> str:
        """The dtype the values are held in: the model's once a model holds the variable."""
        view = self._view()
        return view.dtype.name

    @property
    def path(self) -> str:
        """``layer_name/variable_name`` (the layer's name once a model has named it)."""
        owner = self._owner.name if self._owner.name is not None else self._owner.default_name
        return f"{owner}/{self.name}"

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        raise AttributeError(f"variable {self.path!r}: trainable is fixed by add_weight (a non-trainable weight is "
                             f"laid out apart from the trainable ones in the network); freeze the layer with "
                             f"layer.trainable = False instead")

    @property
    def value(self) -> np.ndarray:
        return self.numpy()

    def numpy(self) -> np.ndarray:
        """A copy of the current values (the model's, once a model holds the variable)."""
        return self._view().copy()

    def assign(self, value) -> "Variable":
        """Set the values (shape must match); writes the model's copy once a model holds it."""
        a = np.asarray(value)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"variable {self.path!r}: assign takes numbers; received dtype {a.dtype}")
        if a.shape != self.shape:
            raise ValueError(f"variable {self.path!r}: assign expects shape {self.shape}; received {a.shape}")
        holder = self._holder
        if holder is not None and holder._owner() is not None:
            views = holder._views("assign", "write")
            views[self._slot][...] = a
            holder._owner()._weights_changed()
        else:
            self._value[...] = a
        return self

    def assign_add(self, delta) -> "Variable":
        return self.assign(self.numpy() + np.asarray(delta))

    def assign_sub(self, delta) -> "Variable":
        return self.assign(self.numpy() - np.asarray(delta))

    def _view(self) -> np.ndarray:
        """The live values: the holder's weight in its model, else the variable's own array."""
        holder = self._holder
        if holder is not None and holder._owner() is not None:
            return holder._views("weights", "read")[self._slot]
        return self._value

    def _trainable_flag(self) -> bool:
        holder = self._holder
        model = holder._owner() if holder is not None else None
        if model is not None and id(holder) in model._slices:
            first, _ = model._slices[id(holder)]
            return model._trainable_flags()[first + self._slot]
        return self._trainable and self._owner.trainable

    # -- NumPy interop (eager only) ------------------------------------------------------------
    def _array(self) -> np.ndarray:
        if tracing():
            raise TypeError(f"variable {self.path!r} is used as a NumPy array inside a traced call(): its current "
                            f"values would become a constant of the graph that never trains. Use it as an operand "
                            f"of dnnx.ops (ops.matmul(x, w), x * w + b, ops.where(...)) together with the layer's "
                            f"input tensors")
        return self._view()

    def __array__(self, dtype=None, copy=None):
        a = self._array()
        return a.astype(dtype) if dtype is not None else a.copy()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from ._layer import KerasTensor
        if any(isinstance(x, KerasTensor) for x in inputs):  # ndarray-style call with a tensor: the op
            from ._tensor_ops import ufunc_op
            op = ufunc_op(ufunc) if method == "__call__" and not kwargs else None
            if op is not None:
                return op(*inputs)
        args = [x._array() if isinstance(x, Variable) else x for x in inputs]
        return getattr(ufunc, method)(*args, **kwargs)

    def __getitem__(self, key):
        return self._array()[key]

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __bool__(self):
        raise TypeError(f"variable {self.path!r} has no truth value (a weight is an array); compare its numpy() "
                        f"values instead")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, trainable={self.trainable}>"


def keep_values(net, entries) -> None:
    """Copy each variable's values out of a network that is going away: ``entries`` are
    (variable, index into ``net.params()``)."""
    params = net.params()
    for var, i in entries:
        var._value[...] = params[i]


def make_variable(owner, shape, initializer, dtype, trainable, name, regularizer, constraint) -> Variable:
    """``Layer.add_weight``'s arguments checked (Keras 3 names and defaults)."""
    from . import initializers, regularizers
    who = f"{type(owner).__name__}.add_weight"
    if shape is None:
        shape = ()
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape):
        raise TypeError(f"{who}: shape must be a tuple of ints (use input_shape[-1] for the input's features). "
                        f"Received: shape={shape!r}")
    shape = tuple(int(d) for d in shape)
    if any(d < 1 for d in shape):
        raise ValueError(f"{who}: every dimension of shape must be a positive integer. Received: shape={shape!r}")
    if math.prod(shape) > 2**40:
        raise ValueError(f"{who}: shape {shape} is too large")
    if initializer is None:
        initializer = "glorot_uniform"
    if isinstance(initializer, str) or isinstance(initializer, initializers.Initializer):
        init = initializers.get(initializer)
    else:
        raise TypeError(f"{who}: initializer must be a name ('glorot_uniform', 'zeros', ...) or a "
                        f"dnnx.initializers object. Received: initializer={initializer!r}")
    if dtype is None:
        dtype = "float32"
    try:
        dt = np.dtype(dtype).name
    except TypeError:
        dt = None
    if dt not in _FLOAT_DTYPES:
        raise ValueError(f"{who}: dtype must be 'float32' or 'float64' (weights are floats). Received: "
                         f"dtype={dtype!r}")
    if not isinstance(trainable, bool):
        raise TypeError(f"{who}: trainable must be a bool. Received: trainable={trainable!r}")
    if name is None:
        name = "variable"
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"{who}: name must be a non-empty string without '/'. Received: name={name!r}")
    if constraint is not None:
        raise ValueError(f"{who}: constraint is not supported (dnnx's optimizers update weights in C++ with no "
                         f"projection step). Received: constraint={constraint!r}")
    reg = regularizers.get(regularizer)
    return Variable(owner, shape, init, dt, trainable, name, reg)
