"""The network core's fast paths against their portable references.

- SIMD elementwise kernels (optimizer rules, ReLU/linear backward with the fused bias
  gradient, dropout backward) run for every kernel the CPU has (the network core follows
  the GEMM's kernel choice, so set_kernel("ref") runs the portable loops, the reference).
  They must give the same bits as the reference. The nets here are built so that the GEMM
  products involved are exact in every kernel (input_dim 1 and batch 1 where a product
  would otherwise sum), so any difference would come from the elementwise kernels.
- Thread-count invariance of those kernels (bitwise).
- The packed-weight cache of predict: invalidated by training steps, set_weights,
  writes through views + params_changed(), and set_kernel.
- predict at small batch allocates nothing per call (RSS stays flat).
"""

import numpy as np
import pytest

import dnnx
from dnnx import _core
from core_util import dense, make_net

OPT_CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"weight_decay": 0.05, "momentum": 0.5}),
    ("sgd", {"clipvalue": 0.01}),
    ("adam", {}),
    ("adam", {"amsgrad": True, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5}),
    ("adam", {"clipnorm": 0.05}),
    ("adam", {"global_clipnorm": 0.05}),
    ("adam", {"clipvalue": 0.02}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("rmsprop", {"centered": True}),
    ("adagrad", {}),
    ("adagrad", {"initial_accumulator_value": 0.5, "clipvalue": 0.05}),
    ("nadam", {}),
    ("nadam", {"weight_decay": 0.01}),
]

UNITS = 1003  # a vector body plus a scalar tail for both 8- and 16-wide kernels


def _run_steps(kernel, name, hyper, units=UNITS, steps=4, layers=None, batch=1):
    """Params (and optimizer state) after `steps` float32 train steps under `kernel`."""
    before = _core.active_kernel()
    _core.set_kernel(kernel)
    try:
        layers = layers or [dense(units, "linear")]
        net = make_net(layers, 1, {"name": "mse"}, {"name": name, **hyper}, dtype="float32", seed=3)
        rng = np.random.default_rng(5)
        out_dim = net.output_dim
        for s in range(steps):
            x = rng.standard_normal((batch, 1)).astype(np.float32)
            y = rng.standard_normal((batch, out_dim)).astype(np.float32)
            net.train_batch(x, y, None, 0.01 * (s + 1))
        return [p.copy() for p in net.params()] + [s.copy() for s in net.optimizer_state()]
    finally:
        _core.set_kernel(before)


def _assert_same_bits(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("name,hyper", OPT_CASES)
def test_optimizer_kernels_match_reference_bitwise(kernel, name, hyper):
    _assert_same_bits(_run_steps(kernel, name, hyper), _run_steps("ref", name, hyper))


@pytest.mark.parametrize("units", [10, 67, 100, 130, 300])
@pytest.mark.parametrize("act", ["relu", "linear"])
def test_dense_backward_and_bias_gradient_match_reference(kernel, act, units):
    # Batch 7: the bias gradient (the fused column sums) sums over rows in the core's own
    # pass, which must match the reference bitwise; dW goes through the GEMM (k = 7),
    # where kernels may round differently, so it is compared with a tolerance. The widths
    # cover one to four vectors of column sums in registers, a partial last vector, several
    # column blocks and two 256-column chunks.
    def grads(k):
        before = _core.active_kernel()
        _core.set_kernel(k)
        try:
            net = make_net([dense(units, act)], 1, {"name": "mse"}, {"name": "sgd"}, dtype="float32", seed=1)
            rng = np.random.default_rng(2)
            # x > 0 and zero biases: the units with a negative weight are dead in every row.
            x = np.abs(rng.standard_normal((7, 1))).astype(np.float32) + 0.1
            y = rng.standard_normal((7, units)).astype(np.float32)
            net.compute_gradients(x, y, None)
            return [g.copy() for g in net.grads()]
        finally:
            _core.set_kernel(before)

    got, want = grads(kernel), grads("ref")
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-7)
    if act == "relu":
        assert np.any(want[1] == 0) and np.any(want[1] != 0)


