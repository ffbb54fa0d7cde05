"""``from_sklearn``: a fitted scikit-learn MLP as a dnnx estimator (same weights, same
predictions to the precision of ``dtype``, predicted by the C++ core)."""

from __future__ import annotations

import copy

import numpy as np

from . import _network
from ._classifier import MLPClassifier
from ._regressor import MLPRegressor

_FITTED = ("classes_", "n_features_in_", "feature_names_in_", "n_outputs_", "n_layers_", "out_activation_", "loss_",
           "best_loss_", "loss_curve_", "validation_scores_", "best_validation_score_", "t_", "n_iter_")


def from_sklearn(estimator, dtype=None):
    """A dnnx ``MLPClassifier`` / ``MLPRegressor`` equal to the fitted
    ``sklearn.neural_network`` estimator: its parameters, fitted attributes and weights.
    ``dtype``: the network's precision (None: the dtype of the estimator's weights)."""
    from sklearn.neural_network import MLPClassifier as SkClassifier
    from sklearn.neural_network import MLPRegressor as SkRegressor
    from sklearn.utils.validation import check_is_fitted

    if isinstance(estimator, SkClassifier):
        cls = MLPClassifier
    elif isinstance(estimator, SkRegressor):
        cls = MLPRegressor
    else:
        raise TypeError("from_sklearn expects a fitted sklearn.neural_network.MLPClassifier or MLPRegressor; "
                        f"received {type(estimator).__name__}")
    check_is_fitted(estimator)
    requested = dtype
    if dtype is None:
        dtype = estimator.coefs_[0].dtype.name
    if dtype not in ("float32", "float64"):
        raise ValueError(f"from_sklearn: dtype must be 'float32' or 'float64'; received {dtype!r}")
    names = set(cls().get_params())
    params = {k: copy.deepcopy(v) for k, v in estimator.get_params().items() if k in names}
    out = cls(**params, dtype=requested)
    for name in _FITTED:
        if hasattr(estimator, name):
            setattr(out, name, copy.deepcopy(getattr(estimator, name)))
    if cls is MLPClassifier:
        out._label_binarizer = copy.deepcopy(estimator._label_binarizer)
    layer_units = [estimator.coefs_[0].shape[0]] + [c.shape[1] for c in estimator.coefs_]
    out._dtype = dtype
    out._no_improvement_count = 0
    out._seed = 0
    out._epoch = 0
    out._net = None
    out._configure(layer_units, fresh_optimizer=True)
    for view, value in zip(out._net.params(), [w for pair in zip(estimator.coefs_, estimator.intercepts_)
                                               for w in pair]):
        view[...] = value
    out._net.params_changed()
    return out
