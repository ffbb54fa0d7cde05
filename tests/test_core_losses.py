"""Losses of _core.Network against reference.py (Keras 3 values), incl. fusion stability."""

import numpy as np
import pytest

import reference as ref
from core_util import make_net

RNG = np.random.default_rng(5)


def identity_net(d, loss, act="linear", dtype="float64"):
    return make_net([{"type": "activation", "activation": act}], d, loss, dtype=dtype)


@pytest.mark.parametrize("name", ["mean_squared_error", "mean_absolute_error", "huber"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_losses(name, weighted):
    p, y = RNG.standard_normal((13, 4)) * 2, RNG.standard_normal((13, 4))
    sw = RNG.uniform(0, 2, 13) if weighted else None
    net = identity_net(4, {"name": name})
    assert net.evaluate(p, y, sw, 0)["loss"] == pytest.approx(ref.loss(name, y, p, sw), rel=1e-12)


def test_huber_delta_and_aliases():
    p, y = RNG.standard_normal((8, 3)) * 3, RNG.standard_normal((8, 3))
    net = identity_net(3, {"name": "huber", "delta": 0.5})
    assert net.evaluate(p, y, None, 0)["loss"] == pytest.approx(ref.loss("huber", y, p, delta=0.5), rel=1e-12)
    assert identity_net(3, {"name": "mse"}).evaluate(p, y, None, 0)["loss"] == pytest.approx(
        ref.loss("mean_squared_error", y, p), rel=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_crossentropy(from_logits):
    z = RNG.standard_normal((10, 3)) * 3
    y = RNG.integers(0, 2, (10, 3)).astype(np.float64)
    p = z if from_logits else ref.sigmoid(z)
    net = identity_net(3, {"name": "binary_crossentropy", "from_logits": from_logits})
    assert net.evaluate(p, y, None, 0)["loss"] == pytest.approx(
        ref.loss("binary_crossentropy", y, p, from_logits=from_logits), rel=1e-12)
    # probabilities outside (eps, 1 - eps) are clipped as Keras does
    if not from_logits:
        q = np.array([[0.0, 1.0, 0.5]])
        yy = np.array([[1.0, 0.0, 1.0]])
        assert net.evaluate(q, yy, None, 0)["loss"] == pytest.approx(ref.loss("binary_crossentropy", yy, q), rel=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy(sparse, from_logits):
    z = RNG.standard_normal((12, 5)) * 2
    labels = RNG.integers(0, 5, 12)
    y = labels[:, None].astype(np.float64) if sparse else np.eye(5)[labels]
    name = "sparse_categorical_crossentropy" if sparse else "categorical_crossentropy"
    p = z if from_logits else ref.softmax(z) * 3  # unnormalised probabilities are normalised
    net = identity_net(5, {"name": name, "from_logits": from_logits})
    sw = RNG.uniform(0, 1, 12)
    assert net.evaluate(p, y, sw, 0)["loss"] == pytest.approx(ref.loss(name, y, p, sw, from_logits), rel=1e-12)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_softmax_matches_and_is_stable(name, dtype):
    z = RNG.standard_normal((6, 4))
    labels = RNG.integers(0, 4, 6)
    y = labels[:, None].astype(dtype) if name.startswith("sparse") else np.eye(4, dtype=dtype)[labels]
    net = identity_net(4, {"name": name}, act="softmax", dtype=dtype)
    expect = ref.loss(name, y, z, from_logits=True)
    rtol = 1e-6 if dtype == "float32" else 1e-12
    assert net.evaluate(z.astype(dtype), y, None, 0)["loss"] == pytest.approx(expect, rel=rtol)
    big = np.array([[1000, -1000, 0, 0], [-1000, 1000, 0, 0]], dtype)
    yb = y[:2].copy()
    yb[...] = 0
    if name.startswith("sparse"):
        yb[:, 0] = [1, 1]
    else:
        yb[:, 1] = 1
    loss = net.evaluate(big, yb, None, 0)["loss"]
    assert np.isfinite(loss) and loss == pytest.approx(1000.0, rel=1e-6)


def test_fused_sigmoid_bce_stable():
    z = np.array([[1000.0, -1000.0, 0.0]])
    y = np.array([[0.0, 0.0, 1.0]])
    net = identity_net(3, {"name": "binary_crossentropy"}, act="sigmoid")
    loss = net.evaluate(z, y, None, 0)["loss"]
    assert loss == pytest.approx((1000 + 0 + np.log(2)) / 3, rel=1e-12)


def test_regularization_is_added_to_the_loss():
    net = make_net([{"type": "dense", "units": 3, "kernel_regularizer": {"l1": 0.1, "l2": 0.2}}], 2,
                   {"name": "mse"})
    x, y = RNG.standard_normal((4, 2)), RNG.standard_normal((4, 3))
    w, b = net.params()
    expect = ref.loss("mean_squared_error", y, x @ w + b) + 0.1 * np.abs(w).sum() + 0.2 * (w**2).sum()
    assert net.evaluate(x, y, None, 0)["loss"] == pytest.approx(expect, rel=1e-12)
    assert net.compute_gradients(x, y, None) == pytest.approx(expect, rel=1e-12)


@pytest.mark.parametrize("from_logits", [False, True])
def test_poisson(from_logits):
    z = RNG.standard_normal((11, 3))
    y = RNG.poisson(1.5, (11, 3)).astype(np.float64)
    p = z if from_logits else np.exp(z)
    sw = RNG.uniform(0, 2, 11)
    net = identity_net(3, {"name": "poisson", "from_logits": from_logits})
    assert net.evaluate(p, y, sw, 0)["loss"] == pytest.approx(ref.loss("poisson", y, p, sw, from_logits), rel=1e-12)
    # the two forms agree: exp(z) - y z = p - y log p (up to Keras' epsilon)
    other = identity_net(3, {"name": "poisson", "from_logits": not from_logits})
    q = np.exp(z) if from_logits else z
    assert other.evaluate(q, y, sw, 0)["loss"] == pytest.approx(net.evaluate(p, y, sw, 0)["loss"], rel=1e-6)


def test_poisson_matches_keras():
    import os
    import warnings
    os.environ.setdefault("KERAS_BACKEND", "jax")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras = pytest.importorskip("keras")
    p = RNG.uniform(0.1, 3.0, (6, 2)).astype(np.float32)
    y = RNG.poisson(1.0, (6, 2)).astype(np.float32)
    expect = float(keras.losses.Poisson()(y, p))
    net = identity_net(2, {"name": "poisson"}, dtype="float32")
    assert net.evaluate(p, y, None, 0)["loss"] == pytest.approx(expect, rel=1e-5)



@pytest.mark.parametrize("d", [3, 10, 16, 17, 40, 1003])
def test_float32_softmax_exp_is_accurate_and_the_same_bits_on_every_kernel(kernel, d):
    # float32 cross-entropy on logits takes exp from one fixed sequence of operations
    # (exp_f32.inc), vectorised per ISA: every kernel must give the reference's bits, and
    # the values must be within float32 rounding of the float64 truth. Class counts from
    # one masked vector to 1003 (full vectors, the 256-element chunks of a loss-only row and
    # a masked tail); logits down to -87 (the whole range before exp's clamp) and one far
    # below it. The gradient softmax(z) - y is read off dW of a bias-free Dense fed
    # x = [[1]] (dW = x^T g = g exactly); evaluate() takes the loss-only path.
    from dnnx import _core
    rows = [np.linspace(-87.0, 0.0, d), RNG.uniform(-30, 5, d), RNG.standard_normal(d) * 3]
    rows[1][min(7, d - 2)] = -1e30
    labels = [d - 1, min(3, d - 1), d // 2]

    def run(k, z, label):
        before = _core.active_kernel()
        _core.set_kernel(k)
        try:
            net = make_net([{"type": "dense", "units": d, "use_bias": False}], 1,
                           {"name": "categorical_crossentropy", "from_logits": True}, dtype="float32")
            net.params()[0][...] = z
            y = np.zeros((1, d), np.float32)
            y[0, label] = 1
            x = np.ones((1, 1), np.float32)
            loss = net.compute_gradients(x, y, None)
            evaluated = net.evaluate(x, y, None, 0)["loss"]
            assert evaluated == pytest.approx(loss, rel=1e-6)
            return loss, net.grads()[0][0].copy(), evaluated
        finally:
            _core.set_kernel(before)

    for z, label in zip(rows, labels):
        z = z.astype(np.float32)
        loss, g, evaluated = run(kernel, z, label)
        loss_ref, g_ref, evaluated_ref = run("ref", z, label)
        assert loss == loss_ref and evaluated == evaluated_ref
        np.testing.assert_array_equal(g.view(np.uint32), g_ref.view(np.uint32))
        zz = z.astype(np.float64)
        e = np.exp((z - z.max()).astype(np.float64))  # the core subtracts in float32 too
        lse = np.log(e.sum()) + zz.max()
        assert loss == pytest.approx(lse - zz[label], rel=1e-6, abs=1e-6)
        p = e / e.sum()
        p[label] -= 1
        live = np.abs(p) > 1e-37  # exp clamps at -87.3: below it a tiny normal, not a denormal
        # The label's softmax(z) - 1 cancels: float32 rounds softmax(z) (< 1) first, so only an
        # absolute bound holds there (one rounding of a value below 1, 2^-24).
        assert abs(g[label] - p[label]) <= 2.0 ** -24 * 1.01
        assert np.all(np.abs(g[~live]) < 1e-36)
        live[label] = False
        np.testing.assert_allclose(g[live], p[live], rtol=6e-7)
