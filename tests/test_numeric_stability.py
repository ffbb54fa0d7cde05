"""softmax / log / exp never overflow: activations, fused and unfused losses and metrics on
extreme but finite inputs give finite, correct values; TerminateOnNaN stops a diverging fit."""

import math

import numpy as np
import pytest

import dnnx
from dnnx import callbacks, layers

EXTREME = np.array([-3.0e38, -1e30, -1e4, -710.0, -89.0, -20.0, -1e-30, 0.0, 1e-30, 20.0, 89.0, 710.0, 1e4, 1e30,
                    3.0e38], np.float64)


def reference(name, x):
    with np.errstate(all="ignore"):
        return {
            "sigmoid": lambda v: np.where(v >= 0, 1 / (1 + np.exp(-np.abs(v))), np.exp(-np.abs(v)) / (1 + np.exp(-np.abs(v)))),
            "tanh": np.tanh,
            "softplus": lambda v: np.maximum(v, 0) + np.log1p(np.exp(-np.abs(v))),
            "softsign": lambda v: v / (1 + np.abs(v)),
            "relu": lambda v: np.maximum(v, 0),
            "elu": lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0))),
            "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1),
        }[name](x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softplus", "softsign", "relu", "elu", "hard_sigmoid", "selu",
                                  "gelu", "silu", "leaky_relu"])
def test_elementwise_activations_on_extreme_inputs(name, dtype):
    m = dnnx.Sequential([dnnx.Input(shape=(len(EXTREME),)), layers.Activation(name)], dtype=dtype)
    x = EXTREME.astype(dtype)[None, :]
    with np.errstate(over="ignore"):
        x = x[:, np.isfinite(x[0])]
    m2 = dnnx.Sequential([dnnx.Input(shape=(x.shape[1],)), layers.Activation(name)], dtype=dtype)
    y = m2.predict(x, verbose=0)[0]
    finite_expected = np.abs(x[0]) < 1e30 if name in ("selu",) else np.ones(x.shape[1], bool)
    assert not np.isnan(y).any(), (name, y)
    assert np.isfinite(y[finite_expected]).all(), (name, x[0][~np.isfinite(y)])
    if name in ("sigmoid", "tanh", "softplus", "softsign", "relu", "elu", "hard_sigmoid"):
        np.testing.assert_allclose(y, reference(name, x[0].astype(np.float64)), rtol=1e-5, atol=1e-30)
    del m


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_on_extreme_rows(name, dtype):
    rows = np.array([[1e4, 0.0, -1e4], [3e38, 3e38, -3e38], [-3e38, -3e38, -3e38], [89.0, 90.0, 88.0],
                     [1e30, 1e30 - 1e23, 0.0], [-1e-30, 0.0, 1e-30]], dtype)
    m = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Activation(name)], dtype=dtype)
    y = m.predict(rows, verbose=0).astype(np.float64)
    assert not np.isnan(y).any(), y
    if name == "softmax":
        assert np.isfinite(y).all() and (y >= 0).all() and (y <= 1).all()
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
        np.testing.assert_allclose(y[0], [1, 0, 0], atol=1e-30)
        np.testing.assert_allclose(y[1], [0.5, 0.5, 0], atol=1e-30)
        np.testing.assert_allclose(y[2], [1 / 3] * 3, rtol=1e-6)
    else:
        assert (y <= 0).all()
        np.testing.assert_allclose(y[3], [89, 90, 88] - np.log(np.exp([-1.0, 0, -2]).sum()) - 90, rtol=1e-5)
        assert y[0, 0] == 0.0 and y[0, 1] == pytest.approx(-1e4, rel=1e-6)


@pytest.mark.parametrize("loss, act, y", [
    ("sparse_categorical_crossentropy", "softmax", [0, 2]),
    ("categorical_crossentropy", "softmax", [[1, 0, 0], [0, 0, 1]]),
    ("binary_crossentropy", "sigmoid", [[1, 0, 1], [0, 1, 0]]),
])
@pytest.mark.parametrize("from_logits", [False, True])
def test_crossentropy_on_extreme_logits_is_finite(loss, act, y, from_logits):
    # A Dense with identity weights feeds logits of +-1e4 and +-3e38 into the loss.
    m = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(3, activation=None if from_logits else act,
                                                                use_bias=False)], seed=0)
    m.compile(optimizer="sgd", loss=dnnx.losses.get(loss).__class__(from_logits=from_logits))
    m.set_weights([np.eye(3, dtype=np.float32)])
    x = np.array([[1e4, -1e4, 0.0], [-3e38, 3e38, 3e38]], np.float32)
    yv = np.array(y, np.float32)
    loss_value = m.evaluate(x, yv, verbose=0)
    assert math.isfinite(loss_value), loss_value
    loss_v, grads = m.compute_gradients(x, yv)
    assert math.isfinite(loss_v) and all(np.isfinite(g).all() for g in grads)


def test_terminate_on_nan_stops_a_diverging_fit():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32) * 1e3
    y = x @ np.ones((4, 1), np.float32) * 1e3
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(16), layers.Dense(1)], seed=0)
    m.compile(optimizer=dnnx.optimizers.SGD(learning_rate=10.0), loss="mse")
    h = m.fit(x, y, batch_size=8, epochs=50, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert len(h.history["loss"]) < 50 and not math.isfinite(h.history["loss"][-1])
    assert m.optimizer.iterations < 50 * 8


def test_terminate_on_nan_with_inf_targets():
    m = dnnx.Sequential([dnnx.Input(shape=(2,)), layers.Dense(1)], seed=0)
    m.compile(optimizer="sgd", loss="mse")
    x = np.ones((16, 2), np.float32)
    y = np.zeros(16, np.float32)
    y[9] = np.inf
    h = m.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    assert m.optimizer.iterations == 3 and not math.isfinite(h.history["loss"][0])
