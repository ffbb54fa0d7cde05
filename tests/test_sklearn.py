"""dnnx.sklearn: scikit-learn's semantics (objective, optimizers, stopping rules, warnings),
every parameter (a test that fails if it were ignored), dnnx's additions, pickling,
from_sklearn and the scikit-learn tools. The estimator checks: test_sklearn_checks.py."""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

import scipy.sparse as sp  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402

import dnnx  # noqa: E402
import reference as ref  # noqa: E402
from dnnx.sklearn import MLPClassifier, MLPRegressor, from_sklearn  # noqa: E402
from dnnx.sklearn import _network, _solvers  # noqa: E402

RNG = np.random.default_rng(12)


def blobs(n=90, d=5, k=3, seed=0):
    r = np.random.default_rng(seed)
    centers = r.standard_normal((k, d)) * 2
    y = r.integers(0, k, n)
    return centers[y] + r.standard_normal((n, d)), y


def regression_data(n=80, d=4, outputs=1, seed=1):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, d))
    y = np.tanh(x @ r.standard_normal((d, outputs))) + 0.1 * r.standard_normal((n, outputs))
    return x, (y[:, 0] if outputs == 1 else y)


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*a, **kw)


def params_of(est):
    return [p.copy() for p in est._net.params()]


def same_bits(a, b):
    return all(np.array_equal(u, v) for u, v in zip(params_of(a), params_of(b)))


# ---- scikit-learn's objective, checked against scikit-learn's own _backprop ------------------
def sk_loss_and_grad(sk, x, y_core, sw):
    """scikit-learn's (loss, packed gradient in our arena order) at sk's weights."""
    from itertools import pairwise
    units = [x.shape[1]] + [c.shape[1] for c in sk.coefs_]
    acts = [x] + [None] * (len(units) - 1)
    deltas = [None] * (len(acts) - 1)
    cg = [np.empty((a, b)) for a, b in pairwise(units)]
    ig = [np.empty(b) for b in units[1:]]
    loss, cg, ig = sk._backprop(x, y_core, sw, acts, deltas, cg, ig)
    return loss, np.concatenate([g.ravel() for pair in zip(cg, ig) for g in pair])


@pytest.mark.parametrize("case", ["multiclass", "binary", "multilabel", "squared_error", "poisson",
                                  "squared_error_2"])
@pytest.mark.parametrize("weighted", [False, True])
def test_objective_and_gradient_equal_sklearns(case, weighted):
    """The core's loss and gradient (lbfgs' objective) equal scikit-learn's _backprop for the
    same weights in float64: log-loss (softmax, logistic, multilabel), squared error and
    Poisson, alpha / n penalty, sample weights normalizing per batch."""
    x, yc = blobs(40, 4, 3)
    classifier = case in ("multiclass", "binary", "multilabel")
    if case == "multiclass":
        y = yc
    elif case == "binary":
        y = yc % 2
    elif case == "multilabel":
        y = np.stack([yc == 0, yc != 1, x[:, 0] > 0], axis=1).astype(int)
    elif case == "poisson":
        y = RNG.poisson(1.0, 40).astype(float)
    elif case == "squared_error_2":
        y = np.stack([x[:, 0], x[:, 1] * 2], axis=1)
    else:
        y = x[:, 0] + 0.5
    sw = RNG.uniform(0.1, 3.0, 40) if weighted else None
    kw = dict(hidden_layer_sizes=(6, 5), alpha=0.37, max_iter=2, random_state=0, solver="lbfgs")
    if classifier:
        sk, ours = SkMLPClassifier(**kw), MLPClassifier(**kw, dtype="float64")
    else:
        loss = "poisson" if case == "poisson" else "squared_error"
        sk, ours = SkMLPRegressor(loss=loss, **kw), MLPRegressor(loss=loss, **kw, dtype="float64")
    quiet(sk.fit, x, y, sample_weight=sw)
    quiet(ours.fit, x, y, sample_weight=sw)
    for view, w in zip(ours._net.params(), [w for pair in zip(sk.coefs_, sk.intercepts_) for w in pair]):
        view[...] = w
    ours._net.params_changed()
    y_core = sk._label_binarizer.transform(y).astype(float) if classifier else (y.reshape(len(y), -1))
    sk_loss, sk_grad = sk_loss_and_grad(sk, x, y_core, sw)
    data = _solvers.Data(x, ours._targets(y), sw, False)
    mask = _solvers._kernel_mask(ours._net)
    ws = float(len(y)) if sw is None else float(sw.sum())
    loss, grad = _solvers.loss_and_gradient(ours._net, data, 0.37, mask, ws)
    if case == "poisson":
        loss += ours._loss_offset(ours._targets(y), sw)
    if case == "squared_error_2":
        # scikit-learn reports 1/2 the squared error averaged over outputs but follows the
        # gradient of the sum; dnnx minimizes (and reports) the sum
        sk_loss = sk_loss + 0.5 * np.average(((sk.predict(x) - y) ** 2).sum(1) - ((sk.predict(x) - y) ** 2).mean(1),
                                             weights=sw)
    assert loss == pytest.approx(sk_loss, rel=1e-10)
    np.testing.assert_allclose(grad, sk_grad, rtol=1e-9, atol=1e-12)


