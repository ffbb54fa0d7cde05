"""The C++ graph core through _core.Network: fan-out, merges, shared and frozen layers,
Embedding, several inputs and outputs, checked against finite differences (float64) and
against the chain it generalizes."""

import numpy as np
import pytest

import dnnx
from dnnx import _core

from core_util import central_difference


def dense(units, act="linear", **kw):
    return dict({"type": "dense", "units": units, "activation": act}, **kw)


def graph(inputs, layers, nodes, outputs, dtype="float64", seed=3, loss=None, optimizer=None, metrics=None):
    spec = {"dtype": dtype, "seed": seed, "inputs": inputs, "layers": layers,
            "nodes": [{"layer": l, "inputs": list(i)} for l, i in nodes], "outputs": outputs}
    net = _core.Network(spec)
    if loss is not None:
        net.set_training_config(loss, optimizer, metrics)
    return net


def fd_check(net, x, y, sw=None, eps=1e-6, rtol=1e-5):
    """compute_gradients against central differences of the objective, every weight."""
    net.compute_gradients(x, y, sw)
    analytic = [g.copy() for g in net.grads()]
    trainable = net.param_trainable()
    frozen_layer = []
    for layer, count in enumerate(net.layer_param_counts()):
        frozen_layer += [not net.layer_trainable()[layer]] * count
    for p, g, tr, fr in zip(net.params(), analytic, trainable, frozen_layer):
        if not tr:
            continue
        flat, gflat = p.reshape(-1), g.reshape(-1)
        for i in range(flat.size):
            num = central_difference(net, flat, i, x, y, sw, eps)
            if fr:
                assert gflat[i] == 0.0
            else:
                assert abs(num - gflat[i]) <= rtol * max(1.0, abs(num)), (p.shape, i, num, gflat[i])
    net.compute_gradients(x, y, sw)
    return analytic


MSE = {"name": "mse"}
SGD = {"name": "sgd", "learning_rate": 0.1}


def test_residual_fanout_gradients():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(7, 3))
    # t1 = dense(x) feeds both the tanh branch and the residual add (fan-out)
    net = graph([{"name": "x", "dim": 4}],
                [dense(5, "relu", name="d0"), dense(5, "tanh", name="d1"), {"type": "add", "name": "add"},
                 dense(3, name="head")],
                [(0, [0]), (1, [1]), (2, [1, 2]), (3, [3])], [4], loss=MSE, optimizer=SGD)
    fd_check(net, x, y)


@pytest.mark.parametrize("kind", ["add", "subtract", "multiply", "average", "maximum", "concatenate"])
def test_every_merge_gradients(kind):
    rng = np.random.default_rng(1)
    x1, x2 = rng.normal(size=(6, 3)), rng.normal(size=(6, 4))
    acts = ["tanh", "sigmoid", "linear"][: 2 if kind == "subtract" else 3]
    srcs = [0, 1, 1]
    layers = [dense(5, a, name=f"p{i}") for i, a in enumerate(acts)] + [{"type": kind}, dense(2, name="out")]
    k = len(acts)
    nodes = [(i, [srcs[i]]) for i in range(k)] + [(k, [2 + i for i in range(k)]), (k + 1, [2 + k])]
    net = graph([{"name": "x1", "dim": 3}, {"name": "x2", "dim": 4}], layers, nodes, [3 + k], loss=MSE,
                optimizer=SGD)
    y = rng.normal(size=(6, 2))
    fd_check(net, [x1, x2], y)
    w = net.params()
    f = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "linear": lambda z: z}
    parts = [f[a]((x1, x2, x2)[i] @ w[2 * i] + w[2 * i + 1]) for i, a in enumerate(acts)]
    ref = {"add": lambda p: sum(p[1:], p[0]), "subtract": lambda p: p[0] - p[1],
           "multiply": lambda p: np.prod(p, axis=0), "average": lambda p: sum(p[1:], p[0]) / len(p),
           "maximum": lambda p: np.max(p, axis=0), "concatenate": lambda p: np.concatenate(p, axis=1)}[kind](parts)
    np.testing.assert_allclose(net.predict([x1, x2]), ref @ w[2 * k] + w[2 * k + 1], rtol=1e-12, atol=1e-12)


