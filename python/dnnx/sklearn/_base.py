"""What MLPClassifier and MLPRegressor share: fitting state, input checks, predict, pickling.

Fitted attributes follow scikit-learn's MLP. ``coefs_`` / ``intercepts_`` are read-only
views of the C++ network's weights ((in, out) kernels, as scikit-learn's), so they always
show the weights ``predict`` uses.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _network, _params, _sharded, _solvers
from ._threads import threads


def _column_or_1d_warn(y):
    if y.ndim == 2 and y.shape[1] == 1:
        from sklearn.utils import column_or_1d

        return column_or_1d(y, warn=True)
    return y


def checked(session, fn):
    """fn(); sharded: on every rank, an error on one raising on all (see ShardedFit.checked)."""
    return fn() if session is None else session.checked(fn)


def _plain_classes(est):
    classes = getattr(est, "classes_", None)
    return None if classes is None else [str(c) for c in np.asarray(classes).tolist()]


def check_sample_weight(sample_weight, n: int, name: str = "sample_weight") -> Optional[np.ndarray]:
    """None, or a float64 (n,) array of finite weights (a scalar is broadcast)."""
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight)
    if sw.ndim == 0:
        sw = np.full(n, float(sw))
    if sw.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric; received dtype {sw.dtype}")
    sw = sw.astype(np.float64)
    if sw.ndim != 1:
        raise ValueError(f"Sample weights must be 1D array or scalar, got {sw.ndim}D array. Expected either a "
                         f"scalar value or a 1D array of length {n}.")
    if sw.shape[0] != n:
        raise ValueError(f"{name}.shape == {sw.shape}, expected ({n},)!")
    if not np.isfinite(sw).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    if not sw.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sw


class BaseMLP(BaseEstimator):
    """Common machinery; subclasses define ``_loss_kind``, ``_targets``, ``_validate_input``,
    ``_out_activation``, ``_score_validation`` and the public predict methods."""

    _losses: Optional[tuple] = None  # the regressor's loss options

    # -- fit --------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False, X_val=None, y_val=None, sample_weight_val=None,
             epochs=1):
        _params.check(self, self._losses)
        hidden = _params.hidden_layer_sizes(self)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        if X_val is not None and not self.early_stopping:
            raise ValueError("X_val/y_val are the validation set of early stopping: pass early_stopping=True "
                             "with them")
        first_pass = not hasattr(self, "_net") or (not self.warm_start and not incremental)
        # After dnnx.distributed.init(): every rank fits its own rows of one model (_sharded.py).
        session = _sharded.session_for(self)
        if session is not None:
            session.agree("estimator", {"estimator": type(self).__name__, "incremental": bool(incremental),
                                        "epochs": int(epochs), "first pass": bool(first_pass),
                                        "X_val given": X_val is not None,
                                        "params": {k: v for k, v in self.get_params().items()
                                                   if k not in ("n_jobs", "verbose")}}, "fit")
            X, y = self._validate_input(X, y, incremental, reset=first_pass, session=session)
            session.agree("data", {"features": int(X.shape[1]), "classes": _plain_classes(self),
                                   "y columns": 1 if y.ndim == 1 else int(y.shape[1])}, "fit")
        else:
            X, y = self._validate_input(X, y, incremental, reset=first_pass)
        n = X.shape[0]
        sw = check_sample_weight(sample_weight, n)
        sw = self._class_weights(y, sw, session)
        if first_pass or self.dtype is not None:
            # None: X's dtype (float32 or float64, as scikit-learn's MLP computes in)
            self._dtype = self.dtype or X.dtype.name
        target = self._targets(y)
        dtype = np.dtype(self._dtype)
        sparse = hasattr(X, "tocsr")
        x = X.tocsr().astype(dtype) if sparse else np.ascontiguousarray(X, dtype=dtype)
        layer_units = [X.shape[1]] + hidden + [target.shape[1] if self._loss_kind() != "log_loss_softmax"
                                               else len(self.classes_)]
        rng = check_random_state(self.random_state)
        with threads(self.n_jobs):
            if first_pass:
                self._start(layer_units, rng)
                if session is not None:
                    self._seed = session.seed(self._seed)  # the same network (and streams) everywhere
            elif self.n_outputs_ != layer_units[-1]:
                raise ValueError(f"warm_start / partial_fit: the network has {self.n_outputs_} outputs; y needs "
                                 f"{layer_units[-1]}")
            elif self.solver != "lbfgs" and not hasattr(self, "loss_curve_"):
                self._init_stochastic_state()  # warm start after lbfgs
            self._configure(layer_units, fresh_optimizer=not incremental or not hasattr(self, "_lr"))
            tsw = None if sw is None else np.ascontiguousarray(sw, dtype=dtype)
            data = _solvers.Data(x, target, tsw, sparse, self._loss_offset(target, sw, session))
            done = False
            try:
                if self.solver == "lbfgs":
                    if session is not None:
                        session.start(self, data)
                    _solvers.fit_lbfgs(self, data, session)
                else:
                    val = None
                    if self.early_stopping:
                        data, val = self._split_validation(data, y, sw, rng, X_val, y_val, sample_weight_val)
                    if session is not None:
                        session.start(self, data)
                        if val is not None:
                            self._best_params = self._net.param_arena().copy()  # rank 0's
                    _solvers.fit_stochastic(self, data, val, incremental, epochs, session)
                done = True
            finally:
                if session is not None and hasattr(session, "sync"):
                    session.finish(check=done)  # after an error: no collective (a rank may be elsewhere)
        if not np.isfinite(self._net.param_arena()).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large values "
                             "and need to be preprocessed.")
        return self

    def _start(self, layer_units, rng) -> None:
        """A fresh network and scikit-learn's initial fitted state."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = layer_units[-1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        self._seed = int(rng.randint(0, 2**31 - 2**16))
        self._epoch = 0
        self._net = None
        self._init_stochastic_state()

    def _init_stochastic_state(self) -> None:
        if self.solver in ("sgd", "adam"):
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _configure(self, layer_units, fresh_optimizer: bool) -> None:
        """Build (or rebuild, keeping the weights) the network for the current parameters;
        a new ``fit`` call starts a fresh optimizer (scikit-learn), ``partial_fit`` keeps it."""
        spec = _network.network_spec(layer_units, self.activation, self.out_activation_, float(self.alpha),
                                     self.dropout, self._dtype, self._seed)
        loss = _network.loss_config(self._loss_kind(), self.n_outputs_)
        opt = _network.optimizer_config(self.solver, self.learning_rate_init, self.momentum,
                                        self.nesterovs_momentum, self.beta_1, self.beta_2, self.epsilon)
        if self._net is None:
            self._net = _network.build(spec, loss, opt)
        elif spec != self._spec or loss != self._loss_cfg or (fresh_optimizer and opt != self._opt_cfg):
            saved = _network.state(self._net)
            if spec["dtype"] != self._spec["dtype"]:
                saved["params"] = [p.astype(spec["dtype"]) for p in saved["params"]]
                saved["optimizer_state"] = [s.astype(spec["dtype"]) for s in saved["optimizer_state"]]
            keep = not fresh_optimizer and opt == self._opt_cfg and spec["dtype"] == self._spec["dtype"]
            self._net = _network.build(spec, loss, opt)
            if not keep:
                saved["optimizer_state"], saved["iterations"] = [], 0
            _network.restore(self._net, saved)
        elif fresh_optimizer:
            self._net.set_training_config(loss, opt, [])
        self._spec, self._loss_cfg, self._opt_cfg = spec, loss, opt
        if fresh_optimizer:
            self._lr = float(self.learning_rate_init)
        self._bind_weights()

    def _bind_weights(self) -> None:
        params = self._net.params()
        ro = []
        for p in params:
            v = p.view()
            v.flags.writeable = False
            ro.append(v)
        self.coefs_ = ro[0::2]
        self.intercepts_ = ro[1::2]

    def _split_validation(self, data, y, sw, rng, X_val, y_val, sample_weight_val):
        """(train data, (X_val, y_val, sw_val)): the given validation set, or scikit-learn's
        split (stratified for single-output classifiers)."""
        from sklearn.model_selection import train_test_split

        if self.solver == "lbfgs":
            return data, None
        if X_val is not None:
            Xv, yv = self._validate_input(X_val, y_val, True, reset=False, what="X_val")
            swv = check_sample_weight(sample_weight_val, Xv.shape[0], "sample_weight_val")
        else:
            stratify = y if self._stratify() else None
            idx_train, idx_val = train_test_split(np.arange(data.n), random_state=rng,
                                                  test_size=self.validation_fraction, stratify=stratify)
            if idx_val.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of your "
                                 "dataset.")
            Xv = data.x[idx_val] if data.sparse else data.x[idx_val]
            yv = y[idx_val]
            swv = None if sw is None else sw[idx_val]
            x = data.x[idx_train] if data.sparse else np.ascontiguousarray(data.x[idx_train])
            data = _solvers.Data(x, np.ascontiguousarray(data.y[idx_train]),
                                 None if data.sw is None else np.ascontiguousarray(data.sw[idx_train]), data.sparse,
                                 data.offset)
        self._best_params = self._net.param_arena().copy()
        return data, (Xv, yv, swv)

    def _class_weights(self, y, sw, session=None):
        return sw

    def _stratify(self) -> bool:
        return False

    def _loss_offset(self, target, sw, session=None) -> float:
        return 0.0

    # -- predict ----------------------------------------------------------------------------
    def _forward(self, X, check_input: bool = True) -> np.ndarray:
        """The output activations for X (network dtype)."""
        check_is_fitted(self)
        if check_input:
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        sparse = hasattr(X, "tocsr")
        x = X.tocsr() if sparse else np.ascontiguousarray(X, dtype=np.dtype(self._dtype))
        with threads(self.n_jobs):
            out = _solvers.predict(self._net, x, sparse)
        if self.out_activation_ == "exp":
            np.exp(out, out=out)
        return out

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "_net", None) is not None

    def _check_solver(self) -> bool:
        if self.solver not in ("sgd", "adam"):
            raise AttributeError("partial_fit is only available for stochastic optimizers. %s is not stochastic."
                                 % self.solver)
        return True

    # -- tags -------------------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- pickle: the network travels as its spec and state, rebuilt bit for bit -------------
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        net = state.pop("_net", None)
        state.pop("coefs_", None)
        state.pop("intercepts_", None)
        if net is not None:
            state["_net_state"] = _network.state(net)
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_net_state", None)
        super().__setstate__(state)
        if saved is not None:
            self._net = _network.build(self._spec, self._loss_cfg, self._opt_cfg)
            _network.restore(self._net, saved)
            self._bind_weights()
