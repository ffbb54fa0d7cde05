"""MLPClassifier: scikit-learn's multi-layer perceptron classifier on dnnx's C++ core."""

from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from ._base import BaseMLP, _column_or_1d_warn, checked


class MLPClassifier(ClassifierMixin, BaseMLP):
    """Multi-layer perceptron classifier: scikit-learn's ``MLPClassifier`` (same parameters,
    defaults, fitted attributes, stopping rules and warnings), trained by dnnx's C++ core.

    The model minimizes the log-loss (softmax outputs for several classes, logistic outputs
    for two classes and for multilabel indicator targets) plus ``alpha / 2 * ||W||^2``,
    both divided by the (weighted) batch size:
    ``J_B = (sum_i w_i l_i + alpha/2 sum ||W||^2) / sum_i w_i``.

    Parameters (scikit-learn's unless marked dnnx)
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
    activation : {'identity', 'logistic', 'tanh', 'relu'} or any dnnx activation name
        ('leaky_relu', 'elu', 'selu', 'gelu', 'silu', 'swish', 'sigmoid', 'hard_sigmoid',
        'softplus', 'softsign', 'linear', 'softmax', 'log_softmax'), default='relu'
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'lbfgs' runs scipy's L-BFGS-B on dnnx's full-batch loss and gradient.
    alpha, batch_size, learning_rate, learning_rate_init, power_t, max_iter, shuffle,
    random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
    validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun :
        as scikit-learn's.
    class_weight : dict, 'balanced' or None, default=None (dnnx)
        Weights multiplying ``sample_weight`` per class (``compute_sample_weight``).
    dropout : float or sequence of floats in [0, 1), default=0.0 (dnnx)
        Dropout rate after each hidden layer (one value, or one per hidden layer).
    dtype : {'float32', 'float64'} or None, default=None (dnnx)
        The precision of the network. None: X's dtype when it is float32 or float64, else
        float64 (scikit-learn's rule); 'float32' (the fast path) or 'float64' force one,
        converting X once.
    n_jobs : int or None, default=None (dnnx)
        Threads for fit and predict (None: dnnx's setting; -1: every usable CPU). Results do
        not depend on it (dnnx is bitwise reproducible for any thread count).

    After ``dnnx.distributed.init()``, ``fit`` and ``partial_fit`` on every rank, each with
    its own rows, train one model (sharded mode: ``classes_`` the union of the ranks' labels,
    ``batch_size`` per rank, the same weights and decisions on every rank; see
    ``dnnx.sklearn._sharded``).

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_,
    n_outputs_, out_activation_ : as scikit-learn's (``coefs_`` / ``intercepts_`` are
    read-only views of the network's weights, in its dtype).
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, class_weight=None, dropout=0.0,
                 dtype=None, n_jobs=None):
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
        self.class_weight = class_weight
        self.dropout = dropout
        self.dtype = dtype
        self.n_jobs = n_jobs

    # -- fit ------------------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Fit to (X, y). ``X_val``/``y_val`` (dnnx, as HistGradientBoosting's): the
        validation set of early stopping instead of a ``validation_fraction`` split."""
        return self._fit(X, y, sample_weight, incremental=False, X_val=X_val, y_val=y_val,
                         sample_weight_val=sample_weight_val)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None, *, epochs=1):
        """``epochs`` passes over (X, y) (scikit-learn: one; ``epochs`` is dnnx's). ``classes``
        is required on the first call (except for multilabel y)."""
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"partial_fit: epochs must be an int >= 1; received {epochs!r}")
        if getattr(self, "classes_", None) is None:
            if classes is None and not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, was: "
                             f"{self.classes_!r}")
        return self._fit(X, y, sample_weight, incremental=True, epochs=epochs)

    def _validate_input(self, X, y, incremental, reset, what="X", session=None):
        X, y = checked(session, lambda: validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                                                      dtype=(np.float64, np.float32), reset=reset))
        y = _column_or_1d_warn(y)
        if what != "X":
            return X, y
        # sharded: the classes of every rank's rows (a rank may lack some)
        labels = y if session is None else session.union_labels(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(labels)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(labels)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                     f"call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        return X, y

    def _class_weights(self, y, sw, session=None):
        if self.class_weight is None:
            return sw
        from sklearn.utils.class_weight import compute_sample_weight

        if session is not None and isinstance(self.class_weight, str):
            # 'balanced' from the class counts of every rank's rows: n / (classes * count)
            if y.ndim != 1:
                raise ValueError("class_weight='balanced' in sharded mode takes 1-D y (one label per row)")
            counts = session.class_counts(y, self.classes_)
            present = counts > 0
            per_class = np.zeros(len(counts))
            per_class[present] = counts.sum() / (present.sum() * counts[present])
            cw = per_class[np.searchsorted(self.classes_, y)]
            return cw if sw is None else sw * cw
        cw = compute_sample_weight(self.class_weight, y)
        return cw if sw is None else sw * cw

    def _loss_kind(self) -> str:
        return "log_loss_softmax" if self._label_binarizer.y_type_ == "multiclass" else "log_loss_logistic"

    def _out_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _targets(self, y) -> np.ndarray:
        """Class indices (n, 1) for softmax outputs, 0/1 indicators (n, outputs) otherwise."""
        Y = self._label_binarizer.transform(y)
        if hasattr(Y, "toarray"):
            Y = Y.toarray()
        dtype = np.dtype(self._dtype)
        if self._loss_kind() == "log_loss_softmax":
            return np.ascontiguousarray(np.argmax(Y, axis=1).reshape(-1, 1), dtype=dtype)
        return np.ascontiguousarray(Y, dtype=dtype)

    def _stratify(self) -> bool:
        return self._label_binarizer.y_type_ in ("binary", "multiclass")

    def _score_validation(self, X, y, sw) -> float:
        """Accuracy on the validation rows (sharded: see _sharded.ShardedFit.score)."""
        y_pred = self._predict(X, check_input=False)
        return accuracy_score(y, y_pred, sample_weight=sw)

    # -- predict --------------------------------------------------------------------------
    def predict(self, X):
        """Class labels (``classes_`` values) for X."""
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward(X, check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def predict_proba(self, X):
        """Probability of each class (columns in ``classes_`` order); independent per label
        for multilabel y."""
        y_pred = self._forward(X)
        if self.n_outputs_ == 1:
            p = y_pred.ravel()
            return np.vstack([1 - p, p]).T
        return y_pred

    def predict_log_proba(self, X):
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multilabel": True}
