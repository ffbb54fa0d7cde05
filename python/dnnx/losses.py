"""Losses (Keras 3 semantics): per-sample loss, then ``sum(sample_weight * loss) / batch``.

A softmax (sigmoid) output followed by a categorical (binary) cross-entropy is fused in C++
into one numerically stable op; ``from_logits=True`` takes raw scores instead.
"""

from __future__ import annotations

from . import _core, _registry
from ._registry import check_number

_DEFAULTS = _core._defaults()["losses"]  # LossSpec's member initializers (cpp/include/dnnx/losses.hpp)


class Loss:
    name = "loss"
    sparse = False

    def __init__(self, from_logits: bool = _DEFAULTS["from_logits"]):
        if not isinstance(from_logits, bool):
            raise TypeError(f"{type(self).__name__}: from_logits must be a bool. Received: from_logits={from_logits!r}")
        self.from_logits = from_logits

    def spec(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}

    def get_config(self) -> dict:
        return self.spec()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred)^2)`` over the last axis."""

    name = "mean_squared_error"

    def __init__(self):
        super().__init__(False)


class MeanAbsoluteError(Loss):
    """``mean(|y_true - y_pred|)`` over the last axis."""

    name = "mean_absolute_error"

    def __init__(self):
        super().__init__(False)


class Huber(Loss):
    """``0.5 e^2`` for ``|e| <= delta``, else ``delta (|e| - 0.5 delta)``; mean over the last axis."""

    name = "huber"

    def __init__(self, delta: float = _DEFAULTS["delta"]):
        super().__init__(False)
        self.delta = float(check_number("Huber", "delta", delta, low=0, low_open=True))

    def spec(self) -> dict:
        return {"name": self.name, "from_logits": False, "delta": self.delta}


class Poisson(Loss):
    """``mean(y_pred - y_true log(y_pred + 1e-7))`` over the last axis (Keras); with
    ``from_logits=True`` the output is the log rate ``z``: ``mean(exp(z) - y_true z)``."""

    name = "poisson"


class BinaryCrossentropy(Loss):
    """``-mean(y log p + (1 - y) log(1 - p))`` over the last axis."""

    name = "binary_crossentropy"


class CategoricalCrossentropy(Loss):
    """``-sum(y_true * log p)`` with one-hot (or soft) targets."""

    name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(Loss):
    """``-log p[label]`` with integer class labels."""

    name = "sparse_categorical_crossentropy"
    sparse = True


_TABLE = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "huber": Huber, "huber_loss": Huber,
    "poisson": Poisson,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier) -> Loss:
    return _registry.get("loss", _TABLE, Loss, identifier)


def deserialize(config: dict) -> Loss:
    cls = _registry.config_class("loss", _TABLE, config)
    if cls is Huber:
        return Huber(config.get("delta", _DEFAULTS["delta"]))
    if cls in (MeanSquaredError, MeanAbsoluteError):
        return cls()
    return cls(from_logits=bool(config.get("from_logits", _DEFAULTS["from_logits"])))
