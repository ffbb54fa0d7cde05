"""Learning-rate schedules: ``lr = schedule(step)``, evaluated for a whole epoch at once.

``__call__`` accepts a scalar step or a NumPy array of steps, so ``fit`` hands C++ one
learning rate per step without a Python call per batch.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .._registry import check_number


class LearningRateSchedule:
    def __call__(self, step):
        raise NotImplementedError

    def get_config(self) -> dict:
        raise NotImplementedError

    def _out(self, step, value):
        return float(value) if np.ndim(step) == 0 else np.asarray(value, np.float64)


class ExponentialDecay(LearningRateSchedule):
    """``lr = initial * decay_rate ^ (step / decay_steps)`` (floored with ``staircase``)."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float, staircase: bool = False):
        self.initial_learning_rate = float(check_number("ExponentialDecay", "initial_learning_rate",
                                                        initial_learning_rate, low=0))
        self.decay_steps = int(check_number("ExponentialDecay", "decay_steps", decay_steps, low=0, low_open=True))
        self.decay_rate = float(check_number("ExponentialDecay", "decay_rate", decay_rate, low=0))
        self.staircase = bool(staircase)

    def __call__(self, step):
        p = np.asarray(step, np.float64) / self.decay_steps
        if self.staircase:
            p = np.floor(p)
        return self._out(step, self.initial_learning_rate * np.power(self.decay_rate, p))

    def get_config(self) -> dict:
        return {"class": "ExponentialDecay", "initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate, "staircase": self.staircase}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]`` (Keras convention)."""

    def __init__(self, boundaries: Sequence[float], values: Sequence[float]):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"PiecewiseConstantDecay: len(values) must be len(boundaries) + 1. Received: "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        if any(b2 <= b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase. Received: boundaries={boundaries}")
        self.boundaries = [float(b) for b in boundaries]
        self.values = [float(v) for v in values]

    def __call__(self, step):
        s = np.asarray(step, np.float64)
        idx = np.searchsorted(np.asarray(self.boundaries), s, side="left")
        return self._out(step, np.asarray(self.values)[idx])

    def get_config(self) -> dict:
        return {"class": "PiecewiseConstantDecay", "boundaries": self.boundaries, "values": self.values}


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup to ``warmup_target``, then cosine decay to ``alpha * peak``.

    ``lr = peak * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)``.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 warmup_target=None, warmup_steps: int = 0):
        self.initial_learning_rate = float(check_number("CosineDecay", "initial_learning_rate",
                                                        initial_learning_rate, low=0))
        self.decay_steps = int(check_number("CosineDecay", "decay_steps", decay_steps, low=0, low_open=True,
                                            integer=True))
        self.alpha = float(check_number("CosineDecay", "alpha", alpha, low=0, high=1))
        self.warmup_target = None if warmup_target is None else float(
            check_number("CosineDecay", "warmup_target", warmup_target, low=0))
        self.warmup_steps = int(check_number("CosineDecay", "warmup_steps", warmup_steps, low=0, integer=True))

    def __call__(self, step):
        s = np.asarray(step, np.float64)
        peak = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        t = np.clip(s - self.warmup_steps, 0, self.decay_steps)
        decayed = peak * ((1 - self.alpha) * 0.5 * (1 + np.cos(math.pi * t / self.decay_steps)) + self.alpha)
        if self.warmup_target is not None and self.warmup_steps > 0:
            frac = np.clip(s / self.warmup_steps, 0, 1)
            warm = self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * frac
            decayed = np.where(s < self.warmup_steps, warm, decayed)
        return self._out(step, decayed)

    def get_config(self) -> dict:
        return {"class": "CosineDecay", "initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_CLASSES = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay)}


def deserialize(config: dict) -> LearningRateSchedule:
    if not isinstance(config, dict) or config.get("class") not in _CLASSES:
        raise ValueError(f"invalid learning-rate schedule config: {config!r}")
    kw = {k: v for k, v in config.items() if k != "class"}
    return _CLASSES[config["class"]](**kw)
