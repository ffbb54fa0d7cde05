"""Shape layers: Flatten, Reshape, GlobalAveragePooling1D and Identity.

All but the pooling keep each sample's features in place (C++ copies or aliases them);
only the Keras shape changes.
"""

from __future__ import annotations

import math
from typing import Optional

from ._layer import Layer


class _ShapeOnly(Layer):
    def __init__(self, name: Optional[str] = None, trainable: bool = True, input_shape=None):
        super().__init__(name, input_shape, trainable)

    @classmethod
    def _config_fields(cls) -> list:
        return []  # the declared fields (GlobalAveragePooling1D's steps) come from the input shape


class Identity(_ShapeOnly):
    """``y = x``."""

    type_name = default_name = "identity"


class Flatten(_ShapeOnly):
    """``(batch, d1, ..., dk) -> (batch, d1 * ... * dk)``."""

    type_name = default_name = "flatten"

    def __init__(self, data_format=None, name: Optional[str] = None, trainable: bool = True, input_shape=None):
        super().__init__(name, trainable, input_shape)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten: only data_format='channels_last' is supported. Received: "
                             f"data_format={data_format!r}")

    def compute_output_shape(self, input_shape):
        return (None, math.prod(input_shape[1:]))


class Reshape(_ShapeOnly):
    """``(batch, ...) -> (batch, *target_shape)``; one entry may be -1 (inferred)."""

    type_name = default_name = "reshape"

    def __init__(self, target_shape, name: Optional[str] = None, trainable: bool = True, input_shape=None):
        super().__init__(name, trainable, input_shape)
        ok = isinstance(target_shape, (tuple, list)) and all(
            isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1) for d in target_shape)
        if not ok or sum(d == -1 for d in target_shape) > 1:
            raise ValueError(f"Reshape: target_shape must be a tuple of positive integers with at most one -1. "
                             f"Received: target_shape={target_shape!r}")
        self.target_shape = tuple(target_shape)

    def compute_output_shape(self, input_shape):
        total = math.prod(input_shape[1:])
        known = math.prod(d for d in self.target_shape if d != -1)
        shape = self.target_shape
        if -1 in shape:
            if total % known:
                raise ValueError(f"Reshape {self.name or ''}: cannot reshape {input_shape} to {self.target_shape}")
            shape = tuple(total // known if d == -1 else d for d in shape)
        if math.prod(shape) != total:
            raise ValueError(f"Reshape {self.name or ''}: cannot reshape {input_shape} ({total} values per sample) "
                             f"to {self.target_shape} ({math.prod(shape)} values)")
        return (None, *shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}

    @classmethod
    def from_config(cls, c: dict) -> "Reshape":
        return cls(tuple(c["target_shape"]), name=c.get("name"), trainable=c.get("trainable", True))


class GlobalAveragePooling1D(_ShapeOnly):
    """``(batch, steps, features) -> (batch, features)``: the mean over the steps (e.g. a bag of
    embedded IDs). ``keepdims=True`` gives ``(batch, 1, features)``."""

    type_name = default_name = "global_average_pooling1d"

    def __init__(self, data_format=None, keepdims: bool = False, name: Optional[str] = None, trainable: bool = True,
                 input_shape=None):
        super().__init__(name, trainable, input_shape)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"GlobalAveragePooling1D: only data_format='channels_last' is supported. Received: "
                             f"data_format={data_format!r}")
        if not isinstance(keepdims, bool):
            raise TypeError(f"GlobalAveragePooling1D: keepdims must be a bool. Received: keepdims={keepdims!r}")
        self.keepdims = keepdims

    @property
    def steps(self) -> int:
        """The k of its (batch, k, features) input (the core's declared field)."""
        return self._input_shapes[0][1]

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"GlobalAveragePooling1D {self.name or ''}: expects 3-D input (batch, steps, "
                             f"features); received shape {input_shape}")
        return (None, 1, input_shape[2]) if self.keepdims else (None, input_shape[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "keepdims": self.keepdims}

    @classmethod
    def from_config(cls, c: dict) -> "GlobalAveragePooling1D":
        return cls(keepdims=c.get("keepdims", False), name=c.get("name"), trainable=c.get("trainable", True))
