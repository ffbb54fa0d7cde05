"""Layers of _core.Network against reference.py: activations, Dense, Dropout, BN, LN."""

import numpy as np
import pytest

import reference as ref
from core_util import dense, make_net

RNG = np.random.default_rng(3)
ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid",
               "hard_sigmoid", "softplus", "softsign", "softmax", "log_softmax"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_activation_forward(act, dtype):
    x = (RNG.standard_normal((9, 13)) * 4).astype(dtype)
    net = make_net([{"type": "activation", "activation": act}], 13, dtype=dtype)
    tol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(net.predict(x), ref.activation(act, x.astype(np.float64)), rtol=tol, atol=tol)


def test_activation_extremes_are_finite():
    x = np.array([[-1000.0, -50, 0, 50, 1000]])
    for act in ACTIVATIONS:
        out = make_net([{"type": "activation", "activation": act}], 5).predict(x)
        assert np.all(np.isfinite(out)), act


def test_dense_backward_matches_reference():
    x, y = RNG.standard_normal((11, 6)), RNG.standard_normal((11, 4))
    net = make_net([dense(4, "tanh")], 6, {"name": "mse"})
    w, b = [p.copy() for p in net.params()]
    net.compute_gradients(x, y, None)
    z, out = ref.dense_forward(x, w, b, "tanh")
    dout = 2 * (out - y) / (11 * 4)
    dw, db, _ = ref.dense_backward(x, w, dout * (1 - out**2))
    np.testing.assert_allclose(net.grads()[0], dw, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.grads()[1], db, rtol=1e-12, atol=1e-14)


def test_dropout_training_and_inference():
    x = np.ones((200, 50))
    net = make_net([{"type": "dropout", "rate": 0.25}], 50, {"name": "mse"}, {"name": "sgd"})
    np.testing.assert_array_equal(net.predict(x), x)  # identity at inference
    # training: the loss of y = 0 is mean(mask^2), mask in {0, 1/(1-rate)}
    loss = net.compute_gradients(x, np.zeros_like(x), None)
    kept = loss * 0.75**2
    assert abs(kept - 0.75) < 0.02
    g = net.compute_gradients(x, np.zeros_like(x), None)
    assert g == loss  # same counter, same mask
    net.set_rng_state(0, 1)
    assert net.compute_gradients(x, np.zeros_like(x), None) != loss


def test_dropout_mask_same_for_float32_and_float64():
    x = np.ones((16, 40))
    losses = []
    for dtype in ("float32", "float64"):
        net = make_net([{"type": "dropout", "rate": 0.5}], 40, {"name": "mse"}, dtype=dtype, seed=9)
        losses.append(net.compute_gradients(x.astype(dtype), np.zeros((16, 40), dtype), None))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_batch_normalization_train_and_moving_stats():
    x = RNG.standard_normal((32, 5)) * 3 + 2
    net = make_net([{"type": "batch_normalization", "momentum": 0.9}], 5, {"name": "mse"}, {"name": "sgd"})
    gamma, beta, mm, mv = net.params()
    gamma[...] = RNG.uniform(0.5, 2, 5)
    beta[...] = RNG.standard_normal(5)
    g0, b0 = gamma.copy(), beta.copy()
    expect, mean, var = ref.batch_norm_train(x, g0, b0)
    # training-mode output: loss against y = expect is zero
    assert net.compute_gradients(x, expect, None) < 1e-24
    np.testing.assert_array_equal(mm, 0)  # compute_gradients does not move the statistics
    net.train_batch(x, expect, None, 0.01)
    np.testing.assert_allclose(mm, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(mv, 0.9 + 0.1 * var, rtol=1e-12)
    np.testing.assert_allclose(net.predict(x), ref.batch_norm_infer(x, gamma, beta, mm, mv), rtol=1e-12)


def test_layer_normalization_forward():
    x = RNG.standard_normal((6, 9)) * 2 + 1
    net = make_net([{"type": "layer_normalization"}], 9)
    gamma, beta = net.params()
    gamma[...] = RNG.uniform(0.5, 2, 9)
    beta[...] = RNG.standard_normal(9)
    np.testing.assert_allclose(net.predict(x), ref.layer_norm(x, gamma, beta), rtol=1e-12, atol=1e-13)


def test_layer_names_are_unique_and_overridable():
    net = make_net([dense(2), dense(2, name="head"), dense(2), {"type": "dropout", "rate": 0.1}], 2)
    assert net.param_names() == ["dense/kernel", "dense/bias", "head/kernel", "head/bias",
                                 "dense_2/kernel", "dense_2/bias"]
