"""Losses (Keras 3 semantics): per-sample loss, then ``sum(sample_weight * loss) / batch``.

A softmax (sigmoid) output followed by a categorical (binary) cross-entropy is fused in C++
into one numerically stable op; ``from_logits=True`` takes raw scores instead.
"""

from __future__ import annotations

from . import _core, _registry
from ._registry import check_number

_DEFAULTS = _core._defaults()["losses"]  # LossSpec's member initializers (cpp/include/dnnx/losses.hpp)


_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight")


class Loss:
    """Base of every loss. Subclass it (Keras 3) with ``call(y_true, y_pred)`` written in
    ``dnnx.ops``, returning per-sample values (or a scalar): compile traces it once on
    symbolic tensors into C++ graph nodes, so fit stays in C++ (see ``dnnx._loss_terms``).

    Args:
        name: the loss's name (default: the class name in snake case).
        reduction: ``"sum_over_batch_size"`` (default: the mean over every value),
            ``"sum"``, ``"mean"`` (the same as the default) or ``"mean_with_sample_weight"``.
        dtype: accepted for Keras compatibility (the model's dtype is used).

    Example:
        >>> class Tilted(dnnx.losses.Loss):
        ...     def call(self, y_true, y_pred):
        ...         e = y_true - y_pred
        ...         return ops.mean(ops.maximum(0.9 * e, -0.1 * e), axis=-1)
        >>> model.compile("sgd", loss=Tilted(name="pinball"))
    """

    sparse = False
    from_logits = False

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string. Received: name={name!r}")
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of {list(_REDUCTIONS)} (a loss for "
                             f"compile must reduce). Received: reduction={reduction!r}")
        if name is not None:
            self.name = name
        elif "name" not in type(self).__dict__:
            self.name = "".join("_" + c.lower() if c.isupper() else c for c in type(self).__name__).lstrip("_")
        self.reduction = reduction
        self.dtype = dtype

    #: True for losses traced from dnnx.ops into graph nodes (user subclasses, functions);
    #: the built-in losses run as one fused C++ loss instead.
    traced = True

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__}: a Loss subclass must implement call(y_true, y_pred)")

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Eager: the reduced loss of NumPy arrays (Keras's Loss.__call__)."""
        import numpy as np
        v = np.asarray(self.call(np.asarray(y_true), np.asarray(y_pred)), dtype=np.float64)
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if v.ndim == w.ndim + 1 and v.shape[-1] == 1:
                w = w[..., None]
            v = v * w
        if v.ndim == 0:
            return v
        total = v.sum()
        if self.reduction == "sum":
            return total
        if self.reduction == "mean_with_sample_weight" and sample_weight is not None:
            s = np.sum(sample_weight)
            return total / s if s else np.float64(0)
        return total / v.size

    def spec(self) -> dict:
        raise ValueError(f"the loss {self.name!r} is traced into graph nodes; it has no single core loss")

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, reduction={self.reduction!r})"


class LossFunctionWrapper(Loss):
    """A loss from a function ``fn(y_true, y_pred, **kwargs)`` written in dnnx.ops
    (``compile(loss=fn)`` wraps it so; the name defaults to the function's)."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper: fn must be callable; received {fn!r}")
        super().__init__(name or getattr(fn, "__name__", "loss"), reduction, dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, "fn": getattr(self.fn, "__name__", None)}


class _BuiltinLoss(Loss):
    """A loss the core computes itself (one fused C++ pass)."""

    name = "loss"
    traced = False
    reduction = "sum_over_batch_size"

    def __init__(self, from_logits: bool = _DEFAULTS["from_logits"]):
        if not isinstance(from_logits, bool):
            raise TypeError(f"{type(self).__name__}: from_logits must be a bool. Received: from_logits={from_logits!r}")
        self.from_logits = from_logits

    def spec(self) -> dict:
        return {"name": self.name, "from_logits": self.from_logits}

    def get_config(self) -> dict:
        return self.spec()

    def __call__(self, y_true, y_pred, sample_weight=None):
        raise TypeError(f"{type(self).__name__} runs inside a compiled model's C++ step; to evaluate it on arrays, "
                        f"compile a model with it and call evaluate")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from_logits={self.from_logits})"


class MeanSquaredError(_BuiltinLoss):
    """``mean((y_true - y_pred)^2)`` over the last axis."""

    name = "mean_squared_error"

    def __init__(self):
        super().__init__(False)


class MeanAbsoluteError(_BuiltinLoss):
    """``mean(|y_true - y_pred|)`` over the last axis."""

    name = "mean_absolute_error"

    def __init__(self):
        super().__init__(False)


class Huber(_BuiltinLoss):
    """``0.5 e^2`` for ``|e| <= delta``, else ``delta (|e| - 0.5 delta)``; mean over the last axis."""

    name = "huber"

    def __init__(self, delta: float = _DEFAULTS["delta"]):
        super().__init__(False)
        self.delta = float(check_number("Huber", "delta", delta, low=0, low_open=True))

    def spec(self) -> dict:
        return {"name": self.name, "from_logits": False, "delta": self.delta}


class Poisson(_BuiltinLoss):
    """``mean(y_pred - y_true log(y_pred + 1e-7))`` over the last axis (Keras); with
    ``from_logits=True`` the output is the log rate ``z``: ``mean(exp(z) - y_true z)``."""

    name = "poisson"


class BinaryCrossentropy(_BuiltinLoss):
    """``-mean(y log p + (1 - y) log(1 - p))`` over the last axis."""

    name = "binary_crossentropy"


class CategoricalCrossentropy(_BuiltinLoss):
    """``-sum(y_true * log p)`` with one-hot (or soft) targets."""

    name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_BuiltinLoss):
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
    """A loss by name, a Loss instance, or a function ``fn(y_true, y_pred)`` (wrapped in
    LossFunctionWrapper and traced from dnnx.ops)."""
    if callable(identifier) and not isinstance(identifier, (Loss, str, type)):
        return LossFunctionWrapper(identifier)
    return _registry.get("loss", _TABLE, Loss, identifier)


def deserialize(config: dict) -> Loss:
    cls = _registry.config_class("loss", _TABLE, config)
    if cls is Huber:
        return Huber(config.get("delta", _DEFAULTS["delta"]))
    if cls in (MeanSquaredError, MeanAbsoluteError):
        return cls()
    return cls(from_logits=bool(config.get("from_logits", _DEFAULTS["from_logits"])))
