"""Utilities: global seeding."""

from __future__ import annotations

import os
import random
from typing import Optional

import numpy as np

_state = {"seed": None, "counter": 0}


def set_random_seed(seed: int) -> None:
    """Seed dnnx (and Python's and NumPy's global RNGs, as Keras does).

    Models built afterwards draw their seeds from it in order, so a script that calls this
    first is bitwise reproducible for any thread count.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: seed must be a non-negative integer. Received: seed={seed!r}")
    _state["seed"] = int(seed)
    _state["counter"] = 0
    random.seed(int(seed))
    np.random.seed(int(seed) % (2**32))


def next_seed(explicit: Optional[int] = None) -> int:
    """Seed for a new model: the explicit one, the next from set_random_seed, or fresh entropy."""
    if explicit is not None:
        return int(explicit)
    if _state["seed"] is None:
        return int.from_bytes(os.urandom(8), "little") >> 1
    _state["counter"] += 1
    return (_state["seed"] * 1_000_003 + _state["counter"]) % (2**63)


def to_categorical(y, num_classes: Optional[int] = None, dtype="float32") -> np.ndarray:
    """One-hot encode integer labels: ``(n,)`` -> ``(n, num_classes)`` (Keras semantics)."""
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"to_categorical: y must be 1-D integer labels; received shape {a.shape}")
    if a.size and (not np.all(a == np.round(a)) or a.min() < 0):
        raise ValueError("to_categorical: y must hold non-negative integer labels")
    labels = a.astype(np.int64)
    n_cls = int(labels.max(initial=-1)) + 1 if num_classes is None else int(num_classes)
    if labels.size and labels.max() >= n_cls:
        raise ValueError(f"to_categorical: label {int(labels.max())} does not fit num_classes={n_cls}")
    out = np.zeros((labels.size, n_cls), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


from ._batches import PyDataset  # noqa: E402  (keras.utils.PyDataset)
