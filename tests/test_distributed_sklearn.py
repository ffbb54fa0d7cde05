"""dnnx.sklearn estimators in sharded mode: ``fit`` on every rank's own rows after
``dnnx.distributed.init()``, under ``mpiexec -n 2`` (tests/distributed_sklearn_worker.py,
skipped without mpi4py or the MPI wheel's mpiexec), compared with one process on the union;
and the one-rank communicator, which runs every sharded code path without MPI."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from dnnx import distributed as dist
from dnnx.sklearn import MLPClassifier, MLPRegressor
from mpi_util import run_workers

HERE = Path(__file__).resolve().parent
B = 16  # rows per rank and step


def classification():
    """192 rows, two equal shards; class 2 only in rank 0's rows; sample weights."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(192, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    y[:96][X[:96, 1] > 0.6] = 2
    sw = rng.uniform(0.2, 2.0, size=192)
    return X, y, sw, [np.arange(0, 96), np.arange(96, 192)]


def regression():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = (X[:, 0] - 2 * X[:, 1] + 0.1 * rng.normal(size=200)).astype(np.float32)
    sw = rng.uniform(0.5, 1.5, size=200)
    return X, y, sw, [np.arange(0, 80), np.arange(80, 160)], [np.arange(160, 180), np.arange(180, 200)]


def interleaved(parts, b):
    """The rows of one process whose batches of 2b are the union of each step's shards."""
    steps = max(-(-len(p) // b) for p in parts)
    return np.concatenate([p[s * b:(s + 1) * b] for s in range(steps) for p in parts])


@pytest.fixture(autouse=True)
def _leave_distributed_mode():
    yield
    dist.shutdown()


def _coefs(est):
    return [np.asarray(a) for pair in zip(est.coefs_, est.intercepts_) for a in pair]


# -- without MPI: the one-rank world runs every sharded code path -----------------------------
@pytest.mark.parametrize("make", [
    lambda: MLPClassifier(hidden_layer_sizes=(8,), solver="adam", batch_size=32, shuffle=False, alpha=1e-3),
    lambda: MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", early_stopping=True, shuffle=False, alpha=1e-3),
    lambda: MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", alpha=1e-3),
    lambda: MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, shuffle=False, batch_size=32),
    lambda: MLPRegressor(hidden_layer_sizes=(8,), loss="poisson", shuffle=False, batch_size=32),
], ids=["adam", "sgd-early-stopping", "lbfgs", "regressor-early-stopping", "poisson"])
def test_one_rank_sharded_fit_equals_plain_fit(make):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    est0 = make()
    target = y if isinstance(est0, MLPClassifier) else np.abs(X[:, 0] * 2 + X[:, 2])
    runs = []
    for sharded in (False, True):
        if sharded:
            dist.init(dist.SingleProcessCommunicator())
        est = make().set_params(random_state=0, max_iter=12)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, target)
        runs.append(est)
        dist.shutdown()
    a, b = runs
    for p, q in zip(_coefs(a), _coefs(b)):
        np.testing.assert_array_equal(p, q)  # no shuffle, one rank: the same steps
    assert a.n_iter_ == b.n_iter_
    assert b.loss_ == pytest.approx(a.loss_, rel=1e-12)
    if getattr(a, "validation_scores_", None):
        np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=1e-5)


def test_one_rank_sharded_shuffle_is_reproducible():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    dist.init(dist.SingleProcessCommunicator())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a short fit on purpose
        a, b = (MLPClassifier(hidden_layer_sizes=(6,), random_state=2, max_iter=3, batch_size=16).fit(X, y)
                for _ in range(2))
    for p, q in zip(_coefs(a), _coefs(b)):
        np.testing.assert_array_equal(p, q)


# -- under mpiexec -n 2 ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mpi_run(tmp_path_factory):
    return run_workers("distributed_sklearn_worker.py", tmp_path_factory.mktemp("mpi_sklearn"))


def _weights(arrays, key):
    n = len([k for k in arrays if k.startswith(f"{key}_w")])
    return [a for i in range(n) for a in (arrays[f"{key}_w{i}"], arrays[f"{key}_b{i}"])]


def test_mpi_weights_and_decisions_identical_on_every_rank(mpi_run):
    facts, arrays, _ = mpi_run
    assert sorted(arrays[0]) == sorted(arrays[1])
    for k in arrays[0]:
        np.testing.assert_array_equal(arrays[0][k], arrays[1][k], err_msg=k)  # bitwise
    a, b = facts
    for key in ("clf_adam", "clf_sgd", "reg_es", "lbfgs", "uneven", "uneven_auto", "partial"):
        assert a[key] == b[key], key  # loss curves, validation scores, n_iter_, t_, classes_


