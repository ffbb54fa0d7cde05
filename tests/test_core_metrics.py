"""Metrics of _core.Network against plain NumPy (Keras 3 definitions, sample-weighted)."""

import numpy as np
import pytest

from core_util import make_net

RNG = np.random.default_rng(11)


def identity_eval(p, y, metric, loss, sw=None, batch_size=0, act="linear"):
    net = make_net([{"type": "activation", "activation": act}], p.shape[1], loss, None, [metric])
    return net.evaluate(p, y, sw, batch_size)


def wmean(v, sw):
    sw = np.ones(len(v)) if sw is None else sw
    return float((v * sw).sum() / sw.sum())


@pytest.mark.parametrize("weighted", [False, True])
def test_accuracies(weighted):
    n, k = 50, 6
    p = RNG.uniform(0, 1, (n, k))
    labels = RNG.integers(0, k, n)
    sw = RNG.uniform(0, 2, n) if weighted else None
    onehot = np.eye(k)[labels]
    sparse = labels[:, None].astype(np.float64)
    cce, scce = {"name": "categorical_crossentropy"}, {"name": "sparse_categorical_crossentropy"}
    hit = (p.argmax(1) == labels).astype(float)
    top3 = (np.argsort(-p, axis=1)[:, :3] == labels[:, None]).any(1).astype(float)
    assert identity_eval(p, onehot, {"name": "categorical_accuracy", "key": "acc"}, cce, sw, 7)["acc"] == \
        pytest.approx(wmean(hit, sw), rel=1e-12)
    assert identity_eval(p, sparse, {"name": "sparse_categorical_accuracy"}, scce, sw)[
        "sparse_categorical_accuracy"] == pytest.approx(wmean(hit, sw), rel=1e-12)
    assert identity_eval(p, onehot, {"name": "top_k_categorical_accuracy", "k": 3, "key": "t"}, cce, sw)["t"] == \
        pytest.approx(wmean(top3, sw), rel=1e-12)
    assert identity_eval(p, sparse, {"name": "sparse_top_k_categorical_accuracy", "k": 3, "key": "t"}, scce,
                         sw)["t"] == pytest.approx(wmean(top3, sw), rel=1e-12)


def test_binary_accuracy_probabilities_and_logits():
    z = RNG.standard_normal((40, 3))
    y = RNG.integers(0, 2, (40, 3)).astype(np.float64)
    expect = ((z > 0) == y).mean(1).mean()
    p = 1 / (1 + np.exp(-z))
    got = identity_eval(p, y, {"name": "binary_accuracy", "key": "acc"}, {"name": "binary_crossentropy"})["acc"]
    assert got == pytest.approx(expect, rel=1e-12)
    got = identity_eval(z, y, {"name": "binary_accuracy", "key": "acc"},
                        {"name": "binary_crossentropy", "from_logits": True})["acc"]
    assert got == pytest.approx(expect, rel=1e-12)


def test_mse_mae_metrics():
    p, y = RNG.standard_normal((20, 4)), RNG.standard_normal((20, 4))
    sw = RNG.uniform(0, 1, 20)
    logs = make_net([{"type": "activation"}], 4, {"name": "mae"}, None,
                    [{"name": "mse"}, {"name": "mae", "key": "m"}]).evaluate(p, y, sw, 3)
    assert logs["mse"] == pytest.approx(wmean(((p - y) ** 2).mean(1), sw), rel=1e-12)
    assert logs["m"] == pytest.approx(wmean(np.abs(p - y).mean(1), sw), rel=1e-12)


def test_precision_recall():
    p = RNG.uniform(0, 1, (60, 2))
    y = RNG.integers(0, 2, (60, 2)).astype(np.float64)
    sw = RNG.uniform(0, 2, 60)
    w = np.repeat(sw[:, None], 2, 1)
    pred = p > 0.5
    tp = (w * (pred & (y == 1))).sum()
    fp = (w * (pred & (y == 0))).sum()
    fn = (w * (~pred & (y == 1))).sum()
    bce = {"name": "binary_crossentropy"}
    assert identity_eval(p, y, {"name": "precision"}, bce, sw)["precision"] == pytest.approx(tp / (tp + fp), rel=1e-12)
    assert identity_eval(p, y, {"name": "recall"}, bce, sw)["recall"] == pytest.approx(tp / (tp + fn), rel=1e-12)


def keras_auc(p, y, sw, num_thresholds=200):
    eps = 1e-7
    thr = np.array([-eps] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1 + eps])
    w = np.repeat(sw[:, None], p.shape[1], 1).ravel()
    p, y = p.ravel(), y.ravel()
    above = p[None, :] > thr[:, None]
    tp = (above * (w * y)).sum(1)
    fp = (above * (w * (1 - y))).sum(1)
    tpr, fpr = tp / (w * y).sum(), fp / (w * (1 - y)).sum()
    return float(((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2).sum())


@pytest.mark.parametrize("num_thresholds", [200, 13])
def test_auc(num_thresholds):
    n = 300
    y = RNG.integers(0, 2, (n, 1)).astype(np.float64)
    p = np.clip(0.3 * y + RNG.uniform(0, 0.7, (n, 1)), 0, 1)
    sw = RNG.uniform(0.5, 1.5, n)
    got = identity_eval(p, y, {"name": "auc", "num_thresholds": num_thresholds}, {"name": "binary_crossentropy"},
                        sw, 64)["auc"]
    assert got == pytest.approx(keras_auc(p, y, sw, num_thresholds), rel=1e-9)
    if num_thresholds == 200:
        sklearn = pytest.importorskip("sklearn.metrics")
        assert got == pytest.approx(sklearn.roc_auc_score(y.ravel(), p.ravel(), sample_weight=sw), abs=5e-3)


def test_epoch_metrics_are_running_means_over_batches():
    n = 23
    p = RNG.uniform(0, 1, (n, 4))
    labels = RNG.integers(0, 4, n)
    y = labels[:, None].astype(np.float64)
    net = make_net([{"type": "activation"}], 4, {"name": "sparse_categorical_crossentropy"}, {"name": "sgd"},
                   [{"name": "sparse_categorical_accuracy", "key": "accuracy"}])
    logs = net.train_epoch(p, y, None, 5, True, 0, np.full(5, 0.1), None, 0)  # no weights: p passes through
    assert logs["accuracy"] == pytest.approx((p.argmax(1) == labels).mean(), rel=1e-12)