@pytest.mark.parametrize("layers", [
    [dense(UNITS, "linear"), {"type": "activation", "activation": "relu"}],
    [dense(UNITS, "relu")],
    [dense(UNITS, "linear"), {"type": "dropout", "rate": 0.3, "seed": 4}],
    [dense(UNITS, "linear"), {"type": "dropout", "rate": 0.3, "seed": 4}, {"type": "activation", "activation": "linear"}],
], ids=["activation-relu", "dense-relu", "dropout", "dropout-linear"])
def test_backward_kernels_match_reference_bitwise(kernel, layers):
    _assert_same_bits(_run_steps(kernel, "adam", {}, layers=layers), _run_steps("ref", "adam", {}, layers=layers))


@pytest.mark.parametrize("name,hyper", [("adam", {}), ("sgd", {"momentum": 0.9}), ("rmsprop", {"centered": True})])
def test_optimizer_kernels_thread_count_invariant(threads, name, hyper):
    # 2 x 150,000 parameters: past the threshold where the optimizer pass goes parallel.
    kernel = _core.available_kernels()[-1]
    runs = []
    for n in (1, 2, 3):
        dnnx.set_num_threads(n)
        runs.append(_run_steps(kernel, name, hyper, units=150_000, steps=2))
    _assert_same_bits(runs[1], runs[0])
    _assert_same_bits(runs[2], runs[0])


def test_nan_and_inf_gradients_follow_reference(kernel):
    # NaN/inf must flow through the SIMD paths exactly as through the portable loops
    # (clip keeps NaN, relu masks NaN pre-activations to 0, amsgrad max with NaN).
    def run(k):
        before = _core.active_kernel()
        _core.set_kernel(k)
        try:
            net = make_net([dense(37, "relu")], 1, {"name": "mse"},
                           {"name": "adam", "amsgrad": True, "clipvalue": 0.5}, dtype="float32", seed=7)
            views = net.params()
            views[0][0, :5] = [np.nan, np.inf, -np.inf, 0.0, -0.0]
            x = np.ones((1, 1), np.float32)
            y = np.zeros((1, 37), np.float32)
            y[0, 5:9] = [np.nan, np.inf, -np.inf, 1e30]
            with np.errstate(all="ignore"):
                net.train_batch(x, y, None, 0.1)
                net.train_batch(x, y, None, 0.1)
            return [p.copy() for p in net.params()] + [s.copy() for s in net.optimizer_state()]
        finally:
            _core.set_kernel(before)

    _assert_same_bits(run(kernel), run("ref"))


# ---- predict's packed-weight cache ---------------------------------------------------

def _mlp(dtype="float32"):
    return make_net([dense(33, "relu"), dense(17, "tanh"), dense(5, "softmax")], 11,
                    {"name": "sparse_categorical_crossentropy"}, {"name": "adam"}, dtype=dtype, seed=9)


def _forward_ref(net, x):
    p = [v.astype(np.float64) for v in net.params()]
    h = x.astype(np.float64)
    h = np.maximum(h @ p[0] + p[1], 0)
    h = np.tanh(h @ p[2] + p[3])
    z = h @ p[4] + p[5]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_cache_follows_training_steps(dtype):
    net = _mlp(dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 11)).astype(dtype)
    y = rng.integers(0, 5, (6, 1)).astype(dtype)
    before = net.predict(x)
    v0 = net.params_version
    net.train_batch(x, y, None, 0.05)
    assert net.params_version > v0
    after = net.predict(x)
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after, _forward_ref(net, x), rtol=1e-4, atol=1e-6)
    # an epoch (many steps) too
    net.train_epoch(x, y, None, 2, False, 0, np.full(3, 0.05), None, 0)
    np.testing.assert_allclose(net.predict(x[:1]), _forward_ref(net, x[:1]), rtol=1e-4, atol=1e-6)


def test_predict_cache_follows_view_writes_after_params_changed():
    net = _mlp()
    x = np.random.default_rng(1).standard_normal((3, 11)).astype(np.float32)
    net.predict(x)
    views = net.params()
    views[0][...] *= -1.5
    views[5][...] = [3.0, 0.0, 0.0, 0.0, -3.0]
    net.params_changed()
    np.testing.assert_allclose(net.predict(x), _forward_ref(net, x), rtol=1e-4, atol=1e-6)
    net.param_arena()[...] = 0.0
    net.params_changed()
    np.testing.assert_allclose(net.predict(x), np.full((3, 5), 0.2, np.float32), rtol=1e-6)


