"""The fit loops: scikit-learn's stochastic solvers (sgd, adam) and lbfgs through scipy.

Every epoch of a stochastic fit is one ``run_epoch`` call: dense data go to C++ whole
(shuffle, gather, forward, loss, backward, update for every batch in one call); sparse data
are densified one batch at a time (never whole). Between epochs Python applies
scikit-learn's rules: the loss curve, the ``tol`` / ``n_iter_no_change`` stopping rule or the
validation score (early stopping, best weights restored), the learning-rate schedules and
the ConvergenceWarning. ``lbfgs`` hands the core's loss and gradient to scipy's L-BFGS-B.

After ``dnnx.distributed.init()`` the fit is sharded (``_sharded.py``): the session's
``run_epoch``, validation score and lbfgs sums replace the local ones; only rank 0 prints.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np

LBFGS_CHUNK = 8192  # rows per compute_gradients call (bounds the workspace; dense data below it: one call)
PREDICT_CHUNK = 1024  # rows densified at a time for sparse predict


@dataclass
class Data:
    """Training arrays as the core takes them: x (n, features) C-contiguous in the network
    dtype or a CSR matrix, y (n, label columns), sw (n,) or None; ``offset`` is added to
    every reported loss (the Poisson deviance's constant term)."""

    x: object
    y: np.ndarray
    sw: Optional[np.ndarray]
    sparse: bool
    offset: float = 0.0

    @property
    def n(self) -> int:
        return self.y.shape[0]

    def rows(self, idx, dtype) -> np.ndarray:
        """Rows ``idx`` (a slice or indices) as a dense C-contiguous array."""
        if self.sparse:
            return np.ascontiguousarray(self.x[idx].toarray(), dtype=dtype)
        return np.ascontiguousarray(self.x[idx])


def batch_size_for(batch_size, n: int) -> int:
    if batch_size == "auto":
        return min(200, n)
    if batch_size > n:
        warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
    return int(np.clip(batch_size, 1, n))


def run_epoch(net, data: Data, batch_size: int, shuffle: bool, epoch: int, lr: float) -> float:
    """One pass over the data at learning rate ``lr``; returns the mean batch loss (batch
    losses weighted by batch size, as scikit-learn's ``loss_``)."""
    n = data.n
    steps = math.ceil(n / batch_size)
    if not data.sparse:
        logs = net.train_epoch(data.x, data.y, data.sw, batch_size, bool(shuffle), int(epoch),
                               np.full(steps, lr, np.float64), None, 0)
        return float(logs["loss"]) + data.offset
    order = np.random.default_rng([net.get_rng_state()[0], int(epoch)]).permutation(n) if shuffle else None
    dtype = np.dtype(net.dtype)
    total = 0.0
    for s in range(steps):
        idx = slice(s * batch_size, min(n, (s + 1) * batch_size)) if order is None else \
            order[s * batch_size:(s + 1) * batch_size]
        y = np.ascontiguousarray(data.y[idx])
        sw = None if data.sw is None else np.ascontiguousarray(data.sw[idx])
        logs = net.train_batch(data.rows(idx, dtype), y, sw, lr)
        total += float(logs["loss"]) * y.shape[0]
    return total / n + data.offset


def predict(net, x, sparse: bool) -> np.ndarray:
    """The network's outputs for x (dense: one call; sparse: densified a chunk at a time)."""
    if not sparse:
        return net.predict(x, 0)
    dtype = np.dtype(net.dtype)
    out = np.empty((x.shape[0], net.output_dim), dtype)
    for i0 in range(0, x.shape[0], PREDICT_CHUNK):
        rows = np.ascontiguousarray(x[i0:i0 + PREDICT_CHUNK].toarray(), dtype=dtype)
        out[i0:i0 + rows.shape[0]] = net.predict(rows, 0)
    return out


def _verbose(est) -> bool:
    """Progress is printed on rank 0 only (sharded)."""
    from ..distributed import rank
    return bool(est.verbose) and rank() == 0


# ---- stochastic solvers ---------------------------------------------------------------------
def fit_stochastic(est, data: Data, val, incremental: bool, epochs: int, session=None) -> None:
    """scikit-learn's ``_fit_stochastic`` on the core. ``val`` is None or (X, y, sw) scored by
    ``est._score_validation``; ``epochs`` bounds an incremental call (``max_iter`` a fit);
    ``session``: the sharded fit (None: this process alone)."""
    net = est._net
    batch_size = batch_size_for(est.batch_size, data.n) if session is None else session.batch_size(est.batch_size)
    n_seen = data.n if session is None else session.n_total
    early_stopping = val is not None
    est.n_iter_ = 0
    try:
        for _ in range(epochs if incremental else est.max_iter):
            if session is None:
                loss = run_epoch(net, data, batch_size, est.shuffle, est._epoch, est._lr)
            else:
                loss = session.run_epoch(data, batch_size, est.shuffle, est._epoch, est._lr)
            est._epoch += 1
            est.n_iter_ += 1
            est.loss_ = loss
            est.t_ += n_seen
            est.loss_curve_.append(loss)
            if _verbose(est):
                print("Iteration %d, loss = %.8f" % (est.n_iter_, est.loss_))
            _update_no_improvement_count(est, val, session)
            if est.learning_rate == "invscaling" and est.solver == "sgd":
                est._lr = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t
            if est._no_improvement_count > est.n_iter_no_change:
                what = "Validation score" if early_stopping else "Training loss"
                msg = ("%s did not improve more than tol=%f for %d consecutive epochs."
                       % (what, est.tol, est.n_iter_no_change))
                if _trigger_stopping(est, msg):
                    break
                est._no_improvement_count = 0
            if not incremental and est.n_iter_ == est.max_iter:
                from sklearn.exceptions import ConvergenceWarning

                warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the optimization hasn't "
                              "converged yet." % est.max_iter, ConvergenceWarning)
    except KeyboardInterrupt:
        warnings.warn("Training interrupted by user.")
    if early_stopping:
        net.param_arena()[...] = est._best_params
        net.params_changed()