def test_loss_and_gradient_in_chunks_equals_one_call(monkeypatch):
    x, y = blobs(50, 4, 3)
    est = quiet(MLPClassifier((7,), solver="lbfgs", alpha=0.5, max_iter=3, random_state=0, dtype="float64").fit, x, y)
    data = _solvers.Data(np.ascontiguousarray(x), est._targets(y), None, False)
    mask = _solvers._kernel_mask(est._net)
    one = _solvers.loss_and_gradient(est._net, data, 0.5, mask, 50.0)
    monkeypatch.setattr(_solvers, "LBFGS_CHUNK", 7)
    many = _solvers.loss_and_gradient(est._net, data, 0.5, mask, 50.0)
    assert many[0] == pytest.approx(one[0], rel=1e-12)
    np.testing.assert_allclose(many[1], one[1], rtol=1e-10, atol=1e-14)
    sparse = _solvers.Data(sp.csr_matrix(x), est._targets(y), None, True)
    np.testing.assert_allclose(_solvers.loss_and_gradient(est._net, sparse, 0.5, mask, 50.0)[1], one[1], rtol=1e-10,
                               atol=1e-14)


# ---- the optimizers follow scikit-learn's update rules ----------------------------------------
def numpy_steps(est, net, x, y, steps, solver, lr, momentum=0.9, nesterov=True, b1=0.9, b2=0.999, eps=1e-8):
    """Full-batch steps of scikit-learn's SGDOptimizer / AdamOptimizer on our gradient,
    from net's weights."""
    arena = net.param_arena()
    w = arena.astype(np.float64)
    data = _solvers.Data(np.ascontiguousarray(x), est._targets(y), None, False)
    mask = _solvers._kernel_mask(net)
    v = np.zeros_like(w)
    m = np.zeros_like(w)
    for t in range(1, steps + 1):
        arena[...] = w
        net.params_changed()
        g = _solvers.loss_and_gradient(net, data, float(est.alpha), mask, float(len(y)))[1]
        if solver == "sgd":
            v = momentum * v - lr * g
            w = w + (momentum * v - lr * g if nesterov else v)
        else:
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            w = w - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


@pytest.mark.parametrize("solver,kw", [
    ("sgd", dict(momentum=0.9, nesterovs_momentum=True, learning_rate_init=0.05)),
    ("sgd", dict(momentum=0.5, nesterovs_momentum=False, learning_rate_init=0.2)),
    ("sgd", dict(momentum=0.0, learning_rate_init=0.1)),
    ("adam", dict(beta_1=0.8, beta_2=0.99, epsilon=1e-3, learning_rate_init=0.01)),
    ("adam", dict(learning_rate_init=0.003)),
])
def test_optimizer_rules_match_sklearns(solver, kw):
    """momentum, nesterovs_momentum, beta_1, beta_2, epsilon and learning_rate_init as
    scikit-learn's optimizers apply them (three full-batch steps, float64)."""
    x, y = blobs(30, 4, 3)
    est = MLPClassifier((5,), solver=solver, batch_size=30, shuffle=False, random_state=3, alpha=0.1,
                        dtype="float64", **kw).partial_fit(x, y, classes=[0, 1, 2], epochs=3)
    start = _network.build(est._spec, est._loss_cfg, None)  # the initial weights (the same seed)
    expect = numpy_steps(est, start, x, y, 3, solver, kw["learning_rate_init"], kw.get("momentum", 0.9),
                         kw.get("nesterovs_momentum", True), kw.get("beta_1", 0.9), kw.get("beta_2", 0.999),
                         kw.get("epsilon", 1e-8))
    np.testing.assert_allclose(est._net.param_arena(), expect, rtol=1e-9, atol=1e-12)


def test_initialization_follows_sklearn():
    """Glorot uniform bounds (sqrt(6 / (in + out)), sqrt(2 / ...) for logistic) for kernels
    and intercepts."""
    for act, factor in [("relu", 6.0), ("logistic", 2.0)]:
        x, y = blobs(400, 30, 3)
        est = MLPClassifier((200,), activation=act, max_iter=1, learning_rate_init=1e-12, random_state=0)
        quiet(est.fit, x, y)
        bound = np.sqrt(factor / (30 + 200))
        for w in (est.coefs_[0], est.intercepts_[0]):
            assert np.abs(w).max() <= bound * 1.0001
            assert np.abs(w).max() > 0.95 * bound


# ---- parameters -------------------------------------------------------------------------------
def test_hidden_layer_sizes_and_fitted_attributes():
    x, y = blobs()
    est = quiet(MLPClassifier((7, 4), max_iter=5, random_state=0).fit, x, y)
    assert [c.shape for c in est.coefs_] == [(5, 7), (7, 4), (4, 3)]
    assert [b.shape for b in est.intercepts_] == [(7,), (4,), (3,)]
    assert est.n_layers_ == 4 and est.n_outputs_ == 3 and est.out_activation_ == "softmax"
    assert est.n_iter_ == 5 and est.t_ == 5 * 90 and len(est.loss_curve_) == 5
    assert est.loss_ == est.loss_curve_[-1] and est.best_loss_ == min(est.loss_curve_)
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert est.n_features_in_ == 5
    quiet(est.set_params(hidden_layer_sizes=3).fit, x, y)
    assert [c.shape for c in est.coefs_] == [(5, 3), (3, 3)]
    with pytest.raises(ValueError, match="hidden_layer_sizes must be > 0"):
        MLPClassifier((3, 0)).fit(x, y)