def test_predict_follows_set_kernel():
    net = _mlp()
    x = np.random.default_rng(2).standard_normal((4, 11)).astype(np.float32)
    before = _core.active_kernel()
    try:
        outs = []
        for k in _core.available_kernels():
            _core.set_kernel(k)
            outs.append(net.predict(x))
            np.testing.assert_allclose(outs[-1], _forward_ref(net, x), rtol=1e-4, atol=1e-6)
    finally:
        _core.set_kernel(before)


def test_model_set_weights_and_layer_set_weights_refresh_predict():
    dnnx.utils.set_random_seed(0)
    model = dnnx.Sequential([dnnx.Input(shape=(6,)), dnnx.layers.Dense(8, activation="relu"),
                             dnnx.layers.Dense(3)])
    x = np.random.default_rng(3).standard_normal((2, 6)).astype(np.float32)
    base = model.predict_on_batch(x)
    ws = model.get_weights()
    model.set_weights([w * 0 for w in ws])
    np.testing.assert_array_equal(model.predict_on_batch(x), np.zeros((2, 3), np.float32))
    model.set_weights(ws)
    np.testing.assert_allclose(model.predict_on_batch(x), base, rtol=1e-6)
    last = model.layers[-1]
    k, b = last.get_weights()
    last.set_weights([k, b + 1.0])
    np.testing.assert_allclose(model.predict_on_batch(x), base + 1.0, rtol=1e-5, atol=1e-6)
    for v in model.weights:
        v[...] = 0.0
    model._net.params_changed()
    np.testing.assert_array_equal(model.predict(x), np.zeros((2, 3), np.float32))


