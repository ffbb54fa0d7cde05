"""Merge layers (Keras ``layers.merging``): called on a list of tensors.

Elementwise merges need equal shapes (no broadcasting); Concatenate joins along any axis
but the batch (C++ concatenates rows of ``prod(shape[axis:])`` values, ``prod(shape[1:axis])``
rows per sample).
"""

from __future__ import annotations

import math
from typing import List, Optional

from ._layer import Layer, Shape, declared_default


class _Merge(Layer):
    """Base of the elementwise merges: ``y = op(x_1, ..., x_n)`` for n >= 2 equal shapes."""

    takes_list = True
    min_inputs, max_inputs = 2, None

    def __init__(self, name: Optional[str] = None, trainable: bool = True, **kwargs):
        super().__init__(name, None, trainable)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(kwargs)}")

    def _check_count(self, shapes: List[Shape]) -> None:
        n = len(shapes)
        if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
            want = f"exactly {self.max_inputs}" if self.max_inputs == self.min_inputs else f"at least {self.min_inputs}"
            raise ValueError(f"{type(self).__name__} {self.name or ''}: needs {want} inputs; received {n} "
                             f"(shapes {shapes})")

    def compute_output_shape(self, input_shape):
        self._check_count(input_shape)
        first = input_shape[0]
        for s in input_shape[1:]:
            if s != first:
                raise ValueError(f"{type(self).__name__} {self.name or ''}: inputs must have equal shapes; "
                                 f"received {first} and {s}")
        return first

    def spec(self) -> dict:
        # No declared field is read from Python: a concatenation axis other than the last
        # one reaches the core as the node's steps (a flat concatenation of the samples).
        return {"type": self.type_name, "name": self.name}

    @classmethod
    def _config_fields(cls) -> list:
        return []  # the declared axis is the core's; Concatenate's Keras axis is its own


class Add(_Merge):
    """``y = x_1 + ... + x_n``."""

    type_name = default_name = "add"


class Subtract(_Merge):
    """``y = x_1 - x_2`` (exactly two inputs)."""

    type_name = default_name = "subtract"
    max_inputs = 2


class Multiply(_Merge):
    """``y = x_1 * ... * x_n`` (elementwise)."""

    type_name = default_name = "multiply"


class Average(_Merge):
    """``y = (x_1 + ... + x_n) / n``."""

    type_name = default_name = "average"


class Maximum(_Merge):
    """``y = max(x_1, ..., x_n)`` (elementwise)."""

    type_name = default_name = "maximum"


class Concatenate(_Merge):
    """Joins inputs along ``axis`` (default -1, the features). All other axes must match."""

    type_name = default_name = "concatenate"

    def __init__(self, axis: int = declared_default("concatenate", "axis"), name: Optional[str] = None,
                 trainable: bool = True):
        super().__init__(name, trainable)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise TypeError(f"Concatenate: axis must be an int. Received: axis={axis!r}")
        self.axis = axis

    def compute_output_shape(self, input_shape):
        self._check_count(input_shape)
        rank = len(input_shape[0])
        where = f"Concatenate {self.name or ''}".rstrip()
        if any(len(s) != rank for s in input_shape):
            raise ValueError(f"{where}: inputs must have the same rank; received shapes {input_shape}")
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(f"{where}: axis={self.axis} is out of range for inputs of shape {input_shape[0]} "
                             f"(axis 0 is the batch)")
        for s in input_shape[1:]:
            if s[:axis] + s[axis + 1:] != input_shape[0][:axis] + input_shape[0][axis + 1:]:
                raise ValueError(f"{where}: shapes must match except along axis {self.axis}; received "
                                 f"{input_shape[0]} and {s}")
        return (*input_shape[0][:axis], sum(s[axis] for s in input_shape), *input_shape[0][axis + 1:])

    def node_steps(self, input_shapes) -> int:
        # Along axis a, each sample is prod(shape[1:a]) rows of prod(shape[a:]) values, and
        # concatenating row by row is concatenating along a.
        rank = len(input_shapes[0])
        axis = self.axis + rank if self.axis < 0 else self.axis
        return int(math.prod(input_shapes[0][1:axis]))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}

    @classmethod
    def from_config(cls, c: dict) -> "Concatenate":
        return cls(axis=c.get("axis", -1), name=c.get("name"), trainable=c.get("trainable", True))
