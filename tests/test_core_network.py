"""_core.Network: the binding contract, training loops, determinism, errors, no allocation."""

import gc
import os

import numpy as np
import pytest

import reference as ref
from core_util import classification_data, dense, make_net, set_params
from dnnx import _core

SCCE = {"name": "sparse_categorical_crossentropy"}
ADAM = {"name": "adam", "learning_rate": 1e-3}
ACC = {"name": "sparse_categorical_accuracy", "key": "accuracy"}


def mlp(dtype="float32", seed=0, dims=(20, 16, 8, 3), extra=(), opt=ADAM):
    layers = [dense(dims[1], "relu"), *extra]
    layers += [dense(u, "relu") for u in dims[2:-1]] + [dense(dims[-1], "softmax")]
    return make_net(layers, dims[0], SCCE, opt, [ACC], dtype=dtype, seed=seed)


def test_contract_properties_and_views():
    net = make_net([dense(4, "relu"), {"type": "batch_normalization"}, dense(2)], 3,
                   {"name": "mse"}, {"name": "sgd"}, dtype="float32")
    assert net.dtype == "float32" and net.input_dim == 3 and net.output_dim == 2
    assert net.output_shapes() == [4, 4, 2]
    assert net.param_names() == ["dense/kernel", "dense/bias", "batch_normalization/gamma",
                                 "batch_normalization/beta", "batch_normalization/moving_mean",
                                 "batch_normalization/moving_variance", "dense_1/kernel", "dense_1/bias"]
    assert net.param_trainable() == [True, True, True, True, False, False, True, True]
    ps = net.params()
    assert [p.shape for p in ps] == [(3, 4), (4,), (4,), (4,), (4,), (4,), (4, 2), (2,)]
    assert all(p.dtype == np.float32 for p in ps)
    np.testing.assert_array_equal(ps[2], 1)  # gamma ones
    np.testing.assert_array_equal(ps[5], 1)  # moving variance ones
    np.testing.assert_array_equal(ps[1], 0)  # bias zeros
    # zero-copy: writing through a view changes what the arena holds
    ps[0][0, 0] = 42.0
    assert 42.0 in net.param_arena()
    assert net.param_arena().size == sum(p.size for p in ps)
    assert net.grad_arena().size == net.param_arena().size
    assert net.iterations == 0
    net.iterations = 7
    assert net.iterations == 7
    assert net.get_rng_state() == (0, 0)
    net.set_rng_state(5, 9)
    assert net.get_rng_state() == (5, 9)


def test_views_keep_network_alive():
    net = mlp()
    w = net.params()[0]
    arena = net.param_arena()
    before = w.copy()
    del net
    gc.collect()
    np.testing.assert_array_equal(w, before)
    assert arena.base is not None


def test_glorot_uniform_init_statistics():
    net = make_net([dense(300)], 200, dtype="float64", seed=3)
    w = net.params()[0]
    limit = np.sqrt(6 / 500)
    assert np.abs(w).max() <= limit and abs(w.std() - limit / np.sqrt(3)) < 0.01 * limit
    other = make_net([dense(300)], 200, dtype="float64", seed=3).params()[0]
    np.testing.assert_array_equal(w, other)  # seeded


@pytest.mark.parametrize("name,scale,fan", [("he_normal", 2.0, "in"), ("glorot_normal", 1.0, "avg"),
                                            ("lecun_normal", 1.0, "in")])
def test_truncated_normal_init(name, scale, fan):
    net = make_net([dense(400, kernel_initializer={"name": name})], 300, seed=1)
    w = net.params()[0]
    n = 300 if fan == "in" else 350
    std = np.sqrt(scale / n) / 0.87962566103423978
    assert np.abs(w).max() <= 2 * std + 1e-12
    assert abs(w.std() - np.sqrt(scale / n)) < 0.03 * np.sqrt(scale / n)


def test_constant_initializers():
    net = make_net([dense(3, kernel_initializer={"name": "constant", "value": 0.5},
                          bias_initializer={"name": "ones"})], 2)
    np.testing.assert_array_equal(net.params()[0], 0.5)
    np.testing.assert_array_equal(net.params()[1], 1.0)


