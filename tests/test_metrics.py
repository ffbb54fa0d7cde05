"""Metrics computed in C++ against NumPy / scikit-learn references on the model's outputs."""

import numpy as np
import pytest

import dnnx
from dnnx import layers


def fitted_binary(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.7 * rng.standard_normal(n) > 0).astype(np.float32)
    m = dnnx.Sequential([dnnx.Input(shape=(6,)), layers.Dense(8, activation="relu"),
                         layers.Dense(1, activation="sigmoid")], seed=seed)
    m.compile(optimizer="adam", loss="binary_crossentropy",
              metrics=["accuracy", "auc", "precision", "recall", "mse", "mae"])
    m.fit(x, y, epochs=3, verbose=0)
    return m, x, y


def test_binary_metrics_match_reference():
    m, x, y = fitted_binary()
    res = m.evaluate(x, y, return_dict=True)
    p = m.predict(x)[:, 0].astype(np.float64)
    pred = p > 0.5
    tp, fp, fn = np.sum(pred & (y == 1)), np.sum(pred & (y == 0)), np.sum(~pred & (y == 1))
    np.testing.assert_allclose(res["accuracy"], np.mean(pred == (y == 1)), atol=1e-6)
    np.testing.assert_allclose(res["precision"], tp / (tp + fp), atol=1e-6)
    np.testing.assert_allclose(res["recall"], tp / (tp + fn), atol=1e-6)
    np.testing.assert_allclose(res["mse"], np.mean((p - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(res["mae"], np.mean(np.abs(p - y)), rtol=1e-5)
    bce = -np.mean(y * np.log(np.clip(p, 1e-7, 1 - 1e-7)) + (1 - y) * np.log(np.clip(1 - p, 1e-7, 1 - 1e-7)))
    np.testing.assert_allclose(res["loss"], bce, rtol=1e-4)
    # AUC: Keras-style thresholded ROC approximates the exact AUC closely
    order = np.argsort(-p)
    ys = y[order]
    tpr = np.concatenate([[0], np.cumsum(ys) / ys.sum()])
    fpr = np.concatenate([[0], np.cumsum(1 - ys) / (1 - ys).sum()])
    exact = np.trapezoid(tpr, fpr) if hasattr(np, "trapezoid") else np.trapz(tpr, fpr)
    assert abs(res["auc"] - exact) < 0.01


def test_auc_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    m, x, y = fitted_binary(seed=2)
    res = m.evaluate(x, y, return_dict=True)
    assert abs(res["auc"] - sk.roc_auc_score(y, m.predict(x)[:, 0])) < 0.01


def test_categorical_and_top_k():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 5)).astype(np.float32)
    y = rng.integers(0, 7, 200)
    onehot = np.eye(7, dtype=np.float32)[y]
    m = dnnx.Sequential([dnnx.Input(shape=(5,)), layers.Dense(7, activation="softmax")], seed=3)
    m.compile(optimizer="sgd", loss="categorical_crossentropy",
              metrics=["accuracy", dnnx.metrics.TopKCategoricalAccuracy(k=3, name="top3")])
    res = m.evaluate(x, onehot, return_dict=True)
    p = m.predict(x)
    np.testing.assert_allclose(res["accuracy"], np.mean(p.argmax(1) == y), atol=1e-6)
    top3 = np.argsort(-p, axis=1)[:, :3]
    np.testing.assert_allclose(res["top3"], np.mean([y[i] in top3[i] for i in range(len(y))]), atol=1e-6)
    s = dnnx.Sequential([dnnx.Input(shape=(5,)), layers.Dense(7, activation="softmax")], seed=3)
    s.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
              metrics=["accuracy", dnnx.metrics.TopKCategoricalAccuracy(k=3, name="top3")])
    rs = s.evaluate(x, y, return_dict=True)
    np.testing.assert_allclose(rs["accuracy"], res["accuracy"])
    np.testing.assert_allclose(rs["top3"], res["top3"])
    np.testing.assert_allclose(rs["loss"], res["loss"], rtol=1e-5)


def test_weighted_accuracy():
    # Keras 3: `metrics` ignore sample weights, `weighted_metrics` use them.
    m, x, y = fitted_binary()
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"])
    w = np.linspace(0, 2, len(y))
    res = m.evaluate(x, y, sample_weight=w, return_dict=True)
    hit = (m.predict(x)[:, 0] > 0.5) == (y == 1)
    np.testing.assert_allclose(res["weighted_accuracy"], np.sum(w * hit) / np.sum(w), atol=1e-6)
    np.testing.assert_allclose(res["accuracy"], np.mean(hit), atol=1e-6)