def numpy_forward(est, x):
    h = x
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        h = h @ w.astype(np.float64) + b
        if i < len(est.coefs_) - 1:
            name = _network.core_activation(est.activation)
            h = ref.activation(name, h)
    return h


@pytest.mark.parametrize("act", list(_network.ACTIVATIONS))
def test_every_activation_is_the_hidden_activation(act):
    x, y = regression_data()
    est = quiet(MLPRegressor(hidden_layer_sizes=(6,), activation=act, max_iter=3, random_state=0, dtype="float64").fit, x, y)
    np.testing.assert_allclose(est.predict(x), numpy_forward(est, x)[:, 0], rtol=1e-9, atol=1e-12)


def test_activation_name_errors():
    x, y = regression_data()
    with pytest.raises(ValueError, match="'activation' parameter of MLPRegressor"):
        MLPRegressor(activation="swishy").fit(x, y)


def test_solver_lbfgs_converges_and_reports_like_sklearn():
    x, y = blobs(120, 5, 3)
    est = MLPClassifier((8,), solver="lbfgs", max_iter=500, random_state=0, dtype="float64").fit(x, y)
    assert est.score(x, y) == 1.0
    assert not hasattr(est, "loss_curve_")
    data = _solvers.Data(np.ascontiguousarray(x), est._targets(y), None, False)
    loss, grad = _solvers.loss_and_gradient(est._net, data, est.alpha, _solvers._kernel_mask(est._net), 120.0)
    assert est.loss_ == pytest.approx(loss, rel=1e-12)
    assert np.abs(grad).max() < 1e-3  # scipy stops at gtol = tol
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 3 iteration\(s\)"):
        short = MLPClassifier((8,), solver="lbfgs", max_iter=3, random_state=0).fit(x, y)
    assert short.n_iter_ == 3
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        few = MLPClassifier((8,), solver="lbfgs", max_fun=4, random_state=0).fit(x, y)
    assert few.n_iter_ <= 4  # max_fun bounds the function evaluations


def test_solvers_differ_and_sgd_learns():
    x, y = blobs()
    fits = {s: quiet(MLPClassifier((8,), solver=s, max_iter=30, random_state=0,
                                   learning_rate_init=0.05 if s == "sgd" else 0.001).fit, x, y) for s in
            ("sgd", "adam", "lbfgs")}
    assert not same_bits(fits["sgd"], fits["adam"]) and not same_bits(fits["adam"], fits["lbfgs"])
    assert fits["sgd"].score(x, y) > 0.9


def test_alpha_shrinks_the_weights():
    x, y = blobs()
    norms = [np.sum(quiet(MLPClassifier((8,), alpha=a, solver="lbfgs", max_iter=200, random_state=0).fit,
                          x, y).coefs_[0] ** 2) for a in (1e-5, 10.0)]
    assert norms[1] < 0.5 * norms[0]


def test_batch_size_sets_the_steps_per_epoch():
    x, y = blobs(90)
    for bs, steps in [("auto", 1), (10, 9), (40, 3)]:
        est = quiet(MLPClassifier((4,), batch_size=bs, max_iter=2, random_state=0).fit, x, y)
        assert est._net.iterations == 2 * steps
    with pytest.warns(UserWarning, match="It is going to be clipped"):
        est = quiet(MLPClassifier((4,), batch_size=500, max_iter=1, random_state=0).fit, x, y)
    assert est._net.iterations == 1
    assert quiet(MLPClassifier((4,), max_iter=1).fit, np.tile(x, (3, 1)), np.tile(y, 3))._net.iterations == 2  # 200


def test_learning_rate_schedules():
    x, y = blobs()
    est = quiet(MLPClassifier((4,), solver="sgd", learning_rate="invscaling", power_t=0.25, learning_rate_init=0.1,
                              max_iter=3, random_state=0).fit, x, y)
    assert est._lr == pytest.approx(0.1 / (3 * 90 + 1) ** 0.25)
    const = quiet(MLPClassifier((4,), solver="sgd", power_t=0.25, learning_rate_init=0.1, max_iter=3,
                                random_state=0).fit, x, y)
    assert const._lr == 0.1 and not same_bits(est, const)
    power = quiet(MLPClassifier((4,), solver="sgd", learning_rate="invscaling", power_t=0.5, learning_rate_init=0.1,
                                max_iter=3, random_state=0).fit, x, y)
    assert not same_bits(est, power)


def test_adaptive_learning_rate_divides_by_5(capsys):
    x, y = blobs()
    est = quiet(MLPClassifier((4,), solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=2,
                              max_iter=9, learning_rate_init=0.01, random_state=0, verbose=True).fit, x, y)
    out = capsys.readouterr().out
    assert "Training loss did not improve more than tol=10.000000 for 2 consecutive epochs. Setting learning rate " \
           "to 0.002000" in out
    # epoch 1 sets best_loss_; epochs 2-4 and 5-7 each fail 3 > n_iter_no_change times: /5 twice
    assert est.n_iter_ == 9 and est._lr == pytest.approx(0.01 / 25)
    adam = quiet(MLPClassifier((4,), learning_rate="adaptive", tol=10.0, n_iter_no_change=2, max_iter=9,
                               random_state=0).fit, x, y)
    assert adam.n_iter_ == 4  # adam ignores learning_rate and stops


