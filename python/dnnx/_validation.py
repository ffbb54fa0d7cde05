"""The one place user data is converted: lists, ints, float64 and strided arrays are accepted
and converted once, up front, to C-contiguous arrays of the model dtype."""

from __future__ import annotations

from typing import Optional

import numpy as np

_check_finite = False  # dnnx.config.set_check_finite


def set_check_finite(enabled: bool) -> None:
    global _check_finite
    if not isinstance(enabled, bool):
        raise TypeError(f"set_check_finite: enabled must be a bool; received {enabled!r}")
    _check_finite = enabled


def checks_finite() -> bool:
    return _check_finite


def finite(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` unchanged; with ``set_check_finite(True)`` a ValueError if it holds NaN or inf."""
    if _check_finite and a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
        bad = ~np.isfinite(a)
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} contains {int(bad.sum())} non-finite value(s) (NaN or inf); the first is "
                         f"{name}[{', '.join(map(str, first))}] = {a[first]!r}. Clean the data, or call "
                         f"dnnx.config.set_check_finite(False) to let NaN/inf propagate (Keras behaviour)")
    return a


def _as_array(x, name: str) -> np.ndarray:
    if isinstance(x, np.ndarray):
        a = x
    else:
        try:
            a = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise TypeError(f"{name} must be array-like (a NumPy array or nested lists of numbers); "
                            f"received {type(x).__name__}: {e}") from None
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{name} must hold real numbers (a float or int dtype); received dtype {a.dtype}")
    return a


def features(x, dtype: np.dtype, name: str = "x", n_features: Optional[int] = None) -> np.ndarray:
    """(n, features) C-contiguous array of ``dtype``."""
    a = _as_array(x, name)
    if a.ndim != 2:
        expected = f"(n, {n_features})" if n_features else "(n, features)"
        raise ValueError(f"{name} must be 2-D with shape {expected}; received shape {a.shape}")
    if n_features is not None and a.shape[1] != n_features:
        raise ValueError(f"{name} must have shape (n, {n_features}) (the model's input features); "
                         f"received shape {a.shape}")
    return np.ascontiguousarray(a, dtype=dtype)


def targets(y, dtype: np.dtype, n: int, output_dim: int, sparse: bool, name: str = "y") -> np.ndarray:
    """(n, output_dim) targets, or (n, 1) class indices for sparse losses."""
    a = _as_array(y, name)
    if a.shape[:1] != (n,):
        raise ValueError(f"{name} must have {n} rows (one per sample of x); received shape {a.shape}")
    if sparse:
        if a.ndim == 2 and a.shape[1] == 1:
            a = a[:, 0]
        if a.ndim != 1:
            raise ValueError(f"{name} must hold integer class labels with shape ({n},) for a sparse loss; "
                             f"received shape {a.shape}")
        if a.size:
            if np.issubdtype(a.dtype, np.floating) and not np.all(np.isfinite(a) & (a == np.round(a))):
                raise ValueError(f"{name} must hold integer class labels for a sparse loss")
            lo, hi = a.min(), a.max()
            if lo < 0 or hi >= output_dim:
                raise ValueError(f"{name} holds class labels in [{int(lo)}, {int(hi)}] but the model outputs "
                                 f"{output_dim} classes (labels must be in [0, {output_dim - 1}])")
        return np.ascontiguousarray(a.reshape(n, 1), dtype=dtype)
    if a.ndim == 1 and output_dim == 1:
        a = a.reshape(n, 1)
    if a.ndim != 2 or a.shape[1] != output_dim:
        hint = " (for integer labels use loss='sparse_categorical_crossentropy')" if a.ndim == 1 else ""
        raise ValueError(f"{name} must have shape ({n}, {output_dim}) to match the model output; "
                         f"received shape {a.shape}{hint}")
    return np.ascontiguousarray(a, dtype=dtype)


def sample_weights(sw, dtype: np.dtype, n: int, name: str = "sample_weight") -> Optional[np.ndarray]:
    if sw is None:
        return None
    a = _as_array(sw, name)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},); received shape {a.shape}")
    if a.size and (not np.all(np.isfinite(a)) or a.min() < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return np.ascontiguousarray(a, dtype=dtype)


def class_weights(class_weight, y: np.ndarray, sparse: bool, output_dim: int, dtype) -> np.ndarray:
    """Per-sample weights from ``{class: weight}`` (class = label, or argmax of one-hot rows)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class_index: weight}}; received {type(class_weight).__name__}")
    if sparse or output_dim == 1:
        labels = np.rint(y[:, 0]).astype(np.int64) if sparse else (y[:, 0] > 0.5).astype(np.int64)
    else:
        labels = np.argmax(y, axis=1)
    table = np.ones(max(int(labels.max(initial=0)) + 1, max(class_weight, default=0) + 1, output_dim))
    for k, v in class_weight.items():
        if not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"class_weight keys must be non-negative class indices; received {k!r}")
        table[k] = float(v)
    return table[labels].astype(dtype)


def positive_int(value, name: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer. Received: {name}={value!r}")
    if value > 2**62:
        raise ValueError(f"{owner}: {name} must be a positive integer (at most 2**62). Received: {name}={value!r}")
    return int(value)


def ids(a: np.ndarray, name: str, input_name: str) -> np.ndarray:
    """(n, k) C-contiguous int64 IDs for an integer input: exact, never through a float."""
    if not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} feeds the integer input {input_name!r}: IDs must be an integer array (int64); "
                        f"received dtype {a.dtype} (convert with .astype('int64') if the values are whole)")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name} holds IDs above the int64 range (max {int(a.max())})")
    return np.ascontiguousarray(a, dtype=np.int64)