def test_shared_layer_sums_gradients():
    rng = np.random.default_rng(2)
    x1, x2, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    # one Dense applied to two inputs (a siamese tower), outputs concatenated
    net = graph([{"name": "a", "dim": 3}, {"name": "b", "dim": 3}],
                [dense(2, "tanh", name="tower"), {"type": "concatenate"}],
                [(0, [0]), (0, [1]), (1, [2, 3])], [4], loss=MSE, optimizer=SGD)
    assert len(net.params()) == 2  # one kernel, one bias
    g = fd_check(net, [x1, x2], y)
    assert np.abs(g[0]).sum() > 0


def test_frozen_layer_no_update_and_unfreeze():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 2))
    net = graph([{"name": "x", "dim": 4}], [dense(6, "relu", name="enc"), dense(2, name="head")],
                [(0, [0]), (1, [1])], [2], loss=MSE, optimizer={"name": "adam", "learning_rate": 0.01})
    net.set_layer_trainable(0, False)
    g = fd_check(net, x, y)
    assert np.all(g[0] == 0) and np.all(g[1] == 0) and np.abs(g[2]).sum() > 0
    before = [p.copy() for p in net.params()]
    net.train_batch(x, y, None, 0.01)
    after = net.params()
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert not np.array_equal(before[2], after[2])
    slots = [s.copy() for s in net.optimizer_state()]
    assert np.all(slots[0][: before[0].size] == 0)  # the frozen kernel's Adam moments never moved
    net.set_layer_trainable(0, True)
    net.train_batch(x, y, None, 0.01)
    assert not np.array_equal(before[0], net.params()[0])


def test_frozen_batchnorm_runs_in_inference_mode():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    net = graph([{"name": "x", "dim": 3}], [{"type": "batch_normalization", "name": "bn"}, dense(3, name="d")],
                [(0, [0]), (1, [1])], [2], loss=MSE, optimizer=SGD)
    net.set_layer_trainable(0, False)
    stats = [p.copy() for p in net.params()[2:4]]
    fd_check(net, x, y)
    net.train_batch(x, y, None, 0.1)
    for s, p in zip(stats, net.params()[2:4]):
        np.testing.assert_array_equal(s, p)  # moving statistics untouched


def test_embedding_repeated_ids_and_int64_exact():
    rng = np.random.default_rng(5)
    ids = np.array([[1, 1, 3], [0, 3, 3], [2, 1, 0], [3, 3, 3]], np.int64)
    num = rng.normal(size=(4, 2))
    y = rng.normal(size=(4, 1))
    layers = [{"type": "embedding", "name": "emb", "input_dim": 4, "output_dim": 2},
              {"type": "global_average_pooling1d", "steps": 3}, {"type": "concatenate"}, dense(1, name="out")]
    net = graph([{"name": "ids", "dim": 3, "dtype": "int64"}, {"name": "num", "dim": 2}], layers,
                [(0, [0]), (1, [2]), (2, [3, 1]), (3, [4])], [5], loss=MSE, optimizer=SGD)
    g = fd_check(net, [ids, num], y)
    assert np.abs(g[0][3]).sum() > 0
    # forward is a gather: the pooled embedding equals the NumPy mean of the rows
    table = net.params()[0]
    pooled = table[ids].mean(axis=1)
    w, b = net.params()[1], net.params()[2]
    np.testing.assert_allclose(net.predict([ids, num]), np.concatenate([pooled, num], 1) @ w + b, rtol=1e-12)
    # IDs stay int64 (never rounded through floats): out of range by one is rejected
    big = graph([{"name": "ids", "dim": 1, "dtype": "int64"}],
                [{"type": "embedding", "name": "e", "input_dim": 3, "output_dim": 1}],
                [(0, [0])], [1], loss=MSE, optimizer=SGD)
    with pytest.raises(ValueError, match=r"embedding layer 'e': ID 3 at row 1 is out of range \[0, 3\)"):
        big.train_batch([np.array([[0], [3]], np.int64)], np.zeros((2, 1)), None, 0.1)
    with pytest.raises(ValueError, match="ID -1"):
        big.evaluate([np.array([[-1]], np.int64)], np.zeros((1, 1)), None, 1)
    with pytest.raises(TypeError, match="must be int64"):
        big.predict([np.zeros((1, 1))])