def test_max_iter_tol_and_n_iter_no_change():
    x, y = blobs()
    with pytest.warns(ConvergenceWarning, match=r"Stochastic Optimizer: Maximum iterations \(4\) reached"):
        est = MLPClassifier((4,), max_iter=4, random_state=0).fit(x, y)
    assert est.n_iter_ == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stop = MLPClassifier((4,), tol=100.0, n_iter_no_change=3, max_iter=50, random_state=0).fit(x, y)
    assert stop.n_iter_ == 5  # the first epoch sets best_loss_, then 3 + 1 epochs without improvement > tol
    five = MLPClassifier((4,), tol=100.0, n_iter_no_change=5, max_iter=50, random_state=0).fit(x, y)
    assert five.n_iter_ == 7


def test_shuffle_and_random_state():
    x, y = blobs()
    a = quiet(MLPClassifier((4,), batch_size=10, max_iter=3, random_state=0).fit, x, y)
    b = quiet(MLPClassifier((4,), batch_size=10, max_iter=3, random_state=0).fit, x, y)
    c = quiet(MLPClassifier((4,), batch_size=10, max_iter=3, random_state=1).fit, x, y)
    d = quiet(MLPClassifier((4,), batch_size=10, max_iter=3, random_state=0, shuffle=False).fit, x, y)
    assert same_bits(a, b) and not same_bits(a, c) and not same_bits(a, d)
    rs = np.random.RandomState(0)
    e = quiet(MLPClassifier((4,), max_iter=1, random_state=rs).fit, x, y)
    f = quiet(MLPClassifier((4,), max_iter=1, random_state=rs).fit, x, y)
    assert not same_bits(e, f)  # a RandomState instance advances, as in scikit-learn


def test_verbose_prints_sklearns_progress(capsys):
    x, y = blobs()
    quiet(MLPClassifier((4,), max_iter=2, random_state=0, verbose=True).fit, x, y)
    out = capsys.readouterr().out
    assert "Iteration 1, loss = " in out and "Iteration 2, loss = " in out
    quiet(MLPClassifier((4,), max_iter=2, random_state=0).fit, x, y)
    assert capsys.readouterr().out == ""


def test_warm_start_continues():
    x, y = blobs()
    est = quiet(MLPClassifier((4,), max_iter=5, random_state=0, warm_start=True).fit, x, y)
    first = params_of(est)
    quiet(est.fit, x, y)
    cold = quiet(MLPClassifier((4,), max_iter=5, random_state=0).fit, x, y)
    assert est.loss_curve_[5] < cold.loss_curve_[0] and len(est.loss_curve_) == 10
    assert not all(np.array_equal(a, b) for a, b in zip(first, params_of(est)))
    quiet(cold.fit, x, y)  # warm_start=False: a fresh start gives the same bits again
    assert same_bits(cold, quiet(MLPClassifier((4,), max_iter=5, random_state=0).fit, x, y))
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same classes"):
        est.fit(x, np.where(y == 2, 1, y))


def test_early_stopping_and_validation_fraction():
    x, y = blobs(100)
    est = quiet(MLPClassifier((6,), early_stopping=True, validation_fraction=0.2, max_iter=15, random_state=0).fit,
                x, y)
    assert len(est.validation_scores_) == est.n_iter_ and est.best_loss_ is None
    assert est.t_ == est.n_iter_ * 80  # the split keeps 80 samples to train
    est2 = quiet(MLPClassifier((6,), early_stopping=True, validation_fraction=0.5, max_iter=15, random_state=0).fit,
                 x, y)
    assert est2.t_ == est2.n_iter_ * 50
    assert est.best_validation_score_ == max(est.validation_scores_)
    with pytest.raises(ValueError, match="validation set is too small"):
        MLPRegressor(early_stopping=True, validation_fraction=0.01).fit(x[:50], x[:50, 0])
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPClassifier(early_stopping=True).partial_fit(x, y, classes=[0, 1, 2])


def test_early_stopping_restores_the_best_weights_and_x_val():
    x, y = blobs(100)
    xv, yv = blobs(40, seed=5)
    est = quiet(MLPClassifier((6,), early_stopping=True, max_iter=40, n_iter_no_change=40, random_state=0).fit,
                x, y, X_val=xv, y_val=yv)
    assert est.t_ == est.n_iter_ * 100  # all of x trains
    assert est.score(xv, yv) == est.best_validation_score_
    reg_x, reg_y = regression_data(100)
    reg = quiet(MLPRegressor(hidden_layer_sizes=(6,), early_stopping=True, max_iter=20, random_state=0).fit, reg_x, reg_y,
                X_val=reg_x[:30], y_val=reg_y[:30])
    assert reg.score(reg_x[:30], reg_y[:30]) == pytest.approx(reg.best_validation_score_)
    with pytest.raises(ValueError, match="early_stopping=True"):
        MLPClassifier().fit(x, y, X_val=xv, y_val=yv)
    with pytest.raises(ValueError, match="together"):
        MLPClassifier(early_stopping=True).fit(x, y, X_val=xv)


def test_stratified_validation_split():
    x, y = blobs(60)
    y = np.where(np.arange(60) < 10, 1, 0)
    est = quiet(MLPClassifier((4,), early_stopping=True, validation_fraction=0.5, max_iter=2, random_state=0).fit,
                x, y)
    assert est.t_ == 2 * 30