def _update_no_improvement_count(est, val, session=None) -> None:
    if val is not None:
        score = est._score_validation(*val) if session is None else session.score(est, *val)
        est.validation_scores_.append(score)
        if _verbose(est):
            print("Validation score: %f" % score)
        if score < est.best_validation_score_ + est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_params = est._net.param_arena().copy()
    else:
        if est.loss_curve_[-1] > est.best_loss_ - est.tol:
            est._no_improvement_count += 1
        else:
            est._no_improvement_count = 0
        if est.loss_curve_[-1] < est.best_loss_:
            est.best_loss_ = est.loss_curve_[-1]


def _trigger_stopping(est, msg: str) -> bool:
    """scikit-learn's rule: stop, except sgd with learning_rate='adaptive' divides the rate by 5
    (stopping once it is <= 1e-6)."""
    if not (est.solver == "sgd" and est.learning_rate == "adaptive"):
        if _verbose(est):
            print(msg + " Stopping.")
        return True
    if est._lr <= 1e-6:
        if _verbose(est):
            print(msg + " Learning rate too small. Stopping.")
        return True
    est._lr /= 5.0
    if _verbose(est):
        print(msg + " Setting learning rate to %f" % est._lr)
    return False


# ---- lbfgs ----------------------------------------------------------------------------------
def _kernel_mask(net) -> np.ndarray:
    """True where the trainable arena holds a Dense kernel (the penalized weights)."""
    arena = net.param_arena()
    base = arena.__array_interface__["data"][0]
    mask = np.zeros(arena.shape[0], bool)
    for name, p in zip(net.param_names(), net.params()):
        if name.endswith("/kernel"):
            start = (p.__array_interface__["data"][0] - base) // arena.itemsize
            mask[start:start + p.size] = True
    return mask


