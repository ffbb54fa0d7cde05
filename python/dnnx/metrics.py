"""Metrics, computed in C++ during the epoch (sample-weighted, as Keras does).

``"accuracy"`` resolves from the loss like Keras: sparse categorical with sparse labels,
categorical with one-hot targets, binary for a single sigmoid output.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _core, _registry
from ._registry import check_number, lookup

# The defaults are C++'s (MetricSpec in cpp/include/dnnx/metrics.hpp), read once.
_DEFAULTS = _core._defaults()["metrics"]


class Metric:
    """A metric. dnnx's own (``Accuracy``, ``AUC``, ...) run in C++ inside the training step.

    A subclass that writes ``update_state(y_true, y_pred, sample_weight=None)`` and
    ``result()`` (state from ``add_variable``) is a custom metric, as in Keras: its state
    is reset at the start of every epoch (and evaluate), ``update_state`` sees every batch
    in order (``y_true`` as the model's float targets ``(batch, columns)``, ``y_pred`` the
    step's outputs: during fit those of the training forward pass, before that step's
    update), and ``result()`` goes into the logs. fit records each step's outputs in C++
    and updates the metric from them after the epoch (or at the batch callbacks that ask
    for logs), so the C++ epoch still runs with no Python per step. ``sample_weight`` is
    passed to ``weighted_metrics`` only.
    """

    kind = "metric"

    def __init__(self, name: Optional[str] = None, dtype=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string. Received: name={name!r}")
        if is_python(self) and name is None:
            from ._subclass import snake_case
            name = snake_case(type(self).__name__)
        self.name = name or self.kind
        self.dtype = "float32" if dtype is None else np.dtype(dtype).name
        self._variables: list = []

    _params: tuple = ()  # constructor arguments carried in spec() and serialize()

    # -- custom metrics (Keras's Metric API) ------------------------------------------------
    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state variable (a NumPy array with ``assign``, ``assign_add``, ``assign_sub``)."""
        from ._metric_state import MetricVariable, initial_value
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        v = MetricVariable(initial_value(initializer, shape, np.dtype(dtype or self.dtype)), name)
        self.__dict__.setdefault("_variables", []).append(v)
        return v

    def add_weight(self, shape=(), initializer="zeros", dtype=None, name=None):
        """Keras's older name for ``add_variable``."""
        return self.add_variable(shape, initializer, dtype, name=name)

    @property
    def variables(self) -> list:
        return list(self.__dict__.get("_variables", []))

    def update_state(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError(f"{type(self).__name__} is computed in C++; subclass Metric and write "
                                  f"update_state for a custom metric")

    def result(self):
        raise NotImplementedError(f"{type(self).__name__}.result: write result() for a custom metric")

    def reset_state(self) -> None:
        """Every state variable back to zero (Keras)."""
        for v in self.variables:
            v.assign(np.zeros(v.shape, v.dtype))

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Keras: update with one batch and return the result."""
        self.update_state(y_true, y_pred, sample_weight=sample_weight)
        return self.result()

    def spec(self, key: str) -> dict:
        d = {"name": self.kind, "key": key, **_DEFAULTS}
        for p in self._params:
            d[p] = getattr(self, p)
        return d

    def get_config(self) -> dict:
        if is_python(self):  # Keras: name and dtype (a subclass adds its own arguments)
            return {"name": self.name, "dtype": self.dtype}
        return {"class": type(self).__name__, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """Resolved from the loss (binary / categorical / sparse categorical)."""

    kind = "accuracy"


class BinaryAccuracy(Metric):
    kind = "binary_accuracy"

    _params = ("threshold",)

    def __init__(self, name: Optional[str] = None, threshold: float = _DEFAULTS["threshold"]):
        super().__init__(name)
        self.threshold = float(check_number("BinaryAccuracy", "threshold", threshold, low=0, high=1))


class CategoricalAccuracy(Metric):
    kind = "categorical_accuracy"


class SparseCategoricalAccuracy(Metric):
    kind = "sparse_categorical_accuracy"


class TopKCategoricalAccuracy(Metric):
    kind = "top_k_categorical_accuracy"

    _params = ("k",)

    def __init__(self, k: int = _DEFAULTS["k"], name: Optional[str] = None):
        super().__init__(name)
        self.k = int(check_number(type(self).__name__, "k", k, low=1, integer=True))


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    kind = "sparse_top_k_categorical_accuracy"


class MeanSquaredError(Metric):
    kind = "mse"


class MeanAbsoluteError(Metric):
    kind = "mae"


class AUC(Metric):
    """ROC AUC from confusion counts at ``num_thresholds`` thresholds (trapezoidal rule)."""

    kind = "auc"

    _params = ("num_thresholds",)

    def __init__(self, num_thresholds: int = _DEFAULTS["num_thresholds"], name: Optional[str] = None):
        super().__init__(name)
        self.num_thresholds = int(check_number("AUC", "num_thresholds", num_thresholds, low=2, integer=True))


class Precision(Metric):
    kind = "precision"

    _params = ("threshold",)

    def __init__(self, thresholds: float = _DEFAULTS["threshold"], name: Optional[str] = None):
        super().__init__(name)
        self.threshold = float(check_number(type(self).__name__, "thresholds", thresholds, low=0, high=1))


class Recall(Precision):
    kind = "recall"


class _ConfusionCount(Metric):
    """The weighted number of predictions (each output element) in one confusion cell, a
    prediction being positive when above ``thresholds`` (Keras: one float, default 0.5)."""

    _params = ("threshold",)

    def __init__(self, thresholds: Optional[float] = None, name: Optional[str] = None):
        super().__init__(name)
        if isinstance(thresholds, (list, tuple)):
            raise ValueError(f"{type(self).__name__}: thresholds must be one float in [0, 1] (a list of "
                             f"thresholds is not supported). Received: thresholds={thresholds!r}")
        t = _DEFAULTS["threshold"] if thresholds is None else thresholds
        self.threshold = float(check_number(type(self).__name__, "thresholds", t, low=0, high=1))


class TruePositives(_ConfusionCount):
    kind = "true_positives"


class FalsePositives(_ConfusionCount):
    kind = "false_positives"


class TrueNegatives(_ConfusionCount):
    kind = "true_negatives"


class FalseNegatives(_ConfusionCount):
    kind = "false_negatives"


class MeanAbsolutePercentageError(Metric):
    """``100 * mean(|y - p| / max(|y|, 1e-7))`` per sample, averaged over samples."""

    kind = "mean_absolute_percentage_error"


_TABLE = {
    "accuracy": Accuracy, "acc": Accuracy,
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "auc": AUC, "precision": Precision, "recall": Recall,
    "true_positives": TruePositives, "false_positives": FalsePositives,
    "true_negatives": TrueNegatives, "false_negatives": FalseNegatives,
    "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
}


def get(identifier) -> Metric:
    m = _registry.get("metric", _TABLE, Metric, identifier)
    if isinstance(identifier, str):
        m.name = identifier  # logs use the name as written, as Keras does
    return m


def resolve(metric: Metric, loss, output_dim: int) -> dict:
    """The C++ spec for one metric, with 'accuracy' resolved from the loss (Keras rules)."""
    spec = metric.spec(metric.name)
    if metric.kind == "accuracy":
        lname = getattr(loss, "name", "")
        if lname == "sparse_categorical_crossentropy":
            spec["name"] = "sparse_categorical_accuracy"
        elif lname == "categorical_crossentropy":
            spec["name"] = "categorical_accuracy"
        elif lname == "binary_crossentropy" or output_dim == 1:
            spec["name"] = "binary_accuracy"
        else:
            spec["name"] = "categorical_accuracy"
    elif metric.kind == "top_k_categorical_accuracy" and getattr(loss, "sparse", False):
        spec["name"] = "sparse_top_k_categorical_accuracy"
    elif metric.kind == "mean_absolute_percentage_error":
        spec["name"] = "mape"  # the core's name
    return spec


def is_python(metric) -> bool:
    """A custom metric: a subclass with its own update_state (run in NumPy, not in C++)."""
    return type(metric).update_state is not Metric.update_state


def serialize(metric: Metric) -> dict:
    if is_python(metric):
        from ._custom_objects import get_registered_name
        return {"class": "custom", "name": metric.name, "registered_name": get_registered_name(metric),
                "config": metric.get_config()}
    d = {"class": metric.kind, "name": metric.name}
    for p in metric._params:
        d[p] = getattr(metric, p)
    return d


def deserialize(config: dict) -> Metric:
    if not isinstance(config, dict) or not isinstance(config.get("class"), str) \
            or not isinstance(config.get("name"), str):
        raise ValueError(f"invalid metric config: {config!r}")
    if config["class"] == "custom":
        from ._custom_objects import resolve, unregistered
        if set(config) != {"class", "name", "registered_name", "config"} or not isinstance(config["config"], dict):
            raise ValueError(f"invalid custom metric config: {config!r}")
        cls = resolve({"registered_name": config["registered_name"]}, Metric, "metric")
        if cls is None:
            raise unregistered({"registered_name": config["registered_name"]}, "metric class")
        m = cls.from_config(dict(config["config"]))
        m.name = config["name"]
        return m
    cls = lookup("metric", _TABLE, config["class"])
    unknown = set(config) - {"class", "name"} - set(cls._params)
    if unknown:
        raise ValueError(f"invalid metric config: unknown keys {sorted(unknown)} for {cls.__name__}")
    # Precision/Recall take the Keras argument `thresholds` and keep it as `threshold`.
    kw = {("thresholds" if issubclass(cls, (Precision, _ConfusionCount)) else p): config[p] for p in cls._params
          if p in config}
    m = cls(**kw)
    m.name = config["name"]
    return m