def test_regressor_losses():
    x, y = regression_data()
    start = quiet(MLPRegressor(hidden_layer_sizes=(6,), max_iter=1, learning_rate_init=1e-9, random_state=0).fit, x, y)
    near = start.predict(x) + 1.2 * RNG.standard_normal(80)  # errors on both sides of Huber's delta
    fits = {loss: quiet(MLPRegressor(hidden_layer_sizes=(6,), loss=loss, max_iter=20, random_state=0).fit, x,
                        np.abs(y) if loss == "poisson" else near)
            for loss in ("squared_error", "poisson", "absolute_error", "huber")}
    assert fits["poisson"].out_activation_ == "exp" and fits["squared_error"].out_activation_ == "identity"
    assert (fits["poisson"].predict(x) > 0).all()
    for a in fits:
        for b in fits:
            if a != b:
                assert not same_bits(fits[a], fits[b])
    with pytest.raises(ValueError, match="negative"):
        MLPRegressor(loss="poisson").fit(x, y - 5)
    with pytest.raises(ValueError, match="'loss' parameter"):
        MLPRegressor(loss="hinge").fit(x, y)


@pytest.mark.parametrize("loss,per_sample", [
    ("absolute_error", lambda e: np.abs(e)),
    ("huber", lambda e: np.where(np.abs(e) <= 1, 0.5 * e**2, np.abs(e) - 0.5)),
])
def test_mae_and_huber_objectives(loss, per_sample):
    x, y = regression_data(30, 3, outputs=2)
    est = quiet(MLPRegressor(hidden_layer_sizes=(5,), loss=loss, alpha=0.2, max_iter=2, random_state=0, dtype="float64").fit, x, y)
    data = _solvers.Data(np.ascontiguousarray(x), est._targets(y), None, False)
    value = _solvers.loss_and_gradient(est._net, data, 0.2, _solvers._kernel_mask(est._net), 30.0)[0]
    penalty = 0.5 * 0.2 * sum((c**2).sum() for c in est.coefs_)
    expect = (per_sample(est.predict(x) - y).sum() + penalty) / 30
    assert value == pytest.approx(expect, rel=1e-10)


def test_class_weight_equals_sample_weight():
    from sklearn.utils.class_weight import compute_sample_weight
    x, y = blobs()
    y = np.where(y == 2, 1, y)
    for cw in ("balanced", {0: 3.0, 1: 0.5}):
        a = quiet(MLPClassifier((4,), class_weight=cw, max_iter=3, random_state=0).fit, x, y)
        b = quiet(MLPClassifier((4,), max_iter=3, random_state=0).fit, x, y,
                  sample_weight=compute_sample_weight(cw, y))
        c = quiet(MLPClassifier((4,), max_iter=3, random_state=0).fit, x, y)
        assert same_bits(a, b) and not same_bits(a, c)


def test_sample_weight_semantics():
    """scikit-learn 1.7: zero weights remove samples, integer weights repeat them; the loss
    and the penalty divide by the sum of weights (so without a penalty a constant scale
    changes nothing; with one, it weakens the penalty)."""
    x, y = blobs(40)
    sw = RNG.integers(0, 4, 40).astype(float)
    sw[0] = 2
    kw = dict(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30, random_state=0, dtype="float64")
    weighted = quiet(MLPClassifier(**kw).fit, x, y, sample_weight=sw)
    repeated = quiet(MLPClassifier(**kw).fit, np.repeat(x, sw.astype(int), 0), np.repeat(y, sw.astype(int)))
    np.testing.assert_allclose(weighted.predict_proba(x), repeated.predict_proba(x), rtol=1e-7, atol=1e-9)
    no_penalty = quiet(MLPClassifier(**kw, alpha=0.0).fit, x, y, sample_weight=sw)
    scaled = quiet(MLPClassifier(**kw, alpha=0.0).fit, x, y, sample_weight=sw * 7.5)
    np.testing.assert_allclose(no_penalty.predict_proba(x), scaled.predict_proba(x), rtol=1e-7, atol=1e-9)
    strong = quiet(MLPClassifier(**kw, alpha=1.0).fit, x, y, sample_weight=sw)
    weak = quiet(MLPClassifier(**kw, alpha=1.0).fit, x, y, sample_weight=sw * 100)
    assert np.sum(weak.coefs_[0] ** 2) > np.sum(strong.coefs_[0] ** 2)
    ones = quiet(MLPClassifier(**kw).fit, x, y, sample_weight=np.ones(40))
    assert same_bits(ones, quiet(MLPClassifier(**kw).fit, x, y))
    with pytest.raises(ValueError, match="at least one non-zero"):
        MLPClassifier().fit(x, y, sample_weight=np.zeros(40))
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(39,\), expected \(40,\)"):
        MLPClassifier().fit(x, y, sample_weight=np.ones(39))