def loss_and_gradient(net, data: Data, alpha: float, kernel_mask: np.ndarray, weight_sum: float, session=None):
    """scikit-learn's full-batch objective ``(sum_i w_i l_i + alpha/2 ||W||^2) / sum_i w_i``
    and its gradient (float64) at the network's current weights, in chunks of rows: each
    chunk's core objective is ``(D_c + P) / S_c``, so ``sum_c S_c J_c`` counts the penalty P
    once per chunk; the extra copies are taken off again. ``session`` (sharded): the sums of
    every rank's rows, the penalty once; ``weight_sum`` is then the union's."""
    dtype = np.dtype(net.dtype)
    grad_arena = net.grad_arena()
    total, grad, counted = 0.0, np.zeros(grad_arena.shape[0], np.float64), 0
    for i0 in range(0, data.n, LBFGS_CHUNK):
        rows = slice(i0, min(data.n, i0 + LBFGS_CHUNK))
        sw = None if data.sw is None else np.ascontiguousarray(data.sw[rows])
        s = float(rows.stop - rows.start) if sw is None else float(np.sum(sw, dtype=np.float64))
        if s == 0:
            continue  # the core gives a zero loss and gradient (and no penalty) for it
        value = net.compute_gradients(data.rows(rows, dtype), np.ascontiguousarray(data.y[rows]), sw)
        total += value * s
        grad += grad_arena * s
        counted += 1
    if counted > 1 and alpha > 0:
        w = net.param_arena()[kernel_mask].astype(np.float64)
        total -= (counted - 1) * 0.5 * alpha * float(w @ w)
        grad[kernel_mask] -= (counted - 1) * alpha * w
    if session is not None:
        total, grad = session.lbfgs_sums(total, grad, counted > 0, kernel_mask)
    return total / weight_sum, grad / weight_sum


def fit_lbfgs(est, data: Data, session=None) -> None:
    import scipy.optimize
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    net = est._net
    arena = net.param_arena()
    mask = _kernel_mask(net)
    weight_sum = float(data.n) if data.sw is None else float(np.sum(data.sw, dtype=np.float64))
    if session is not None:
        weight_sum = float(session.total(weight_sum)[0])
    if weight_sum == 0:
        raise ValueError("sample_weight sums to zero: there is nothing to fit")
    calls = [0]

    def fun(w):
        arena[...] = w
        net.params_changed()
        calls[0] += 1
        return loss_and_gradient(net, data, float(est.alpha), mask, weight_sum, session)

    def report(intermediate_result):
        if _verbose(est):
            print("Iteration %d, loss = %.8f" % (report.it, intermediate_result.fun + data.offset))
        report.it += 1

    report.it = 1
    # L-BFGS-B's own BLAS calls are vector operations on the parameters; with more than one
    # BLAS thread, OpenBLAS's idle threads spin between them and take the cores from dnnx's
    # loss and gradient (measured on digits: 38% of the fit's CPU time in blas_thread_server).
    with threadpool_limits(limits=1, user_api="blas"):
        res = scipy.optimize.minimize(fun, arena.astype(np.float64), method="L-BFGS-B", jac=True,
                                      callback=report if _verbose(est) else None,
                                      options={"maxfun": est.max_fun, "maxiter": est.max_iter, "gtol": est.tol})
    est.n_iter_ = min(int(res.nit), est.max_iter)
    if res.status != 0:
        from sklearn.exceptions import ConvergenceWarning

        msg = (f"lbfgs failed to converge after {est.n_iter_} iteration(s) (status={res.status}):\n{res.message}\n")
        if est.n_iter_ >= est.max_iter:
            msg += (f"\nIncrease the number of iterations to improve the convergence (max_iter={est.max_iter}).")
        msg += ("\nYou might also want to scale the data as shown in:\n"
                "    https://scikit-learn.org/stable/modules/preprocessing.html")
        warnings.warn(msg, ConvergenceWarning, stacklevel=2)
    est.loss_ = float(res.fun) + data.offset
    arena[...] = res.x
    net.params_changed()