def test_predict_matches_reference_and_chunks():
    rng = np.random.default_rng(0)
    net = make_net([dense(7, "tanh"), dense(5, "gelu"), dense(3, "softmax")], 6, dtype="float64")
    x = rng.standard_normal((37, 6))
    w = [p.copy() for p in net.params()]
    h = ref.dense_forward(x, w[0], w[1], "tanh")[1]
    h = ref.dense_forward(h, w[2], w[3], "gelu")[1]
    expect = ref.dense_forward(h, w[4], w[5], "softmax")[1]
    np.testing.assert_allclose(net.predict(x), expect, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(net.predict(x, batch_size=4), expect, rtol=1e-12, atol=1e-14)
    out = np.empty((37, 3))
    assert net.predict(x, 5, out) is out
    np.testing.assert_allclose(out, expect, rtol=1e-12, atol=1e-14)


def test_train_epoch_learns_and_logs():
    x, y = classification_data(512, 20, 3, np.float32)
    net = mlp()
    first = net.evaluate(x, y, None, 0)
    for epoch in range(8):
        logs = net.train_epoch(x, y, None, 32, True, epoch, np.full(16, 5e-3), None, 0)
    assert set(logs) == {"loss", "accuracy"}
    last = net.evaluate(x, y, None, 64)
    assert last["loss"] < 0.5 * first["loss"] and last["accuracy"] > 0.85
    assert net.iterations == 8 * 16


def test_mnist_sized_network_trains():
    x, y = classification_data(512, 784, 10, np.float32, seed=1)
    x /= 4
    net = make_net([dense(512, "relu"), dense(256, "relu"), dense(10, "softmax")], 784, SCCE, ADAM, [ACC],
                   dtype="float32", seed=2)
    before = net.evaluate(x, y, None, 0)["loss"]
    for epoch in range(3):
        net.train_epoch(x, y, None, 128, True, epoch, np.full(4, 1e-3), None, 0)
    after = net.evaluate(x, y, None, 0)["loss"]
    assert after < 0.7 * before


def test_train_batch_equals_one_epoch_step_without_shuffle():
    x, y = classification_data(16, 20, 3)
    a, b = mlp("float64"), mlp("float64")
    la = a.train_batch(x, y, None, 0.01)
    lb = b.train_epoch(x, y, None, 16, False, 0, np.array([0.01]), None, 0)
    assert la == lb
    for p, q in zip(a.params(), b.params()):
        np.testing.assert_array_equal(p, q)


def test_loss_tracker_weighted_by_batch_size():
    x, y = classification_data(10, 20, 3)
    net = mlp("float64", opt={"name": "sgd", "learning_rate": 1e-12})
    seen = []
    logs = net.train_epoch(x, y, None, 4, False, 0, np.full(3, 1e-12), lambda i, l: seen.append((i, l)), 1)
    assert [i for i, _ in seen] == [0, 1, 2]
    # (the weights barely move: the epoch loss is the sample-weighted mean of batch losses)
    full = net.evaluate(x, y, None, 0)["loss"]
    assert logs["loss"] == pytest.approx(full, rel=1e-9)
    assert seen[-1][1] == logs


def test_callback_every_and_stop():
    x, y = classification_data(100, 20, 3, np.float32)
    net = mlp()
    calls = []
    net.train_epoch(x, y, None, 10, True, 0, np.full(10, 1e-3), lambda i, l: calls.append(i), 4)
    assert calls == [3, 7, 9]
    calls.clear()
    net.train_epoch(x, y, None, 10, True, 1, np.full(10, 1e-3), lambda i, l: calls.append(i) or i == 4, 1)
    assert calls == [0, 1, 2, 3, 4]
    assert net.iterations == 15


def test_callback_exception_propagates():
    x, y = classification_data(40, 20, 3, np.float32)
    net = mlp()

    def boom(i, logs):
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        net.train_epoch(x, y, None, 10, True, 0, np.full(4, 1e-3), boom, 1)
    assert net.iterations == 1
    net.train_epoch(x, y, None, 10, True, 0, np.full(4, 1e-3), None, 0)  # still usable


def test_keyboard_interrupt_is_raised_cleanly():
    import signal

    x, y = classification_data(2000, 20, 3, np.float32)
    net = mlp()

    def interrupt(i, logs):
        if i == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return False

    with pytest.raises(KeyboardInterrupt):
        net.train_epoch(x, y, None, 10, True, 0, np.full(200, 1e-3), interrupt, 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bitwise_identical_across_thread_counts(threads, dtype):
    x, y = classification_data(256, 300, 10, np.float32 if dtype == "float32" else np.float64, seed=4)
    layers = [dense(256, "relu", kernel_regularizer={"l1": 1e-5, "l2": 1e-4}),
              {"type": "dropout", "rate": 0.3}, {"type": "batch_normalization"},
              dense(128, "gelu"), {"type": "layer_normalization"}, dense(10, "softmax")]
    results = []
    for nt in (1, 2, 16):  # 16 oversubscribes small machines: still exact, just slower
        _core.set_num_threads(nt)
        net = make_net(layers, 300, SCCE, ADAM, [ACC], dtype=dtype, seed=11)
        for epoch in range(2):
            logs = net.train_epoch(x, y, None, 128, True, epoch, np.full(2, 1e-3), None, 0)
        results.append((logs, net.param_arena().copy(), net.predict(x)))
    for other in results[1:]:
        assert other[0] == results[0][0]
        np.testing.assert_array_equal(other[1], results[0][1])
        np.testing.assert_array_equal(other[2], results[0][2])


def test_hot_loop_does_not_allocate():
    x, y = classification_data(4000, 20, 3, np.float32)
    net = mlp()
    lrs = np.full(1000, 1e-3)
    net.train_epoch(x, y, None, 4, True, 0, lrs, None, 0)
    growths, ws = net.workspace_growths, net.workspace_bytes

    def rss_pages():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1])

    before = rss_pages()
    for epoch in range(1, 4):
        net.train_epoch(x, y, None, 4, True, epoch, lrs, None, 0)
    assert rss_pages() - before < 64  # 3000 steps: well under 256 KiB of growth
    assert (net.workspace_growths, net.workspace_bytes) == (growths, ws)
    net.train_batch(x[:2], y[:2], None, 1e-3)  # smaller batch: reuses the workspace
    assert net.workspace_growths == growths