def test_multi_output_losses_and_metrics_match_numpy():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(9, 4))
    ycls = rng.integers(0, 3, size=(9, 1)).astype(np.float64)
    yreg = rng.normal(size=(9, 2))
    sw = rng.uniform(0.5, 2.0, size=9)
    net = graph([{"name": "x", "dim": 4}],
                [dense(6, "relu", name="trunk"), dense(3, "softmax", name="cls"), dense(2, name="reg")],
                [(0, [0]), (1, [1]), (2, [1])], [2, 3],
                loss=[{"name": "sparse_categorical_crossentropy", "key": "cls_loss", "weight": 0.5},
                      {"name": "mse", "key": "reg_loss", "weight": 2.0}],
                optimizer=SGD,
                metrics=[[{"name": "sparse_categorical_accuracy", "key": "cls_accuracy", "weighted": False}],
                         [{"name": "mae", "key": "reg_mae"}]])
    logs = net.evaluate(x, [ycls, yreg], sw, 4)
    p, r = net.predict(x)
    ce = -np.log(np.clip(p[np.arange(9), ycls[:, 0].astype(int)], 1e-7, 1 - 1e-7))
    ce_loss = np.sum(ce * sw) / 9
    mse_loss = np.sum(((r - yreg) ** 2).mean(1) * sw) / 9
    # per-batch means weighted by batch size (Keras' loss tracker) equal the full mean here
    np.testing.assert_allclose(logs["cls_loss"], ce_loss, rtol=1e-10)
    np.testing.assert_allclose(logs["reg_loss"], mse_loss, rtol=1e-10)
    np.testing.assert_allclose(logs["loss"], 0.5 * ce_loss + 2.0 * mse_loss, rtol=1e-10)
    np.testing.assert_allclose(logs["cls_accuracy"], np.mean(p.argmax(1) == ycls[:, 0]), rtol=1e-12)  # unweighted
    np.testing.assert_allclose(logs["reg_mae"], np.sum(np.abs(r - yreg).mean(1) * sw) / sw.sum(), rtol=1e-10)
    assert list(logs) == ["loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"]
    fd_check(net, x, [ycls, yreg], sw)


def test_output_without_loss_and_output_also_consumed():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    # the encoder output is a model output (no loss) and feeds the decoder
    net = graph([{"name": "x", "dim": 3}], [dense(2, "tanh", name="enc"), dense(2, name="dec")],
                [(0, [0]), (1, [1])], [1, 2], loss=[None, {"name": "mse"}], optimizer=SGD)
    fd_check(net, x, [None, y])
    code, out = net.predict(x)
    w = net.params()
    np.testing.assert_allclose(code, np.tanh(x @ w[0] + w[1]), rtol=1e-12)
    np.testing.assert_allclose(out, code @ w[2] + w[3], rtol=1e-12)
    # a loss on both: the encoder's gradient is the sum of both paths
    net.set_training_config([{"name": "mse"}, {"name": "mse"}], SGD, None)
    fd_check(net, x, [rng.normal(size=(5, 2)), y])


