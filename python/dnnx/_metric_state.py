"""The state of a custom (Python) metric: ``Metric.add_variable`` returns a
``MetricVariable``, a NumPy array with Keras's ``assign`` / ``assign_add`` /
``assign_sub``; arithmetic on it gives NumPy values, so ``update_state`` and ``result``
written with NumPy (or ``dnnx.ops``, eager on arrays) run as they do in Keras."""

from __future__ import annotations

from typing import Optional

import numpy as np


def initial_value(initializer, shape: tuple, dtype) -> np.ndarray:
    """A metric variable's start: "zeros", "ones", a number, a Zeros/Ones/Constant
    initializer, or a callable ``(shape, dtype) -> array``."""
    from . import initializers
    if isinstance(initializer, str):
        initializer = initializers.get(initializer)
    if isinstance(initializer, (int, float)) and not isinstance(initializer, bool):
        return np.full(shape, initializer, dtype)
    if isinstance(initializer, initializers.Initializer):
        cfg = initializer.get_config()
        if cfg["name"] in ("zeros", "ones", "constant"):
            return np.full(shape, 1.0 if cfg["name"] == "ones" else cfg["value"], dtype)
        raise ValueError(f"add_variable: a metric variable starts from 'zeros', 'ones', a constant or a callable; "
                         f"received initializer={initializer!r}")
    if callable(initializer):
        return np.array(initializer(shape, dtype), dtype=dtype).reshape(shape)
    raise TypeError(f"add_variable: initializer must be a name, a number, an Initializer or a callable. Received: "
                    f"initializer={initializer!r}")


class MetricVariable:
    """A metric's state variable (Keras: ``keras.Variable``, non-trainable)."""

    def __init__(self, value: np.ndarray, name: Optional[str]):
        self._value = value
        self._initial = value.copy()
        self.name = name
        self.trainable = False

    @property
    def value(self) -> np.ndarray:
        return self._value

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> str:
        return self._value.dtype.name

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def _coerce(self, value) -> np.ndarray:
        a = np.asarray(value, dtype=self._value.dtype)
        if a.shape != self._value.shape:
            try:
                a = np.broadcast_to(a, self._value.shape)
            except ValueError:
                raise ValueError(f"metric variable {self.name!r}: cannot assign a value of shape {a.shape} to a "
                                 f"variable of shape {self._value.shape}") from None
        return a

    def assign(self, value) -> "MetricVariable":
        self._value[...] = self._coerce(value)
        return self

    def assign_add(self, value) -> "MetricVariable":
        self._value[...] = self._value + self._coerce(value)
        return self

    def assign_sub(self, value) -> "MetricVariable":
        self._value[...] = self._value - self._coerce(value)
        return self

    def __array__(self, dtype=None, copy=None):
        return self._value.astype(dtype) if dtype is not None else (self._value.copy() if copy else self._value)

    def __float__(self) -> float:
        return float(self._value)

    def __repr__(self) -> str:
        return f"<MetricVariable name={self.name!r} shape={self.shape} value={self._value!r}>"


def _binary(op):
    def forward(self, other):
        return op(self._value, np.asarray(other))

    def reflected(self, other):
        return op(np.asarray(other), self._value)
    return forward, reflected


for _name, _op in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.true_divide),
                   ("floordiv", np.floor_divide), ("pow", np.power), ("mod", np.mod)):
    _f, _r = _binary(_op)
    setattr(MetricVariable, f"__{_name}__", _f)
    setattr(MetricVariable, f"__r{_name}__", _r)
for _name, _op in (("lt", np.less), ("le", np.less_equal), ("gt", np.greater), ("ge", np.greater_equal)):
    setattr(MetricVariable, f"__{_name}__", _binary(_op)[0])
MetricVariable.__neg__ = lambda self: -self._value
MetricVariable.__abs__ = lambda self: np.abs(self._value)