def test_fused_softmax_crossentropy_stable_at_large_logits():
    net = make_net([dense(3, "softmax", use_bias=False)], 2, {"name": "categorical_crossentropy"},
                   {"name": "sgd"}, dtype="float32")
    set_params(net, [np.array([[1000, -1000, 0], [0, 0, 0]], np.float32)])
    x = np.array([[1, 0], [-1, 0]], np.float32)
    y = np.array([[0, 1, 0], [1, 0, 0]], np.float32)
    loss = net.compute_gradients(x, y, None)
    assert np.isfinite(loss) and loss == pytest.approx(2000, rel=1e-6)
    g = net.grads()[0]
    assert np.all(np.isfinite(g))
    # dL/dz = (p - y)/n; p is one-hot at the largest logit
    np.testing.assert_allclose(g, [[1.0, -1.0, 0.0], [0, 0, 0]], atol=1e-6)


def test_fused_sigmoid_bce_stable_at_large_logits():
    net = make_net([dense(1, "sigmoid", use_bias=False)], 1, {"name": "binary_crossentropy"},
                   {"name": "sgd"}, dtype="float32")
    set_params(net, [np.array([[1000]], np.float32)])
    x = np.array([[1], [-1], [1]], np.float32)
    y = np.array([[0], [0], [1]], np.float32)
    loss = net.compute_gradients(x, y, None)
    assert np.isfinite(loss) and loss == pytest.approx(1000 / 3, rel=1e-6)
    assert np.all(np.isfinite(net.grads()[0]))


