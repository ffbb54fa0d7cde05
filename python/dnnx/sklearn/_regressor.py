"""MLPRegressor: scikit-learn's multi-layer perceptron regressor on dnnx's C++ core."""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy
from sklearn.base import RegressorMixin
from sklearn.metrics import r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import validate_data

from ._base import BaseMLP, _column_or_1d_warn, checked

LOSSES = ("squared_error", "poisson", "absolute_error", "huber")


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` (same parameters,
    defaults, fitted attributes, stopping rules and warnings), trained by dnnx's C++ core.

    Per-sample losses, summed over the outputs, with the penalty ``alpha / 2 * ||W||^2``;
    both divided by the (weighted) batch size:

    - 'squared_error': ``1/2 (y - p)^2`` (identity output);
    - 'poisson': the half Poisson deviance ``y log(y / p) - y + p`` with ``p = exp(z)``
      (``out_activation_ = 'exp'``; y must be >= 0);
    - 'absolute_error' (dnnx): ``|y - p|``;
    - 'huber' (dnnx): ``e^2 / 2`` for ``|e| <= 1``, else ``|e| - 1/2`` (Keras' delta = 1).

    For several outputs scikit-learn reports the squared error averaged over the outputs
    while its gradient is that of the sum; dnnx minimizes and reports the sum.

    The other parameters and attributes are MLPClassifier's (see there), without
    ``class_weight``; so is the sharded mode after ``dnnx.distributed.init()``.
    """

    _losses = LOSSES

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, dtype=None,
                 n_jobs=None):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype
        self.n_jobs = n_jobs

    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Fit to (X, y). ``X_val``/``y_val`` (dnnx, as HistGradientBoosting's): the
        validation set of early stopping instead of a ``validation_fraction`` split."""
        return self._fit(X, y, sample_weight, incremental=False, X_val=X_val, y_val=y_val,
                         sample_weight_val=sample_weight_val)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, *, epochs=1):
        """``epochs`` passes over (X, y) (scikit-learn: one; ``epochs`` is dnnx's)."""
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"partial_fit: epochs must be an int >= 1; received {epochs!r}")
        return self._fit(X, y, sample_weight, incremental=True, epochs=epochs)

    def _validate_input(self, X, y, incremental, reset, what="X", session=None):
        def check():
            Xc, yc = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
                                   dtype=(np.float64, np.float32), reset=reset)
            yc = _column_or_1d_warn(yc)
            if self.loss == "poisson" and np.any(yc < 0):
                raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
            return Xc, yc
        return checked(session, check)

    def _loss_kind(self) -> str:
        return self.loss

    def _out_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _targets(self, y) -> np.ndarray:
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        return np.ascontiguousarray(y, dtype=np.dtype(self._dtype))

    def _loss_offset(self, target, sw, session=None) -> float:
        """The half Poisson deviance's term in y alone, sum_j y log y - y, averaged as the loss
        (the core's Poisson loss leaves it out; it moves no gradient); sharded: over every
        rank's rows."""
        if self.loss != "poisson":
            return 0.0
        t = target.astype(np.float64)
        per_row = (xlogy(t, t) - t).sum(axis=1)
        w = np.ones(len(per_row)) if sw is None else np.asarray(sw, dtype=np.float64)
        total, weight = float(np.dot(w, per_row)), float(w.sum())
        if session is not None:
            total, weight = session.total(total, weight)
        return total / weight if weight > 0 else 0.0

    def _score_validation(self, X, y, sw) -> float:
        y_pred = self._predict(X, check_input=False)
        if not np.isfinite(y_pred).all():
            return np.nan
        return r2_score(y, y_pred, sample_weight=sw)

    def predict(self, X):
        """Predicted values: (n,) for one output, (n, n_outputs) otherwise."""
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward(X, check_input)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred
