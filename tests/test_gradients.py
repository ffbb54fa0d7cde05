"""Central finite differences (float64) against compute_gradients for every layer,
activation and loss, on odd shapes. Inputs stay away from kinks (random normals)."""

import numpy as np
import pytest

from core_util import dense, make_net

RNG = np.random.default_rng(7)
ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid",
               "hard_sigmoid", "softplus", "softsign", "softmax", "log_softmax"]


def check_gradients(net, x, y, sw=None, samples=12, h=1e-6, tol=1e-6):
    net.compute_gradients(x, y, sw)
    grads = [g.copy() for g in net.grads()]
    state = net.get_rng_state()
    for p, g, trainable in zip(net.params(), grads, net.param_trainable()):
        if not trainable:
            np.testing.assert_array_equal(g, 0)
            continue
        flat = p.reshape(-1)
        for i in RNG.choice(flat.size, size=min(samples, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + h
            lp = net.compute_gradients(x, y, sw)
            flat[i] = old - h
            lm = net.compute_gradients(x, y, sw)
            flat[i] = old
            num = (lp - lm) / (2 * h)
            ana = g.reshape(-1)[i]
            assert abs(num - ana) <= tol * max(1.0, abs(num)), (p.shape, i, num, ana)
        assert net.get_rng_state() == state


def regression(n, d_in, d_out):
    return RNG.standard_normal((n, d_in)), RNG.standard_normal((n, d_out))


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_activations(act):
    x, y = regression(7, 5, 3)
    net = make_net([dense(6, act), dense(3)], 5, {"name": "mse"})
    check_gradients(net, x, y)


@pytest.mark.parametrize("act", ["relu", "tanh", "softmax", "elu", "gelu"])
def test_activation_layer(act):
    x, y = regression(7, 5, 4)
    net = make_net([dense(4), {"type": "activation", "activation": act}, dense(4)], 5, {"name": "mse"})
    check_gradients(net, x, y)


def test_leaky_relu_and_elu_alpha():
    x, y = regression(5, 4, 2)
    net = make_net([dense(6, "leaky_relu", activation_alpha=0.05), dense(5, "elu", activation_alpha=0.7),
                    dense(2)], 4, {"name": "mse"})
    check_gradients(net, x, y)


@pytest.mark.parametrize("n", [1, 7])
def test_shapes_single_row_and_unit_dims(n):
    x, y = regression(n, 1, 1)
    net = make_net([dense(1, "tanh"), dense(1)], 1, {"name": "mse"})
    check_gradients(net, x, y)


def test_dense_without_bias_and_regularizers():
    x, y = regression(7, 5, 3)
    net = make_net([dense(4, "tanh", use_bias=False, kernel_regularizer={"l1": 0.01, "l2": 0.02}),
                    dense(3, bias_regularizer={"l1": 0.0, "l2": 0.5})], 5, {"name": "mse"})
    check_gradients(net, x, y)


def test_dropout():
    x, y = regression(9, 5, 3)
    net = make_net([dense(8, "tanh"), {"type": "dropout", "rate": 0.4}, dense(3)], 5, {"name": "mse"})
    net.set_rng_state(3, 17)
    check_gradients(net, x, y)


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_batch_normalization(center, scale):
    x, y = regression(7, 5, 3)
    net = make_net([dense(6), {"type": "batch_normalization", "center": center, "scale": scale},
                    dense(3, "tanh")], 5, {"name": "mse"})
    for p in net.params()[2:4]:
        p[...] += RNG.uniform(0.1, 0.5, p.shape)  # away from the initial ones/zeros
    check_gradients(net, x, y)


@pytest.mark.parametrize("center,scale", [(True, True), (False, False)])
def test_layer_normalization(center, scale):
    x, y = regression(7, 5, 3)
    net = make_net([dense(6), {"type": "layer_normalization", "center": center, "scale": scale},
                    dense(3)], 5, {"name": "mse"})
    if center and scale:
        for p in net.params()[2:4]:
            p[...] += RNG.uniform(0.1, 0.5, p.shape)
    check_gradients(net, x, y)


def onehot(labels, k):
    return np.eye(k)[labels]


LOSS_CASES = [
    ("mean_squared_error", False, [dense(3)], "dense"),
    ("mean_absolute_error", False, [dense(3)], "dense"),
    ("huber", False, [dense(3)], "dense"),
    ("binary_crossentropy", False, [dense(3, "sigmoid")], "binary"),              # fused
    ("binary_crossentropy", True, [dense(3)], "binary"),                          # logits
    ("binary_crossentropy", False, [dense(3, "sigmoid"), {"type": "dropout", "rate": 0.0}], "binary"),
    ("categorical_crossentropy", False, [dense(3, "softmax")], "onehot"),         # fused
    ("categorical_crossentropy", False, [dense(3), {"type": "activation", "activation": "softmax"}], "onehot"),
    ("categorical_crossentropy", True, [dense(3)], "onehot"),
    ("categorical_crossentropy", False, [dense(3, "softmax"), {"type": "dropout", "rate": 0.0}], "onehot"),
    ("sparse_categorical_crossentropy", False, [dense(3, "softmax")], "sparse"),
    ("sparse_categorical_crossentropy", True, [dense(3)], "sparse"),
    ("sparse_categorical_crossentropy", False, [dense(3, "sigmoid")], "sparse"),  # unnormalized probs
    ("poisson", False, [dense(3, "softplus")], "counts"),                          # rates
    ("poisson", True, [dense(3)], "counts"),                                      # log rates
]


@pytest.mark.parametrize("name,from_logits,head,targets", LOSS_CASES)
def test_losses(name, from_logits, head, targets):
    n = 7
    x = RNG.standard_normal((n, 5))
    labels = RNG.integers(0, 3, n)
    y = {"dense": RNG.standard_normal((n, 3)), "binary": RNG.uniform(0, 1, (n, 3)),
         "onehot": onehot(labels, 3), "sparse": labels[:, None].astype(np.float64),
         "counts": RNG.poisson(2.0, (n, 3)).astype(np.float64)}[targets]
    net = make_net([dense(4, "tanh"), *head], 5, {"name": name, "from_logits": from_logits})
    check_gradients(net, x, y, sw=RNG.uniform(0.5, 2.0, n))


@pytest.mark.parametrize("penalty", ["sum", "like_loss"])
def test_mean_with_sample_weight_and_penalty_like_loss(penalty):
    """scikit-learn's objective: (sum_i w_i l_i + penalty) / sum_i w_i when penalty_reduction
    is like_loss, sum_i w_i l_i / sum_i w_i + penalty otherwise."""
    n = 9
    x, y = regression(n, 5, 2)
    sw = RNG.uniform(0.2, 3.0, n)
    reg = {"l1": 0.0, "l2": 0.3}
    loss = {"name": "mse", "reduction": "mean_with_sample_weight", "penalty_reduction": penalty}
    net = make_net([dense(4, "tanh", kernel_regularizer=reg), dense(2, kernel_regularizer=reg)], 5, loss)
    check_gradients(net, x, y, sw=sw)
    w0, _, w1, _ = (p.copy() for p in net.params())
    penalty_value = 0.3 * ((w0**2).sum() + (w1**2).sum())
    out = net.predict(x)
    data = (sw * ((out - y) ** 2).mean(axis=1)).sum()
    expect = (data + penalty_value) / sw.sum() if penalty == "like_loss" else data / sw.sum() + penalty_value
    assert net.compute_gradients(x, y, sw) == pytest.approx(expect, rel=1e-12)
    # without weights the normalizer is n; all-zero weights give a zero loss and gradient
    data1 = ((out - y) ** 2).mean(axis=1).sum()
    expect1 = (data1 + penalty_value) / n if penalty == "like_loss" else data1 / n + penalty_value
    assert net.compute_gradients(x, y, None) == pytest.approx(expect1, rel=1e-12)
    assert net.compute_gradients(x, y, np.zeros(n)) == (0.0 if penalty == "like_loss" else pytest.approx(penalty_value))
    assert all(np.isfinite(g).all() for g in net.grads())


def test_reduction_keys_are_checked():
    with pytest.raises(ValueError, match="reduction"):
        make_net([dense(2)], 3, {"name": "mse", "reduction": "none"})
    with pytest.raises(ValueError, match="penalty_reduction"):
        make_net([dense(2)], 3, {"name": "mse", "penalty_reduction": "mean"})