def test_mpi_classifier_equals_one_process_on_the_union(mpi_run):
    """Sample weights, a penalty, balanced class weights, and a class rank 1 never sees."""
    facts, arrays, _ = mpi_run
    X, y, sw, parts = classification()
    assert facts[1]["rank1_classes"] == [0, 1]
    order = interleaved(parts, B)
    for solver, extra in (("adam", {}), ("sgd", {"class_weight": "balanced", "momentum": 0.5})):
        key = f"clf_{solver}"
        one = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, batch_size=2 * B, shuffle=False, alpha=1e-2,
                            learning_rate_init=0.05, max_iter=6, tol=0.0, random_state=0, **extra)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one.fit(X[order], y[order], sample_weight=sw[order])
        assert facts[0][key]["classes"] == ["0", "1", "2"]
        for got, want in zip(_weights(arrays[0], key), _coefs(one)):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-6, err_msg=key)
        np.testing.assert_allclose(facts[0][key]["loss_curve"], one.loss_curve_, rtol=1e-5)
        assert facts[0][key]["t"] == one.t_ == 6 * 192


def test_mpi_regressor_early_stopping_equals_one_process_on_the_union(mpi_run):
    facts, arrays, _ = mpi_run
    X, y, sw, parts, val = regression()
    order = interleaved(parts, B)
    vrows = np.concatenate(val)
    one = MLPRegressor(hidden_layer_sizes=(6,), batch_size=2 * B, shuffle=False, alpha=1e-3, learning_rate_init=0.02,
                       max_iter=40, early_stopping=True, n_iter_no_change=2, tol=0.05, random_state=1)
    one.fit(X[order], y[order], sample_weight=sw[order], X_val=X[vrows], y_val=y[vrows])
    got = facts[0]["reg_es"]
    assert got["n_iter"] == one.n_iter_ < 40  # stopped early, in the same epoch
    np.testing.assert_allclose(got["validation_scores"], one.validation_scores_, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got["loss_curve"], one.loss_curve_, rtol=1e-5)
    for a, b in zip(_weights(arrays[0], "reg_es"), _coefs(one)):  # the best weights, restored
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)


def test_mpi_lbfgs_equals_one_process_on_the_union(mpi_run):
    facts, arrays, _ = mpi_run
    X, y, sw, parts = classification()
    rows = np.concatenate(parts)
    one = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", alpha=1e-2, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one.fit(X[rows].astype(np.float64), y[rows], sample_weight=sw[rows])
    assert facts[0]["lbfgs"]["n_iter"] == one.n_iter_
    assert facts[0]["lbfgs"]["loss"] == pytest.approx(one.loss_, rel=1e-9)
    for a, b in zip(_weights(arrays[0], "lbfgs"), _coefs(one)):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_mpi_uneven_shards_and_partial_fit(mpi_run):
    facts, _, _ = mpi_run
    f = facts[0]
    assert f["uneven"]["n_iter"] < 30  # stopped on the training loss, every rank in the same epoch
    assert f["uneven"]["t"] == 93 * f["uneven"]["n_iter"]  # every row of both shards counted
    assert f["uneven_auto"]["t"] == 93 * 4
    assert f["partial"]["classes"] == ["0", "1", "2"] and f["partial"]["t"] == 93 * 3


def test_mpi_only_rank0_prints(mpi_run):
    _, _, outputs = mpi_run
    assert outputs[1].splitlines() == ["worker rank 1 output is captured"], outputs[1]
    assert "Iteration 2, loss = " in outputs[0]


def test_mpi_disagreement_and_a_bad_shard_raise_on_every_rank(mpi_run):
    facts, _, _ = mpi_run
    for f in facts:
        assert f["params_error"].startswith("dnnx.distributed: the ranks disagree on the estimator (params: rank 0 "
                                            "has {"), f["params_error"]
        assert "hidden_layer_sizes" in f["params_error"]
    assert facts[0]["data_error"].startswith("dnnx.distributed: rank 1 failed: ValueError: Input X contains NaN")
    assert "Input X contains NaN" in facts[1]["data_error"]


def test_one_rank_sharded_fit_takes_sparse_rows():
    """CSR rows are densified a batch at a time in sharded mode too: the same model as the
    plain sparse fit (no shuffle) and as the dense one."""
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    X = rng.normal(size=(150, 6)).astype(np.float32)
    X[rng.random(X.shape) < 0.6] = 0
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    runs = []
    for sharded, rows in ((False, sp.csr_matrix(X)), (True, sp.csr_matrix(X)), (True, X)):
        if sharded:
            dist.init(dist.SingleProcessCommunicator())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs.append(MLPClassifier(hidden_layer_sizes=(7,), shuffle=False, batch_size=32, max_iter=4,
                                      random_state=0).fit(rows, y))
        dist.shutdown()
    for other in runs[1:]:
        for p, q in zip(_coefs(runs[0]), _coefs(other)):
            np.testing.assert_array_equal(p, q)
