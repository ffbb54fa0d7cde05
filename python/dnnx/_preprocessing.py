"""Numeric preprocessing layers that are nodes of the C++ graph (so training stays in C++):
Normalization (statistics from ``adapt``, held as non-trainable weights) and
CategoryEncoding (int64 IDs to one-hot / multi-hot / counts). Their kernels are
``cpp/src/nn/layers/normalization.cpp`` and ``category_encoding.cpp``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._host import encoded_shape
from ._layer import Layer
from ._layer import declared_default as _d


class Normalization(Layer):
    """Feature-wise standardization: ``y = (x - mean) / max(sqrt(variance), 1e-7)``
    (``invert=True``: ``y = mean + x * max(sqrt(variance), 1e-7)``), as Keras computes it.

    Args:
        axis: the feature axis, -1 (the only one supported: one mean per feature).
        mean, variance: the statistics (scalars or one per feature) instead of ``adapt``.
        invert: apply the inverse transform.

    ``adapt(data)`` computes the mean and the (population) variance of each feature. Weights
    (non-trainable, Keras order): mean, variance.
    """

    type_name = "normalization"
    default_name = "normalization"

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = _d("normalization", "invert"),
                 name: Optional[str] = None, trainable: bool = True, input_shape=None, dtype=None):
        super().__init__(name, input_shape, trainable)
        if axis not in (-1, [-1], (-1,)):
            raise ValueError(f"Normalization: only axis=-1 (one mean and variance per feature) is supported. "
                             f"Received: axis={axis!r}")
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: pass both mean and variance, or neither (and call adapt). Received: "
                             f"mean={mean!r}, variance={variance!r}")
        if not isinstance(invert, bool):
            raise TypeError(f"Normalization: invert must be a bool. Received: invert={invert!r}")
        self.axis = -1
        self.invert = invert
        self.input_mean = None if mean is None else np.asarray(mean, np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, np.float64)
        if self.input_variance is not None and np.any(self.input_variance < 0):
            raise ValueError("Normalization: variance must be >= 0")
        self._stats = None  # (mean, variance) from adapt before the layer is in a model

    def compute_output_shape(self, input_shape):
        self._require_features_axis(input_shape)
        return input_shape

    def node_steps(self, input_shapes) -> int:
        return self._last_axis_steps(input_shapes[0])

    def _features(self) -> Optional[int]:
        return None if self._input_shapes is None else self._input_shapes[0][-1]

    @property
    def _initial_weights(self):
        """What the model copies in when it builds its network: the adapted or given statistics."""
        d = self._features()
        stats = self._stats
        if stats is None and self.input_mean is not None:
            stats = (self.input_mean, self.input_variance)
        if stats is None or d is None:
            return None
        try:
            return [np.broadcast_to(s, (d,)) for s in stats]
        except ValueError:
            raise ValueError(f"Normalization {self.name}: mean/variance of shape {np.shape(stats[0])} do not fit "
                             f"{d} features") from None

    @_initial_weights.setter
    def _initial_weights(self, value) -> None:
        pass  # the statistics stay available for other models the layer joins

    def adapt(self, data) -> None:
        """Compute each feature's mean and variance from ``data`` (n, ..., features)."""
        a = np.asarray(data, dtype=np.float64)
        if a.ndim == 1:
            a = a.reshape(-1, 1)
        if a.size == 0:
            raise ValueError("Normalization.adapt: data is empty")
        if not np.all(np.isfinite(a)):
            raise ValueError("Normalization.adapt: data holds NaN or infinite values")
        d = self._features()
        if d is not None and a.shape[-1] != d:
            raise ValueError(f"Normalization.adapt: the layer has {d} features; data has shape {a.shape}")
        a = a.reshape(-1, a.shape[-1])
        self._stats = (a.mean(axis=0), a.var(axis=0))
        self.input_mean = self.input_variance = None
        if self._owner() is not None:
            self.set_weights(self._initial_weights)

    @property
    def mean(self):
        """The mean in use (a view once the layer is in a model)."""
        views = self._views()
        return views[0] if views else None if self._stats is None else self._stats[0]

    @property
    def variance(self):
        views = self._views()
        return views[1] if views else None if self._stats is None else self._stats[1]

    def get_config(self) -> dict:
        c = super().get_config()

        def listed(v):
            return None if v is None else v.tolist()
        c.update({"axis": self.axis, "mean": listed(self.input_mean), "variance": listed(self.input_variance)})
        return c


class CategoryEncoding(Layer):
    """Encodes integer IDs in ``[0, num_tokens)`` (Keras ``layers.CategoryEncoding``):
    ``"one_hot"`` (one row of ``num_tokens`` per ID), ``"multi_hot"`` (default: a 1 for every
    ID a sample has) or ``"count"`` (how many times). An ID outside the range is a ValueError.

    Input: int64 IDs (an integer ``dnnx.Input``, or a StringLookup / IntegerLookup /
    Discretization output). Output: ``(batch, num_tokens)``, or ``(batch, k, num_tokens)``
    for one-hot on k > 1 IDs per sample.
    """

    type_name = "category_encoding"
    default_name = "category_encoding"

    def __init__(self, num_tokens: int = _d("category_encoding", "num_tokens"), output_mode: str = _d("category_encoding", "output_mode"),
                 sparse: bool = False, name: Optional[str] = None, trainable: bool = True, input_shape=None,
                 dtype=None):
        super().__init__(name, input_shape, trainable)
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer)) or num_tokens < 1:
            raise ValueError(f"CategoryEncoding: num_tokens must be a positive integer. Received: "
                             f"num_tokens={num_tokens!r}")
        modes = next(f["choices"] for f in self._config_fields() if f["key"] == "output_mode")
        if output_mode not in modes:
            raise ValueError(f"CategoryEncoding: output_mode must be one of {', '.join(map(repr, modes))}. Received: "
                             f"output_mode={output_mode!r}")
        if sparse:
            raise ValueError("CategoryEncoding: sparse=True is not supported by dnnx")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode

    reads_ids = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) > 2:
            raise ValueError(f"CategoryEncoding {self.name or ''}: expects IDs of shape (batch,) or (batch, k); "
                             f"received shape {input_shape}")
        return encoded_shape(input_shape, self.num_tokens, self.output_mode)

    def _output_dtype(self, tensors) -> str:
        return "float32"

    def get_config(self) -> dict:
        return {**super().get_config(), "sparse": False}