def test_model_predict_sees_writes_through_held_weight_views():
    # Keras-style users write through model.weights / layer.weights without telling
    # anyone: while such views are alive, predict and evaluate repack on every call.
    dnnx.utils.set_random_seed(1)
    model = dnnx.Sequential([dnnx.Input(shape=(5,)), dnnx.layers.Dense(4, activation="relu"),
                             dnnx.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(7).standard_normal((3, 5)).astype(np.float32)
    y = np.zeros((3, 2), np.float32)
    model.predict(x)
    views = model.weights
    views[3][...] = 7.0
    np.testing.assert_allclose(model.predict_on_batch(x)[:, 1] - model.predict(x)[:, 1], 0)
    views[2][...] = 0.0
    np.testing.assert_array_equal(model.predict(x), np.full((3, 2), 7.0, np.float32))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(49.0)
    bias = model.layers[-1].weights[1]
    del views
    bias[...] = -1.0
    np.testing.assert_array_equal(model.predict_on_batch(x), np.full((3, 2), -1.0, np.float32))
    del bias
    assert model._live_views == [] or all(r() is None for r in model._live_views)


def test_small_predict_allocates_nothing():
    resource = pytest.importorskip("resource")
    net = make_net([dense(256, "relu"), dense(128, "relu"), dense(10, "softmax")], 100, dtype="float32")
    x = np.random.default_rng(4).standard_normal((8, 100)).astype(np.float32)
    out = np.empty((8, 10), np.float32)
    for _ in range(200):
        net.predict(x, 0, out)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ver = net.params_version
    for _ in range(20_000):
        net.predict(x, 0, out)
    assert net.params_version == ver
    # ru_maxrss is in KiB on Linux: a 1 KiB leak per call would show as ~20 MB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 2048


def test_evaluate_uses_fresh_weights():
    # evaluate runs on the packed weights too: it must follow steps and view writes.
    net = _mlp()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((9, 11)).astype(np.float32)
    y = rng.integers(0, 5, (9, 1)).astype(np.float32)

    def loss_ref():
        p = _forward_ref(net, x)
        return float(np.mean(-np.log(p[np.arange(9), y[:, 0].astype(int)])))

    for step in range(3):
        assert net.evaluate(x, y, None, 4)["loss"] == pytest.approx(loss_ref(), rel=1e-5)
        assert net.compute_gradients(x, y, None) == pytest.approx(loss_ref(), rel=1e-5)
        net.train_batch(x, y, None, 0.1)
    net.params()[4][...] = 0.0
    net.params_changed()
    assert net.evaluate(x, y, None, 0)["loss"] == pytest.approx(loss_ref(), rel=1e-5)


@pytest.mark.parametrize("rate", [0.5, 0.1, 0.9, 1e-7, 0.9999999])
@pytest.mark.parametrize("counter", [0, 7, 2**33 + 5])
def test_dropout_masks_match_portable_float64(kernel, rate, counter):
    # float64 always runs the portable Philox loop, float32 the active kernel's. With one
    # row, W = 0 and b = 1 the dropout output is the mask itself, and the bias gradient of
    # an mse loss against 0 is 2 * mask^2 / units: zero exactly where an element dropped.
    units = 4099  # two 4096-element chunks, SIMD blocks and a scalar tail
    drops = []
    for dtype in ("float32", "float64"):
        net = make_net([dense(units), {"type": "dropout", "rate": rate}], 1, {"name": "mse"}, {"name": "sgd"},
                       dtype=dtype, seed=11)
        net.params()[0][...] = 0.0
        net.params()[1][...] = 1.0
        net.params_changed()
        net.set_rng_state(11, counter)
        net.compute_gradients(np.ones((1, 1), dtype), np.zeros((1, units), dtype), None)
        drops.append(net.grads()[1] == 0)
    np.testing.assert_array_equal(drops[0], drops[1])
    assert 0 < drops[1].sum() < units or rate in (1e-7, 0.9999999)


@pytest.mark.parametrize("units", [1003, 300_001])
def test_regularization_kernels_match_reference_bitwise(kernel, threads, units):
    # The penalty is summed in fixed lanes and chunks: the same double for every kernel and
    # thread count; its gradient (added to dW and db) bitwise too.
    def run(k, nt):
        before = _core.active_kernel()
        _core.set_kernel(k)
        dnnx.set_num_threads(nt)
        try:
            reg = {"l1": 1e-3, "l2": 3e-4}
            net = make_net([dense(units, "relu", kernel_regularizer=reg, bias_regularizer={"l2": 0.01})], 1,
                           {"name": "mse"}, {"name": "sgd"}, dtype="float32", seed=4)
            net.params()[1][...] = np.linspace(-1, 1, units, dtype=np.float32)
            net.params()[0][0, :4] = [0.0, -0.0, np.float32(1e-30), -3.0]
            net.params_changed()
            x = np.full((1, 1), 0.5, np.float32)
            y = np.random.default_rng(8).standard_normal((1, units)).astype(np.float32)
            obj = net.compute_gradients(x, y, None)
            return obj, [g.copy() for g in net.grads()]
        finally:
            _core.set_kernel(before)

    ref_obj, ref_g = run("ref", 1)
    for nt in (1, 2):
        obj, g = run(kernel, nt)
        assert obj == ref_obj
        _assert_same_bits(g, ref_g)


def test_predict_output_shapes_on_the_single_output_fast_path():
    """predict / predict_on_batch hand a single 2-D output back as the core returned it
    (no list, no reshape), and still reshape a rank-3 output and return lists for two outputs."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6)).astype(np.float32)
    inp = dnnx.layers.Input((6,))
    flat = dnnx.layers.Dense(8)(inp)
    cube = dnnx.layers.Reshape((2, 4))(flat)
    two_d = dnnx.Model(inp, flat)
    three_d = dnnx.Model(inp, cube)
    both = dnnx.Model(inp, [flat, cube])
    out2 = two_d.predict_on_batch(x)
    assert type(out2) is np.ndarray and out2.shape == (4, 8)
    np.testing.assert_allclose(out2, x @ two_d.get_weights()[0] + two_d.get_weights()[1], rtol=1e-5, atol=1e-6)
    for got in (three_d.predict_on_batch(x), three_d.predict(x, verbose=0)):
        assert got.shape == (4, 2, 4)
        np.testing.assert_array_equal(got.reshape(4, 8), out2)
    pair = both.predict_on_batch(x)
    assert isinstance(pair, list) and [p.shape for p in pair] == [(4, 8), (4, 2, 4)]
    np.testing.assert_array_equal(pair[1].reshape(4, 8), pair[0])