def test_dropout():
    x, y = blobs()
    a = quiet(MLPClassifier((16,), dropout=0.3, max_iter=3, random_state=0).fit, x, y)
    b = quiet(MLPClassifier((16,), dropout=0.3, max_iter=3, random_state=0).fit, x, y)
    c = quiet(MLPClassifier((16,), max_iter=3, random_state=0).fit, x, y)
    d = quiet(MLPClassifier((16, 8), dropout=[0.0, 0.5], max_iter=3, random_state=0).fit, x, y)
    assert same_bits(a, b) and not same_bits(a, c)
    assert [l["type"] for l in d._spec["layers"]] == ["dense", "dense", "dropout", "dense"]
    np.testing.assert_array_equal(a.predict_proba(x), a.predict_proba(x))  # inference: no dropout
    with pytest.raises(ValueError, match="stochastic solver"):
        MLPClassifier(dropout=0.2, solver="lbfgs").fit(x, y)
    with pytest.raises(ValueError, match="one rate per hidden layer"):
        MLPClassifier((4, 4), dropout=[0.1]).fit(x, y)
    with pytest.raises(ValueError, match="'dropout' parameter"):
        MLPClassifier(dropout=1.0).fit(x, y)


def test_dtype():
    x, y = blobs()
    auto64 = quiet(MLPClassifier((4,), max_iter=2, random_state=0).fit, x, y)
    auto32 = quiet(MLPClassifier((4,), max_iter=2, random_state=0).fit, x.astype(np.float32), y)
    forced = quiet(MLPClassifier((4,), max_iter=2, random_state=0, dtype="float64").fit, x.astype(np.float32), y)
    assert auto64.coefs_[0].dtype == np.float64 and auto32.coefs_[0].dtype == np.float32
    assert forced.coefs_[0].dtype == np.float64 and auto32.predict_proba(x).dtype == np.float32
    f32 = quiet(MLPClassifier((4,), max_iter=2, random_state=0, dtype="float32").fit, x, y)
    assert f32.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(f32.predict_proba(x), auto64.predict_proba(x), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="'dtype' parameter"):
        MLPClassifier(dtype="float16").fit(x, y)


def test_n_jobs_sets_the_threads_and_not_the_result(monkeypatch):
    from dnnx import config
    x, y = blobs()
    seen = []
    real = config.set_num_threads
    monkeypatch.setattr(config, "set_num_threads", lambda n: (seen.append(n), real(n)))
    before = dnnx.get_num_threads()
    one = quiet(MLPClassifier((8,), max_iter=3, random_state=0, n_jobs=1).fit, x, y)
    two = quiet(MLPClassifier((8,), max_iter=3, random_state=0, n_jobs=3).fit, x, y)
    assert same_bits(one, two) and dnnx.get_num_threads() == before
    assert (1 in seen or before == 1) and (3 in seen or before == 3)
    with pytest.raises(ValueError, match="n_jobs"):
        MLPClassifier(n_jobs=0).fit(x, y)


def test_lbfgs_runs_scipy_with_one_blas_thread(monkeypatch):
    # OpenBLAS's idle threads spin between L-BFGS-B's vector operations and take the cores
    # from dnnx's loss and gradient: the minimizer runs under a 1-thread BLAS limit, which
    # is lifted again afterwards.
    import scipy.optimize
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    if not blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can see")
    real, seen = scipy.optimize.minimize, []
    monkeypatch.setattr(scipy.optimize, "minimize", lambda *a, **k: (seen.append(blas_threads()), real(*a, **k))[1])
    x, y = blobs()
    with threadpool_limits(limits=2, user_api="blas"):
        quiet(MLPClassifier((8,), solver="lbfgs", max_iter=5, random_state=0).fit, x, y)
        after = blas_threads()
    assert seen and all(n == 1 for n in seen[0]), seen
    assert all(n == 2 for n in after), after


