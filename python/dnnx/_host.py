"""Host-stage preprocessing layers: lookups and bucketing that run in NumPy, vectorized,
before the C++ network is called.

The C++ graph carries float tensors between nodes and reads int64 IDs only at its inputs,
and it cannot hold strings at all. A layer that turns raw values (strings, arbitrary
integers, floats to buckets) into indices therefore runs here: it must be applied to a
model input (``dnnx.Input``), and its output becomes one of the network's inputs (int64
indices for ``output_mode="int"``, float encodings otherwise), which Embedding,
CategoryEncoding, Dense, ... then read inside the network. The layer's state (a vocabulary,
bin boundaries) is plain data in its config, so it is saved in the model file's JSON and
loading runs no code.

Fit and evaluate apply the host stage once to the whole arrays, then train in C++ as usual.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._layer import InputLayer, KerasTensor, Layer

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


def check_output_mode(owner: str, output_mode) -> str:
    if output_mode == "tf_idf":
        raise ValueError(f"{owner}: output_mode='tf_idf' is not supported by dnnx; use 'int', 'one_hot', "
                         f"'multi_hot' or 'count'")
    if output_mode not in OUTPUT_MODES:
        raise ValueError(f"{owner}: output_mode must be one of {', '.join(map(repr, OUTPUT_MODES))}. "
                         f"Received: output_mode={output_mode!r}")
    return output_mode


def encoded_shape(input_shape, depth: int, output_mode: str):
    """Keras's output shape of an index encoding (CategoryEncoding / lookups / Discretization)."""
    shape = tuple(input_shape)
    if output_mode == "int":
        return shape
    if output_mode == "one_hot":
        if len(shape) > 1 and shape[-1] == 1:
            return (*shape[:-1], depth)
        return (*shape, depth)
    return (shape[0], *shape[2:], depth) if len(shape) >= 2 else (shape[0], depth)


def encode(idx: np.ndarray, depth: int, output_mode: str, dtype) -> np.ndarray:
    """Indices ``(n, k)`` (negative = dropped, e.g. a mask token) as one-hot ``(n, k*depth)``
    (``(n, depth)`` for k = 1), multi-hot or counts ``(n, depth)``."""
    n, k = idx.shape
    keep = idx >= 0
    if output_mode == "one_hot":
        out = np.zeros((n * k, depth), dtype)
        flat = idx.reshape(-1)
        rows = np.flatnonzero(keep.reshape(-1))
        out[rows, flat[rows]] = 1
        return out.reshape(n, k * depth)
    rows = np.repeat(np.arange(n), k)[keep.reshape(-1)]
    cols = idx.reshape(-1)[keep.reshape(-1)]
    if output_mode == "multi_hot":
        out = np.zeros((n, depth), dtype)
        out[rows, cols] = 1
        return out
    return np.bincount(rows * depth + cols, minlength=n * depth).reshape(n, depth).astype(dtype)


class HostLayer(Layer):
    """Base of the layers that run in NumPy ahead of the network (see the module docstring).

    Subclasses implement ``_indices(x)`` (raw ``(n, k)`` array -> int64 indices, negative
    for a dropped value), ``depth`` (the encoding width) and ``input_kind``.
    """

    host = True
    input_kind = "float"  # "string", "int" or "float": what the model input must hold
    output_mode = "int"

    def __call__(self, inputs):
        t = inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs
        if isinstance(t, KerasTensor):
            src = t._keras_history[0]
            owner = f"{type(self).__name__} {self.name or ''}".rstrip()
            if not isinstance(src, InputLayer):
                raise ValueError(f"{owner}: a preprocessing layer that computes indices runs in NumPy before the "
                                 f"network, so it must be applied to a model input (dnnx.Input); received the "
                                 f"output of layer {src.name!r}")
            kind = "string" if t.dtype == "string" else "int" if np.dtype(t.dtype).kind in "iu" else "float"
            if kind != self.input_kind:
                want = {"string": "dtype='string'", "int": "an integer dtype ('int64')",
                        "float": "a float dtype"}[self.input_kind]
                raise TypeError(f"{owner}: expects an input of {want}; received {t!r}")
        return super().__call__(inputs)

    def _takes_ints(self) -> bool:
        return True

    def _output_dtype(self, tensors) -> str:
        return "int64" if self.output_mode == "int" else "float32"

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.depth, self.output_mode)

    @property
    def depth(self) -> int:
        raise NotImplementedError

    def _indices(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def host_call(self, x: np.ndarray, dtype=np.float32) -> np.ndarray:
        """This layer on a raw ``(n, k)`` array: ``(n, width)`` int64 indices or ``dtype`` encodings."""
        idx = self._indices(x)
        if self.output_mode == "int":
            return np.ascontiguousarray(idx, dtype=np.int64)
        return encode(idx, self.depth, self.output_mode, dtype)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name} output_mode={self.output_mode!r}>"


def string_array(value, name: str) -> np.ndarray:
    """A string column as a NumPy unicode array (bytes decoded as UTF-8; other objects
    through ``str``)."""
    a = np.asarray(value)
    if a.dtype.kind == "U":
        return a
    if a.dtype.kind == "S":
        return np.char.decode(a, "utf-8")
    if a.dtype.kind == "O":
        return a.astype(str)
    raise TypeError(f"{name} feeds a string input: expected an array of strings; received dtype {a.dtype}")


def optional_positive(owner: str, name: str, value, low: int = 1) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{owner}: {name} must be None or an integer >= {low}. Received: {name}={value!r}")
    return int(value)