def test_sample_weight_in_train_and_evaluate():
    x, y = classification_data(12, 20, 3)
    net = mlp("float64")
    sw = np.linspace(0, 2, 12)
    lw = net.evaluate(x, y, sw, 0)["loss"]
    p = net.predict(x)
    assert lw == pytest.approx(ref.loss("sparse_categorical_crossentropy", y, p, sw), rel=1e-10)


# ---- errors ------------------------------------------------------------------------
def test_array_errors():
    net = mlp("float32")
    x, y = classification_data(8, 20, 3, np.float32)
    with pytest.raises(TypeError, match="x must be float32"):
        net.train_batch(x.astype(np.float64), y, None, 0.1)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 20\); received \(8, 7\)"):
        net.train_batch(x[:, :7].copy(), y, None, 0.1)
    with pytest.raises(ValueError, match=r"y must have shape \(8, 1\); received \(7, 1\)"):
        net.train_batch(x, y[:7], None, 0.1)
    with pytest.raises(ValueError, match="C-contiguous"):
        net.predict(np.asfortranarray(np.ones((4, 20), np.float32)))
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(8,\)"):
        net.train_batch(x, y, np.ones(3, np.float32), 0.1)
    with pytest.raises(ValueError, match=r"learning_rates must have shape \(1,\)"):
        net.train_epoch(x, y, None, 8, True, 0, np.ones(2), None, 0)
    with pytest.raises(ValueError, match="integers in"):
        net.train_batch(x, np.full((8, 1), 3, np.float32), None, 0.1)


def test_spec_errors():
    with pytest.raises(ValueError, match="unknown key 'unit'"):
        make_net([{"type": "dense", "unit": 3}], 2)
    with pytest.raises(ValueError, match="'type' must be one of"):
        make_net([{"type": "conv"}], 2)
    with pytest.raises(ValueError, match="unknown activation 'relu6'"):
        make_net([dense(3, "relu6")], 2)
    with pytest.raises(ValueError, match="'dtype' must be 'float32' or 'float64'"):
        make_net([dense(3)], 2, dtype="float16")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        make_net([dense(3)], 2, {"name": "hinge"})
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        make_net([dense(3)], 2, {"name": "mse"}, {"name": "lamb"})
    with pytest.raises(ValueError, match="rate must be in"):
        make_net([{"type": "dropout", "rate": 1.0}], 2)
    with pytest.raises(ValueError, match="learning_rate must be >= 0"):
        make_net([dense(3)], 2, {"name": "mse"}, {"name": "sgd", "learning_rate": -1.0})
    with pytest.raises(ValueError, match="needs sparse labels"):
        make_net([dense(3)], 2, {"name": "mse"}, None, [{"name": "sparse_categorical_accuracy"}])
    with pytest.raises(ValueError, match="units must be a positive integer"):
        make_net([dense(0)], 2)


def test_train_without_optimizer_raises():
    net = make_net([dense(3)], 2, {"name": "mse"})
    with pytest.raises(RuntimeError, match="set_training_config"):
        net.train_batch(np.ones((2, 2)), np.ones((2, 3)), None, 0.1)
    net.set_training_config({"name": "mse"}, {"name": "sgd"}, [])
    net.train_batch(np.ones((2, 2)), np.ones((2, 3)), None, 0.1)
    assert net.iterations == 1


def test_concurrent_predict_is_safe():
    from concurrent.futures import ThreadPoolExecutor

    x, y = classification_data(300, 20, 3, np.float32)
    net = mlp(extra=[{"type": "batch_normalization"}, {"type": "dropout", "rate": 0.5}])
    net.train_epoch(x, y, None, 32, True, 0, np.full(10, 1e-3), None, 0)
    expect = net.predict(x)
    with ThreadPoolExecutor(4) as pool:
        same = list(pool.map(lambda i: net.predict(x), range(8)))
        chunked = list(pool.map(lambda i: net.predict(x, batch_size=7 + i), range(8)))
    for out in same:
        np.testing.assert_array_equal(out, expect)
    for out in chunked:
        np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-6)