def test_partial_fit():
    x, y = blobs()
    est = MLPClassifier((4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(x, y)
    est.partial_fit(x, y, classes=[0, 1, 2]).partial_fit(x, y).partial_fit(x, y)
    once = MLPClassifier((4,), random_state=0).partial_fit(x, y, classes=[0, 1, 2], epochs=3)
    assert same_bits(est, once) and est.t_ == once.t_ == 270 and once.n_iter_ == 3 and est.n_iter_ == 1
    assert len(est.loss_curve_) == 3
    with pytest.raises(ValueError, match="classes not in"):
        est.partial_fit(x, y + 5)
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit(x, y, classes=[0, 1, 2])
    assert not hasattr(MLPRegressor(solver="lbfgs"), "partial_fit")
    reg_x, reg_y = regression_data()
    reg = MLPRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(reg_x, reg_y, epochs=2)
    assert reg.n_iter_ == 2 and reg.t_ == 160


def test_predict_proba_log_proba_and_score():
    x, y = blobs()
    est = quiet(MLPClassifier((8,), max_iter=50, random_state=0).fit, x, y)
    p = est.predict_proba(x)
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(est.predict_log_proba(x), np.log(p), rtol=1e-6)
    np.testing.assert_array_equal(est.predict(x), est.classes_[p.argmax(axis=1)])
    assert est.score(x, y) == np.mean(est.predict(x) == y)
    binary = quiet(MLPClassifier((8,), max_iter=5, random_state=0).fit, x, y % 2)
    pb = binary.predict_proba(x)
    assert pb.shape == (90, 2) and binary.n_outputs_ == 1 and binary.out_activation_ == "logistic"
    np.testing.assert_array_equal(binary.predict(x), (pb[:, 1] > 0.5).astype(int))
    rx, ry = regression_data()
    reg = quiet(MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit, rx, ry)
    from sklearn.metrics import r2_score
    assert reg.score(rx, ry) == pytest.approx(r2_score(ry, reg.predict(rx)))


def test_multilabel_and_multioutput():
    x, yc = blobs()
    Y = np.stack([yc == 0, yc == 1, x[:, 0] > 0], axis=1).astype(int)
    est = quiet(MLPClassifier((8,), max_iter=200, random_state=0).fit, x, Y)
    assert est.out_activation_ == "logistic" and est.n_outputs_ == 3
    assert est.predict(x).shape == (90, 3) and est.predict_proba(x).shape == (90, 3)
    assert (est.predict(x) == Y).mean() > 0.85
    rx, ry = regression_data(outputs=3)
    reg = quiet(MLPRegressor(hidden_layer_sizes=(8,), max_iter=100, random_state=0).fit, rx, ry)
    assert reg.predict(rx).shape == (80, 3) and reg.n_outputs_ == 3


def test_string_and_noncontiguous_labels():
    x, y = blobs()
    names = np.array(["cat", "dog", "emu"])[y]
    est = quiet(MLPClassifier((8,), max_iter=100, random_state=0).fit, x, names)
    assert list(est.classes_) == ["cat", "dog", "emu"] and set(est.predict(x)) <= set(names)
    odd = quiet(MLPClassifier((8,), max_iter=100, random_state=0).fit, x, np.array([-7, 3, 100])[y])
    np.testing.assert_array_equal(odd.classes_, [-7, 3, 100])
    assert odd.score(x, np.array([-7, 3, 100])[y]) == est.score(x, names)


def test_sparse_input_is_densified_per_batch(monkeypatch):
    x, y = blobs(90)
    x[np.abs(x) < 1] = 0
    shapes = []
    for cls in (sp.csr_matrix, sp.csr_array):
        real = cls.toarray
        monkeypatch.setattr(cls, "toarray", lambda self, *a, **k: (shapes.append(self.shape), real(self, *a, **k))[1])
    kw = dict(hidden_layer_sizes=(5,), batch_size=20, max_iter=4, random_state=0, shuffle=False)
    sparse = quiet(MLPClassifier(**kw).fit, sp.csr_matrix(x), y)
    rows = [s[0] for s in shapes if s[1] == 5]  # (LabelBinarizer densifies its own sparse labels)
    assert rows and max(rows) <= 20
    dense = quiet(MLPClassifier(**kw).fit, x, y)
    assert same_bits(sparse, dense)  # the same batches in the same order
    np.testing.assert_array_equal(sparse.predict_proba(sp.csc_matrix(x)), dense.predict_proba(x))
    shuffled = quiet(MLPClassifier((5,), batch_size=20, max_iter=4, random_state=0).fit, sp.csr_matrix(x), y)
    assert not same_bits(shuffled, sparse)
    lb = MLPClassifier((5,), solver="lbfgs", max_iter=20, random_state=0)
    quiet(lb.fit, sp.csr_matrix(x), y)
    np.testing.assert_allclose(lb.predict_proba(x), quiet(MLPClassifier((5,), solver="lbfgs", max_iter=20,
                                                                        random_state=0).fit, x, y).predict_proba(x),
                               rtol=1e-6, atol=1e-9)


def test_convergence_warning_is_sklearns():
    x, y = blobs()
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        MLPClassifier((4,), max_iter=3, random_state=0).fit(x, y)
        SkMLPClassifier((4,), max_iter=3, random_state=0).fit(x, y)
    msgs = [(w.category, str(w.message)) for w in got]
    assert len(msgs) == 2 and msgs[0] == msgs[1]


# ---- tags, clone, pickle -------------------------------------------------------------------
def test_tags_and_clone():
    from sklearn.utils import get_tags
    tags = get_tags(MLPClassifier())
    assert tags.input_tags.sparse and tags.classifier_tags.multi_label and tags.estimator_type == "classifier"
    assert get_tags(MLPRegressor()).estimator_type == "regressor"
    est = MLPClassifier((3, 2), activation="gelu", dropout=[0.1, 0.2], class_weight="balanced", dtype="float64",
                        n_jobs=1)
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    assert set(MLPClassifier().get_params()) - set(SkMLPClassifier().get_params()) == {"class_weight", "dropout",
                                                                                       "dtype", "n_jobs"}
    assert set(SkMLPRegressor().get_params()) <= set(MLPRegressor().get_params())
    for name, value in SkMLPRegressor().get_params().items():  # scikit-learn's defaults
        assert MLPRegressor().get_params()[name] == value, name


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_pickle_and_joblib_round_trips_are_bitwise(tmp_path, solver):
    import joblib
    x, y = blobs()
    est = quiet(MLPClassifier((6,), solver=solver, max_iter=5, random_state=0).fit, x, y)
    for back in (pickle.loads(pickle.dumps(est)), joblib.load(joblib.dump(est, tmp_path / "m.joblib")[0])):
        np.testing.assert_array_equal(back.predict_proba(x), est.predict_proba(x))
        assert back.get_params() == est.get_params() and back.loss_ == est.loss_
        assert not back.coefs_[0].flags.writeable
        if solver != "lbfgs":  # the optimizer state travels too: training continues identically
            quiet(back.partial_fit, x, y)
            twin = pickle.loads(pickle.dumps(est))
            quiet(twin.partial_fit, x, y)
            assert same_bits(back, twin)
    cont = pickle.loads(pickle.dumps(est))
    if solver != "lbfgs":
        quiet(est.partial_fit, x, y)
        quiet(cont.partial_fit, x, y)
        assert same_bits(est, cont)


def test_coefs_are_read_only_views_of_the_network():
    x, y = blobs()
    est = quiet(MLPClassifier((6,), max_iter=2, random_state=0).fit, x, y)
    with pytest.raises(ValueError):
        est.coefs_[0][0, 0] = 1.0
    quiet(est.partial_fit, x, y)
    np.testing.assert_array_equal(est.coefs_[0], est._net.params()[0])


# ---- from_sklearn ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["multiclass", "binary", "multilabel", "regression", "multioutput", "poisson"])
def test_from_sklearn_predicts_the_same(case):
    x, yc = blobs(80, 5, 3)
    if case in ("multiclass", "binary", "multilabel"):
        y = {"multiclass": np.array(["a", "b", "c"])[yc], "binary": yc % 2,
             "multilabel": np.stack([yc == 0, x[:, 1] > 0], 1).astype(int)}[case]
        sk = quiet(SkMLPClassifier((7, 5), activation="tanh", max_iter=50, random_state=0).fit, x, y)
    else:
        y = {"regression": x[:, 0] * 2, "multioutput": x[:, :2], "poisson": RNG.poisson(2, 80).astype(float)}[case]
        sk = quiet(SkMLPRegressor(hidden_layer_sizes=(7,), activation="logistic", loss="poisson" if case == "poisson" else
                                  "squared_error", max_iter=50, random_state=0).fit, x, y)
    ours = from_sklearn(sk)
    assert ours.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(ours.predict(x) if case != "multiclass" and case != "binary" and case != "multilabel"
                               else ours.predict_proba(x), sk.predict(x) if case in ("regression", "multioutput",
                                                                                       "poisson")
                               else sk.predict_proba(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(x), sk.predict(x)) if case not in ("regression", "multioutput",
                                                                                   "poisson") else None
    f32 = from_sklearn(sk, dtype="float32")
    got = f32.predict(x) if case in ("regression", "multioutput", "poisson") else f32.predict_proba(x)
    want = sk.predict(x) if case in ("regression", "multioutput", "poisson") else sk.predict_proba(x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert ours.n_iter_ == sk.n_iter_ and ours.loss_ == sk.loss_ and ours.out_activation_ == sk.out_activation_
    assert ours.score(x, y) == pytest.approx(sk.score(x, y))
    quiet(ours.partial_fit, x, y)  # a dnnx estimator from then on
    with pytest.raises(TypeError, match="from_sklearn expects"):
        from_sklearn(ours)


# ---- scikit-learn's tools ------------------------------------------------------------------
def test_pipeline_gridsearch_cross_val_score():
    from sklearn.model_selection import GridSearchCV, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    x, y = blobs(120)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=60, learning_rate_init=0.02, random_state=0))
    scores = quiet(cross_val_score, pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.8
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1.0], "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]},
                        cv=2)
    quiet(grid.fit, x, y)
    assert set(grid.best_params_) == {"mlpclassifier__alpha", "mlpclassifier__hidden_layer_sizes"}
    assert grid.score(x, y) > 0.8
    rx, ry = regression_data(90)
    assert quiet(cross_val_score, MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100, random_state=0), rx, ry,
                 cv=3).mean() > 0.5