def chain_specs(dtype):
    layers = [dense(64, "relu"), {"type": "dropout", "rate": 0.2}, {"type": "batch_normalization"},
              dense(32, "tanh"), dense(5, "softmax")]
    chain = {"dtype": dtype, "seed": 11, "input_dim": 12, "layers": layers}
    g = {"dtype": dtype, "seed": 11, "layers": layers, "inputs": [{"name": "x", "dim": 12}],
         "nodes": [{"layer": i, "inputs": [i]} for i in range(len(layers))], "outputs": [len(layers)]}
    return chain, g


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_graph_chain_equals_chain_bitwise(dtype):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(70, 12)).astype(dtype)
    y = rng.integers(0, 5, size=(70, 1)).astype(dtype)
    nets = [_core.Network(s) for s in chain_specs(dtype)]
    for n in nets:
        n.set_training_config({"name": "sparse_categorical_crossentropy"}, {"name": "adam"},
                              [{"name": "sparse_categorical_accuracy", "key": "accuracy"}])
    logs = [n.train_epoch(x, y, None, 16, True, 0, np.full(5, 1e-3), None, 0) for n in nets]
    assert logs[0] == logs[1]
    for a, b in zip(nets[0].params(), nets[1].params()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(nets[0].predict(x), nets[1].predict(x))


def test_graph_threads_bitwise(threads):
    rng = np.random.default_rng(9)
    x1 = rng.normal(size=(256, 300)).astype(np.float32)
    ids = rng.integers(0, 50, size=(256, 4)).astype(np.int64)
    y = rng.integers(0, 10, size=(256, 1)).astype(np.float32)
    spec = {"dtype": "float32", "seed": 5,
            "inputs": [{"name": "x", "dim": 300}, {"name": "ids", "dim": 4, "dtype": "int64"}],
            "layers": [dense(512, "relu"), dense(512, "relu"), {"type": "add"},
                       {"type": "embedding", "input_dim": 50, "output_dim": 8}, {"type": "flatten"},
                       {"type": "concatenate"}, dense(10, "softmax")],
            "nodes": [{"layer": 0, "inputs": [0]}, {"layer": 1, "inputs": [2]}, {"layer": 2, "inputs": [2, 3]},
                      {"layer": 3, "inputs": [1]}, {"layer": 4, "inputs": [5]}, {"layer": 5, "inputs": [4, 6]},
                      {"layer": 6, "inputs": [7]}],
            "outputs": [8]}
    results = []
    for t in (1, 2, 3):
        dnnx.set_num_threads(t)
        net = _core.Network(spec)
        net.set_training_config({"name": "sparse_categorical_crossentropy"}, {"name": "adam"}, None)
        net.train_epoch([x1, ids], y, None, 128, True, 0, np.full(2, 1e-3), None, 0)
        results.append(([p.copy() for p in net.params()], net.predict([x1, ids])))
    for params, pred in results[1:]:
        for a, b in zip(results[0][0], params):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(results[0][1], pred)


def test_graph_errors_name_the_offender():
    base = {"dtype": "float32", "seed": 0, "inputs": [{"name": "x", "dim": 3}, {"name": "z", "dim": 4}]}
    with pytest.raises(ValueError, match=r"add layer 'm': inputs must have the same shape; received shapes "
                                         r"\(None, 3\), \(None, 4\)"):
        _core.Network(dict(base, layers=[{"type": "add", "name": "m"}], nodes=[{"layer": 0, "inputs": [0, 1]}],
                           outputs=[2]))
    with pytest.raises(ValueError, match=r"layer 'd' was built for input shape \(None, 3\) and is called again "
                                         r"on input shape \(None, 4\)"):
        _core.Network(dict(base, layers=[dense(2, name="d"), {"type": "concatenate"}],
                           nodes=[{"layer": 0, "inputs": [0]}, {"layer": 0, "inputs": [1]},
                                  {"layer": 1, "inputs": [2, 3]}], outputs=[4]))
    with pytest.raises(ValueError, match="cannot read the int64 input 'ids'"):
        _core.Network({"dtype": "float32", "seed": 0, "inputs": [{"name": "ids", "dim": 3, "dtype": "int64"}],
                       "layers": [dense(2)], "nodes": [{"layer": 0, "inputs": [0]}], "outputs": [1]})
    with pytest.raises(ValueError, match="reaches no model output"):
        _core.Network(dict(base, layers=[dense(2, name="a"), dense(2, name="b")],
                           nodes=[{"layer": 0, "inputs": [0]}, {"layer": 1, "inputs": [1]}], outputs=[2]))
    with pytest.raises(ValueError, match="x must hold 2 arrays"):
        net = _core.Network(dict(base, layers=[{"type": "concatenate"}], nodes=[{"layer": 0, "inputs": [0, 1]}],
                                 outputs=[2]))
        net.predict([np.zeros((1, 3), np.float32)])


def test_apply_gradients_and_hook():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    a = graph([{"name": "x", "dim": 3}], [dense(4, "relu"), dense(2)], [(0, [0]), (1, [1])], [2],
              loss=MSE, optimizer={"name": "adam", "learning_rate": 0.01})
    b = graph([{"name": "x", "dim": 3}], [dense(4, "relu"), dense(2)], [(0, [0]), (1, [1])], [2],
              loss=MSE, optimizer={"name": "adam", "learning_rate": 0.01})
    seen = []
    a.set_gradient_hook(lambda g: seen.append(g.copy()))
    a.train_batch(x, y, None, 0.01)
    b.compute_gradients(x, y, None)
    np.testing.assert_array_equal(seen[0], b.grad_arena())
    b.apply_gradients([g.copy() for g in b.grads()], 0.01)
    for p, q in zip(a.params(), b.params()):
        np.testing.assert_array_equal(p, q)
    assert a.iterations == b.iterations == 1
    # the hook may change the gradients (an allreduce would): halving them halves SGD's step
    c = graph([{"name": "x", "dim": 3}], [dense(2)], [(0, [0])], [1], loss=MSE, optimizer=SGD)
    w0 = [p.copy() for p in c.params()]
    c.compute_gradients(x, y, None)
    g = [v.copy() for v in c.grads()]
    c.set_gradient_hook(lambda arena: arena.__imul__(0.5))
    c.train_batch(x, y, None, 0.1)
    np.testing.assert_allclose(c.params()[0], w0[0] - 0.05 * g[0], rtol=1e-12)
    # learning rate 0 is accepted and changes nothing
    d = graph([{"name": "x", "dim": 3}], [dense(2)], [(0, [0])], [1], loss=MSE,
              optimizer={"name": "adam", "learning_rate": 0.0})
    w = [p.copy() for p in d.params()]
    d.train_batch(x, y, None, 0.0)
    for p, q in zip(w, d.params()):
        np.testing.assert_array_equal(p, q)


def test_int64_ids_are_exact_beyond_float32():
    # 2**24 + 1 is not a float32: an ID rounded through float32 would read row 2**24
    vocab = 2**24 + 2
    net = graph([{"name": "ids", "dim": 1, "dtype": "int64"}],
                [{"type": "embedding", "name": "e", "input_dim": vocab, "output_dim": 1}], [(0, [0])], [1],
                dtype="float32")
    table = net.params()[0]
    table[2**24, 0], table[2**24 + 1, 0] = 1.0, 2.0
    net.params_changed()
    out = net.predict(np.array([[2**24 + 1], [2**24]], np.int64))
    np.testing.assert_array_equal(out[:, 0], [2.0, 1.0])


def test_node_steps_apply_a_layer_to_the_last_axis():
    rng = np.random.default_rng(11)
    ids = rng.integers(0, 6, size=(5, 3)).astype(np.int64)
    y = rng.normal(size=(5, 2))
    # Embedding -> (None, 3, 4); Dense(2) on the last axis -> (None, 3, 2); LayerNorm per step;
    # GlobalAveragePooling1D -> (None, 2)
    spec = {"dtype": "float64", "seed": 3, "inputs": [{"name": "ids", "dim": 3, "dtype": "int64"}],
            "layers": [{"type": "embedding", "input_dim": 6, "output_dim": 4}, dense(2, "tanh", name="per_step"),
                       {"type": "layer_normalization"}, {"type": "global_average_pooling1d", "steps": 3}],
            "nodes": [{"layer": 0, "inputs": [0]}, {"layer": 1, "inputs": [1], "steps": 3},
                      {"layer": 2, "inputs": [2], "steps": 3}, {"layer": 3, "inputs": [3]}],
            "outputs": [4]}
    net = _core.Network(spec)
    net.set_training_config(MSE, SGD, None)
    e, k, b, gamma, beta = net.params()
    h = np.tanh(e[ids] @ k + b)  # (5, 3, 2)
    mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
    ref = (gamma * (h - mu) / np.sqrt(var + 1e-3) + beta).mean(1)
    np.testing.assert_allclose(net.predict(ids), ref, rtol=1e-12, atol=1e-12)
    fd_check(net, ids, y)
    with pytest.raises(ValueError, match="is 3-D"):
        bad = dict(spec, layers=spec["layers"][:2], nodes=spec["nodes"][:2], outputs=[2])
        _core.Network(bad).set_training_config({"name": "categorical_crossentropy"}, SGD, None)
