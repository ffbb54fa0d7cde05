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