def test_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    x, y = blobs()
    df = pd.DataFrame(x, columns=list("abcde"))
    est = quiet(MLPClassifier((4,), max_iter=3, random_state=0).fit, df, pd.Series(y))
    np.testing.assert_array_equal(est.feature_names_in_, list("abcde"))
    with pytest.raises(ValueError, match="feature names"):
        est.predict(df.rename(columns={"a": "z"}))


def test_bad_parameters_raise_clear_errors():
    x, y = blobs()
    for kw, match in [(dict(solver="newton"), "'solver' parameter"), (dict(alpha=-1.0), "'alpha' parameter"),
                      (dict(batch_size=0), "'batch_size' parameter"), (dict(learning_rate="fast"), "'learning_rate'"),
                      (dict(learning_rate_init=0.0), "'learning_rate_init'"), (dict(max_iter=0), "'max_iter'"),
                      (dict(momentum=1.5), "'momentum'"), (dict(validation_fraction=1.0), "'validation_fraction'"),
                      (dict(beta_1=1.0), "'beta_1'"), (dict(beta_2=-0.1), "'beta_2'"), (dict(epsilon=0.0), "'epsilon'"),
                      (dict(n_iter_no_change=0), "'n_iter_no_change'"), (dict(max_fun=0), "'max_fun'"),
                      (dict(tol=-1.0), "'tol'"), (dict(power_t=-1.0), "'power_t'"),
                      (dict(random_state=-1), "'random_state'")]:
        with pytest.raises(ValueError, match=match):
            MLPClassifier(**kw).fit(x, y)
    for kw, match in [(dict(shuffle="yes"), "'shuffle'"), (dict(max_iter=2.5), "'max_iter'"),
                      (dict(hidden_layer_sizes=(2.5,)), "hidden_layer_sizes")]:
        with pytest.raises(TypeError, match=match):
            MLPClassifier(**kw).fit(x, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        MLPClassifier().fit(x, x[:, 0])
