"""Adversarial review of the C++ graph core (_core.Network): unusual graphs against NumPy
forward references and float64 central differences, frozen/shared layers with every
optimizer option, workspace/slot planning (random DAGs), determinism across thread counts,
chunked and concurrent predict, bad specs.

Bugs these tests caught (fixed in cpp/src/nn/network.cpp on branch `review`):
- a regularized layer that no loss reaches (an output with loss None) got its
  regularization gradient ADDED onto the previous step's every step (grads grew without
  bound; compute_gradients twice gave different gradients);
- a layer frozen after training (or whose gradients were written by apply_gradients or a
  gradient hook) kept its stale gradients in grads() and in the hook's view, although a
  frozen layer "gets no gradient computed" (fd_check asserts 0); apply_gradients also left
  nonzero "gradients" of non-trainable tensors (BatchNormalization moving statistics);
- predict never checked Embedding IDs: an ID out of range read outside the table
  (garbage, or a segfault for a big ID);
- weight sizes and widths whose products overflow int64 were accepted (a wrapped, too
  small arena: e.g. an Embedding of 2**34 x 2**30 got a 0-element table).
"""

import threading

import numpy as np
import pytest

import dnnx
from dnnx import _core

from core_util import central_difference

from test_core_graph import MSE, SGD, dense, fd_check, graph

X3 = [{"name": "x", "dim": 3}]
ACT = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "linear": lambda z: z,
       "relu": lambda z: np.maximum(z, 0)}


def spec_of(inputs, layers, nodes, outputs, dtype="float64", seed=3):
    return {"dtype": dtype, "seed": seed, "inputs": inputs, "layers": layers,
            "nodes": [n if isinstance(n, dict) else {"layer": n[0], "inputs": list(n[1])} for n in nodes],
            "outputs": outputs}


def param_slices(net):
    """Per layer, the indices of its tensors in params()."""
    out, s = [], 0
    for c in net.layer_param_counts():
        out.append(list(range(s, s + c)))
        s += c
    return out


# ---------------------------------------------------------------------------------------
# Bug 1: regularization gradient of a layer no loss reaches accumulated across steps.


def test_regularized_layer_without_loss_gets_fresh_penalty_gradient():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    l2 = 0.1
    # head "a" is a model output without loss: only its L2 penalty reaches its kernel
    net = graph(X3, [dense(2, name="a", kernel_regularizer={"l1": 0.0, "l2": l2}), dense(2, name="b")],
                [(0, [0]), (1, [0])], [1, 2], loss=[None, MSE], optimizer=SGD)
    for _ in range(3):
        net.compute_gradients(x, [None, y], None)
        np.testing.assert_allclose(net.grads()[0], 2 * l2 * net.params()[0], rtol=1e-12)
        assert np.all(net.grads()[1] == 0)
    # SGD: each step shrinks the kernel by (1 - 2 lr l2), no more
    k0 = net.params()[0].copy()
    for _ in range(3):
        net.train_batch(x, [None, y], None, 0.1)
    np.testing.assert_allclose(net.params()[0], k0 * (1 - 2 * 0.1 * l2) ** 3, rtol=1e-12)
    fd_check(net, x, [None, y])


# ---------------------------------------------------------------------------------------
# Bug 2: stale gradients of frozen layers (and of ranges written from outside).


def test_layer_frozen_after_training_reports_zero_gradients():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    net = graph(X3, [dense(4, "tanh", name="a"), dense(4, "tanh", name="m"), dense(2, name="b")],
                [(0, [0]), (1, [1]), (2, [2])], [3], loss=MSE, optimizer=SGD)
    net.train_batch(x, y, None, 0.1)
    net.set_layer_trainable(1, False)  # the middle layer still runs (its input gradient)
    fd_check(net, x, y)
    assert np.all(net.grads()[2] == 0) and np.all(net.grads()[3] == 0)


def test_shared_batchnorm_frozen_after_training():
    rng = np.random.default_rng(2)
    x1, x2, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    net = graph([{"name": "a", "dim": 3}, {"name": "b", "dim": 3}],
                [dense(3, name="d"), {"type": "batch_normalization", "name": "bn"}, {"type": "concatenate"},
                 dense(2, name="o")],
                [(0, [0]), (1, [2]), (1, [1]), (2, [3, 4]), (3, [5])], [6], loss=MSE, optimizer=SGD)
    net.train_batch([x1, x2], y, None, 0.1)
    net.set_layer_trainable(1, False)
    stats = [p.copy() for p in net.params()[4:6]]
    fd_check(net, [x1, x2], y)
    net.train_batch([x1, x2], y, None, 0.1)
    for s, p in zip(stats, net.params()[4:6]):
        np.testing.assert_array_equal(s, p)


def test_shared_layernorm_on_steps_forward_and_frozen_gradients():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 12)), rng.normal(size=(6, 2))
    # Dense(4) on (6, 3, 4), the SAME LayerNormalization applied twice per step, Flatten, head
    spec = spec_of([{"name": "x", "dim": 12}],
                   [dense(4, "tanh", name="d"), {"type": "layer_normalization", "name": "ln"}, {"type": "flatten"},
                    dense(2, name="o")],
                   [{"layer": 0, "inputs": [0], "steps": 3}, {"layer": 1, "inputs": [1], "steps": 3},
                    {"layer": 1, "inputs": [2], "steps": 3}, {"layer": 2, "inputs": [3]}, {"layer": 3, "inputs": [4]}],
                   [5])
    net = _core.Network(spec)
    net.set_training_config(MSE, SGD, None)
    k, b, g, be, k2, b2 = net.params()
    h = np.tanh(x.reshape(6, 3, 4) @ k + b)

    def ln(v):
        return g * (v - v.mean(-1, keepdims=True)) / np.sqrt(v.var(-1, keepdims=True) + 1e-3) + be

    np.testing.assert_allclose(net.predict(x), ln(ln(h)).reshape(6, 12) @ k2 + b2, rtol=1e-11, atol=1e-12)
    fd_check(net, x, y)
    net.set_layer_trainable(1, False)
    fd_check(net, x, y)


def test_apply_gradients_and_hook_leave_no_stale_gradients():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(9, 3)), rng.normal(size=(9, 2))
    net = graph(X3, [dense(4, "tanh", name="d"), {"type": "batch_normalization"}, dense(2, name="e")],
                [(0, [0]), (1, [1]), (2, [2])], [3], loss=MSE, optimizer={"name": "adam"})
    net.set_layer_trainable(0, False)
    w0 = [p.copy() for p in net.params()]
    net.apply_gradients(np.ones(net.grad_arena().size), 0.1)
    for i in (0, 1, 4, 5):  # frozen kernel/bias and the moving statistics never move
        np.testing.assert_array_equal(w0[i], net.params()[i])
    net.compute_gradients(x, y, None)
    g = net.grads()
    for i in (0, 1, 4, 5):  # frozen layer and non-trainable tensors: zero gradient
        assert np.all(g[i] == 0), i
    # a hook that writes everywhere (an allreduce could) must not leak into the next step
    seen = []

    def hook(arena):
        seen.append(arena.copy())
        arena[:] = 1.0

    net.set_gradient_hook(hook)
    net.train_batch(x, y, None, 0.01)
    net.train_batch(x, y, None, 0.01)
    n_frozen = w0[0].size + w0[1].size
    assert np.all(seen[1][:n_frozen] == 0)
    for i in (0, 1):
        np.testing.assert_array_equal(w0[i], net.params()[i])
    net.set_gradient_hook(None)
    net.compute_gradients(x, y, None)
    assert np.all(net.grads()[0] == 0)


# ---------------------------------------------------------------------------------------
# Bug 3: predict did not check Embedding IDs (out-of-bounds reads).


@pytest.mark.parametrize("bad", [3, -1, 2**40])
def test_predict_rejects_ids_out_of_range(bad):
    net = graph([{"name": "ids", "dim": 2, "dtype": "int64"}],
                [{"type": "embedding", "name": "e", "input_dim": 3, "output_dim": 2}], [(0, [0])], [1])
    ids = np.array([[0, 1], [2, bad]], np.int64)
    with pytest.raises(ValueError, match=rf"embedding layer 'e': ID {bad} at row 1 is out of range \[0, 3\)"):
        net.predict(ids)
    with pytest.raises(ValueError, match="out of range"):
        net.predict(ids, batch_size=1)
    np.testing.assert_array_equal(net.predict(ids[:1]), net.params()[0][[0, 1]].reshape(1, 4))


# ---------------------------------------------------------------------------------------
# One tensor used several times by one node, outputs listed twice / also consumed.


@pytest.mark.parametrize("kind,arity", [("add", 2), ("add", 3), ("multiply", 3), ("average", 2), ("maximum", 2),
                                        ("subtract", 2), ("concatenate", 2)])
def test_same_tensor_twice_into_one_merge(kind, arity):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    net = graph(X3, [dense(3, "tanh", name="a"), {"type": kind}, dense(2, name="o")],
                [(0, [0]), (1, [1] * arity), (2, [2])], [3], loss=MSE, optimizer=SGD)
    w = net.params()
    h = np.tanh(x @ w[0] + w[1])
    m = {"add": arity * h, "multiply": h**arity, "average": h, "maximum": h, "subtract": 0 * h,
         "concatenate": np.concatenate([h] * arity, 1)}[kind]
    np.testing.assert_allclose(net.predict(x), m @ w[2] + w[3], rtol=1e-12, atol=1e-12)
    if kind != "subtract":  # x - x: the kernel's gradient is exactly 0 either way
        g = fd_check(net, x, y)
        assert np.abs(g[0]).sum() > 0


def test_repeated_inputs_mixed_with_fanout():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    # t1 feeds concat([t1, t1]) and add([t3, t1, t3]); t3 is read twice by the add
    net = graph(X3, [dense(3, "tanh", name="a"), {"type": "concatenate"}, dense(3, "sigmoid", name="b"),
                     {"type": "add"}, dense(2, name="o")],
                [(0, [0]), (1, [1, 1]), (2, [2]), (3, [3, 1, 3]), (4, [4])], [5], loss=MSE, optimizer=SGD)
    fd_check(net, x, y)
    w = net.params()
    h = np.tanh(x @ w[0] + w[1])
    s = ACT["sigmoid"](np.concatenate([h, h], 1) @ w[2] + w[3])
    np.testing.assert_allclose(net.predict(x), (2 * s + h) @ w[4] + w[5], rtol=1e-12)


def test_output_listed_twice_and_output_consumed():
    rng = np.random.default_rng(7)
    x, y, y2 = rng.normal(size=(6, 3)), rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    net = graph(X3, [dense(2, "tanh", name="a"), dense(2, name="b")], [(0, [0]), (1, [1])], [1, 2, 1],
                loss=[MSE, {"name": "mse", "weight": 0.5}, {"name": "mae", "weight": 2.0}], optimizer=SGD)
    fd_check(net, x, [y, y2, y])
    a, b, c = net.predict(x)
    np.testing.assert_array_equal(a, c)
    for bs in (1, 4):
        for p, q in zip((a, b, c), net.predict(x, batch_size=bs)):
            np.testing.assert_array_equal(p, q)
    # one listing without loss
    net.set_training_config([None, MSE, {"name": "huber"}], SGD, None)
    fd_check(net, x, [None, y2, y])
    # softmax listed twice (never fused), and a softmax output that also feeds a node
    yc = rng.integers(0, 3, size=(6, 1)).astype(np.float64)
    scce = {"name": "sparse_categorical_crossentropy"}
    net = graph(X3, [dense(3, "softmax", name="a")], [(0, [0])], [1, 1], loss=[scce, scce], optimizer=SGD)
    fd_check(net, x, [yc, yc])
    net = graph(X3, [dense(3, "softmax", name="a"), dense(2, name="b")], [(0, [0]), (1, [1])], [1, 2],
                loss=[{"name": "categorical_crossentropy"}, MSE], optimizer=SGD)
    fd_check(net, x, [np.eye(3)[yc[:, 0].astype(int)], y])


@pytest.mark.parametrize("act,loss", [("softmax", "sparse_categorical_crossentropy"),
                                      ("softmax", "categorical_crossentropy"), ("sigmoid", "binary_crossentropy")])
def test_fused_heads_activation_layer_shared_and_frozen(act, loss):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(9, 3))
    cls = rng.integers(0, 4, size=9)
    yy = {"sparse_categorical_crossentropy": cls[:, None].astype(np.float64),
          "categorical_crossentropy": np.eye(4)[cls],
          "binary_crossentropy": (rng.uniform(size=(9, 4)) > 0.5).astype(np.float64)}[loss]
    # a separate Activation layer as the head
    net = graph(X3, [dense(4, name="d"), {"type": "activation", "activation": act, "name": "act"}],
                [(0, [0]), (1, [1])], [2], loss={"name": loss}, optimizer=SGD)
    fd_check(net, x, yy)
    # the Activation layer shared by two heads
    net = graph(X3, [dense(4, name="d"), {"type": "activation", "activation": act, "name": "act"}, dense(4, name="e")],
                [(0, [0]), (1, [1]), (2, [0]), (1, [3])], [2, 4],
                loss=[{"name": loss}, {"name": loss, "weight": 0.3}], optimizer=SGD)
    fd_check(net, x, [yy, yy])
    # a frozen fused head: only its input gradient
    net = graph(X3, [dense(4, "tanh", name="d"), dense(4, act, name="h")], [(0, [0]), (1, [1])], [2],
                loss={"name": loss}, optimizer=SGD)
    net.set_layer_trainable(1, False)
    fd_check(net, x, yy)


# ---------------------------------------------------------------------------------------
# Shared layers.


def test_shared_dense_applied_to_its_own_output_with_fanout():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    net = graph(X3, [dense(3, "tanh", name="s"), {"type": "add"}, dense(2, name="o")],
                [(0, [0]), (0, [1]), (0, [2]), (1, [1, 2, 3]), (2, [4])], [5], loss=MSE, optimizer=SGD)
    fd_check(net, x, y)
    k, b, k2, b2 = net.params()
    h1 = np.tanh(x @ k + b)
    h2 = np.tanh(h1 @ k + b)
    h3 = np.tanh(h2 @ k + b)
    np.testing.assert_allclose(net.predict(x), (h1 + h2 + h3) @ k2 + b2, rtol=1e-12)


def test_shared_embedding_with_regularizer_and_frozen():
    rng = np.random.default_rng(10)
    ids1, ids2 = rng.integers(0, 5, size=(6, 2)), rng.integers(0, 5, size=(6, 2))
    y = rng.normal(size=(6, 2))
    reg = {"l1": 0.01, "l2": 0.02}
    net = graph([{"name": "a", "dim": 2, "dtype": "int64"}, {"name": "b", "dim": 2, "dtype": "int64"}],
                [{"type": "embedding", "input_dim": 5, "output_dim": 2, "name": "e", "embeddings_regularizer": reg},
                 {"type": "subtract"}, dense(2, name="o")],
                [(0, [0]), (0, [1]), (1, [2, 3]), (2, [4])], [5], loss=MSE, optimizer=SGD)
    fd_check(net, [ids1, ids2], y)
    e, k, b = net.params()
    ref = (e[ids1] - e[ids2]).reshape(6, 4) @ k + b
    np.testing.assert_allclose(net.predict([ids1, ids2]), ref, rtol=1e-12)
    penalty = reg["l1"] * np.abs(e).sum() + reg["l2"] * (e**2).sum()
    loss = net.evaluate([ids1, ids2], y, None, 6)["loss"]
    np.testing.assert_allclose(loss, np.mean((ref - y) ** 2) + penalty, rtol=1e-12)
    # frozen: no penalty (Keras sums the regularizers of trainable weights only), no update
    net.set_layer_trainable(0, False)
    np.testing.assert_allclose(net.evaluate([ids1, ids2], y, None, 6)["loss"], np.mean((ref - y) ** 2), rtol=1e-12)
    net.train_batch([ids1, ids2], y, None, 0.1)
    np.testing.assert_array_equal(e, net.params()[0])


def test_shared_dropout_draws_a_mask_per_node():
    spec = spec_of([{"name": "x", "dim": 64}],
                   [{"type": "dropout", "rate": 0.5, "name": "dr"}, {"type": "subtract"}, dense(1, name="o")],
                   [(0, [0]), (0, [0]), (1, [1, 2]), (2, [3])], [4])
    x = np.ones((4, 64))
    nets = [_core.Network(spec) for _ in range(2)]
    for n in nets:
        n.set_training_config(MSE, SGD, None)
    nets[0].compute_gradients(x, np.zeros((4, 1)), None)
    g = nets[0].grads()[0].copy()
    assert np.abs(g).sum() > 0  # the masks differ: x*m1 - x*m2 != 0
    nets[0].compute_gradients(x, np.zeros((4, 1)), None)  # same counter: same masks
    np.testing.assert_array_equal(g, nets[0].grads()[0])
    for n in nets:
        n.train_batch(x, np.zeros((4, 1)), None, 0.1)
    np.testing.assert_array_equal(nets[0].params()[0], nets[1].params()[0])
    # inference: dropout is the identity, both branches cancel
    np.testing.assert_array_equal(nets[0].predict(x), np.broadcast_to(nets[0].params()[1], (4, 1)))


# ---------------------------------------------------------------------------------------
# Frozen layers with every optimizer option.


OPTS = [{"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.1},
        {"name": "adam", "learning_rate": 0.01, "clipnorm": 0.01},
        {"name": "adamw", "learning_rate": 0.01, "global_clipnorm": 0.01},
        {"name": "rmsprop", "learning_rate": 0.01, "clipvalue": 0.001, "weight_decay": 0.01},
        {"name": "nadam", "learning_rate": 0.01, "weight_decay": 0.1},
        {"name": "adagrad", "learning_rate": 0.01, "global_clipnorm": 0.1}]


def reg_chain(opt):
    return graph(X3, [dense(4, "relu", name="a", kernel_regularizer={"l1": 0.01, "l2": 0.01}),
                      dense(4, "tanh", name="b", kernel_regularizer={"l1": 0.0, "l2": 0.1}),
                      {"type": "batch_normalization", "name": "bn"}, dense(2, name="c")],
                 [(0, [0]), (1, [1]), (2, [2]), (3, [3])], [4], loss=MSE, optimizer=opt)


@pytest.mark.parametrize("opt", OPTS, ids=lambda o: o["name"])
@pytest.mark.parametrize("frozen", [(0,), (1,), (3,), (0, 2)])
def test_frozen_weights_and_slots_never_move(opt, frozen):
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    net = reg_chain(opt)
    net.train_batch(x, y, None, 0.01)  # nonzero slots and gradients first
    for l in frozen:
        net.set_layer_trainable(l, False)
    sl = param_slices(net)
    frozen_idx = [i for l in frozen for i in sl[l]]
    before = [p.copy() for p in net.params()]
    slots = [s.copy() for s in net.optimizer_state()]
    net.train_epoch(x, y, None, 7, True, 0, np.full(3, 0.01), None, 0)
    net.train_batch(x, y, None, 0.01)
    tr = net.param_trainable()
    for i, (b, a) in enumerate(zip(before, net.params())):
        if i in frozen_idx:
            np.testing.assert_array_equal(b, a)
        elif tr[i]:
            assert not np.array_equal(b, a), i
    # optimizer slots cover the trainable arena (trainable tensors in params() order)
    offs, off = {}, 0
    for i, t in enumerate(tr):
        if t:
            offs[i] = (off, off + before[i].size)
            off += before[i].size
    for s0, s1 in zip(slots, net.optimizer_state()):
        if s0.size < off:
            continue
        for i in frozen_idx:
            if i in offs:
                np.testing.assert_array_equal(s0[offs[i][0]:offs[i][1]], s1[offs[i][0]:offs[i][1]])


def test_global_clipnorm_and_penalty_ignore_frozen_layers():
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    net = reg_chain({"name": "sgd", "learning_rate": 1.0, "global_clipnorm": 0.05})
    loss_all = net.evaluate(x, y, None, 20)["loss"]
    net.set_layer_trainable(0, False)
    k = net.params()[0]
    penalty_a = 0.01 * np.abs(k).sum() + 0.01 * (k**2).sum()
    np.testing.assert_allclose(net.evaluate(x, y, None, 20)["loss"], loss_all - penalty_a, rtol=1e-12)
    net.compute_gradients(x, y, None)
    g = [q.copy() for q in net.grads()]
    w = [p.copy() for p in net.params()]
    tr = net.param_trainable()
    live = [t and i >= 2 for i, t in enumerate(tr)]
    norm = np.sqrt(sum((q**2).sum() for q, l in zip(g, live) if l))
    assert norm > 0.05
    net.train_batch(x, y, None, 1.0)
    for i, l in enumerate(live):
        if l:
            np.testing.assert_allclose(net.params()[i], w[i] - 0.05 / norm * g[i], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("frozen", [(0,), (1,), (2,), (0, 2), (0, 1, 2)])
def test_frozen_at_beginning_middle_end(frozen):
    rng = np.random.default_rng(13)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    net = graph(X3, [dense(4, "relu", name="a"), dense(4, "tanh", name="b"), dense(2, name="c")],
                [(0, [0]), (1, [1]), (2, [2])], [3], loss=MSE, optimizer=SGD)
    net.train_batch(x, y, None, 0.1)
    for l in frozen:
        net.set_layer_trainable(l, False)
    fd_check(net, x, y)
    for l in frozen:
        net.set_layer_trainable(l, True)
    g = fd_check(net, x, y)
    assert all(np.abs(q).sum() > 0 for q in g)


# ---------------------------------------------------------------------------------------
# Dense whose input fans out: dX accumulates with GEMM beta = 1 (k > 256 blocks).


def test_wide_dense_fanout_accumulation_gradients():
    rng = np.random.default_rng(14)
    x, y = rng.normal(size=(5, 300)) * 0.1, rng.normal(size=(5, 2))
    net = graph([{"name": "x", "dim": 300}],
                [dense(300, "tanh", name="a"), dense(600, "tanh", name="b"), dense(300, name="c"), {"type": "add"},
                 dense(2, name="o")],
                [(0, [0]), (1, [1]), (2, [2]), (3, [1, 3]), (4, [4])], [5], loss=MSE, optimizer=SGD)
    net.compute_gradients(x, y, None)
    g = net.grads()[0].reshape(-1).copy()
    p = net.params()[0].reshape(-1)
    eps = 1e-6
    for i in rng.choice(p.size, 12, replace=False):
        num = central_difference(net, p, i, x, y, None, eps)
        assert abs(num - g[i]) <= 1e-5 * max(1.0, abs(num)), (i, num, g[i])
    # forward against NumPy
    w = net.params()
    h = np.tanh(x @ w[0] + w[1])
    s = h + (np.tanh(h @ w[2] + w[3]) @ w[4] + w[5])
    np.testing.assert_allclose(net.predict(x), s @ w[6] + w[7], rtol=1e-11, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Random DAGs: workspace and slot planning (NumPy forward, finite differences, freezing).


def random_dag(seed):
    r = np.random.default_rng(seed)
    w = 3
    inputs = [{"name": f"x{i}", "dim": w} for i in range(r.integers(1, 3))]
    layers, nodes, dense_ids = [], [], []
    ntens = len(inputs)
    for _ in range(r.integers(3, 9)):
        c = r.random()
        if c < 0.45 or ntens == len(inputs):
            if dense_ids and r.random() < 0.35:
                l = int(r.choice(dense_ids))  # shared Dense
            else:
                l = len(layers)
                layers.append(dense(w, str(r.choice(["tanh", "sigmoid", "linear"])), name=f"d{l}"))
                dense_ids.append(l)
            nodes.append((l, [int(r.integers(0, ntens))]))
        elif c < 0.55:
            l = len(layers)
            layers.append({"type": "identity", "name": f"i{l}"})
            nodes.append((l, [int(r.integers(0, ntens))]))
        elif c < 0.65:
            l = len(layers)
            layers.append({"type": "concatenate", "name": f"c{l}"})
            nodes.append((l, [int(r.integers(0, ntens)) for _ in range(int(r.integers(2, 4)))]))
            ntens += 1
            l = len(layers)
            layers.append(dense(w, "tanh", name=f"dc{l}"))
            nodes.append((l, [ntens - 1]))
        elif c < 0.72:
            l = len(layers)
            layers.append({"type": str(r.choice(["layer_normalization", "batch_normalization"])), "name": f"n{l}"})
            nodes.append((l, [int(r.integers(0, ntens))]))
        else:
            kind = str(r.choice(["add", "multiply", "average", "maximum", "subtract"]))
            k = 2 if kind == "subtract" else int(r.integers(2, 4))
            l = len(layers)
            layers.append({"type": kind, "name": f"m{l}"})
            nodes.append((l, [int(r.integers(0, ntens)) for _ in range(k)]))  # repeats allowed
        ntens += 1
    consumed = {t for _, ins in nodes for t in ins}
    outs = [t for t in range(len(inputs), ntens) if t not in consumed]
    outs += [int(t) for t in r.integers(len(inputs), ntens, size=r.integers(0, 3))]  # consumed / repeated
    return spec_of(inputs, layers, nodes, outs, seed=seed)


def numpy_forward(spec, net, xs):
    p = net.params()
    off = np.cumsum([0] + net.layer_param_counts())
    t = list(xs)
    for nd in spec["nodes"]:
        layer, q = spec["layers"][nd["layer"]], off[nd["layer"]]
        ins = [t[i] for i in nd["inputs"]]
        kind = layer["type"]
        if kind == "dense":
            t.append(ACT[layer["activation"]](ins[0] @ p[q] + p[q + 1]))
        elif kind == "identity":
            t.append(ins[0])
        elif kind == "concatenate":
            t.append(np.concatenate(ins, 1))
        elif kind == "layer_normalization":
            h = ins[0]
            t.append(p[q] * (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-3) + p[q + 1])
        elif kind == "batch_normalization":
            t.append(p[q] * (ins[0] - p[q + 2]) / np.sqrt(p[q + 3] + 1e-3) + p[q + 1])
        elif kind == "add":
            t.append(sum(ins[1:], ins[0]))
        elif kind == "average":
            t.append(sum(ins[1:], ins[0]) / len(ins))
        elif kind == "subtract":
            t.append(ins[0] - ins[1])
        elif kind == "multiply":
            t.append(np.prod(ins, axis=0))
        else:
            t.append(np.max(ins, axis=0))
    return [t[o] for o in spec["outputs"]]


def test_random_dags_forward_gradients_and_freezing():
    checked = 0
    for seed in range(400):
        spec = random_dag(seed)
        try:
            net = _core.Network(spec)
        except ValueError:
            continue  # unequal merge widths, a shared layer on another width: rejected
        r = np.random.default_rng(seed + 1000)
        n, nout = 5, len(spec["outputs"])
        xs = [r.normal(size=(n, 3)) for _ in spec["inputs"]]
        losses = [None if r.random() < 0.25 else
                  {"name": str(r.choice(["mse", "mae", "huber"])), "weight": float(r.uniform(0.5, 2))}
                  for _ in range(nout)]
        if all(l is None for l in losses):
            losses[0] = {"name": "mse"}
        net.set_training_config(losses if nout > 1 else losses[0], {"name": "adam", "learning_rate": 0.01}, None)
        ys = [None if l is None else r.normal(size=(n, net.output_dims()[o])) for o, l in enumerate(losses)]
        xin = xs if len(xs) > 1 else xs[0]
        yin = ys if nout > 1 else ys[0]
        pred = net.predict(xin)
        pred = pred if nout > 1 else [pred]
        for a, b in zip(pred, numpy_forward(spec, net, xs)):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-12, err_msg=str(spec))
        for bs in (1, 2):
            pb = net.predict(xin, batch_size=bs)
            for a, b in zip(pred, pb if nout > 1 else [pb]):
                np.testing.assert_array_equal(a, b)
        fd_check(net, xin, yin, rtol=2e-5)
        net.train_batch(xin, yin, None, 0.01)
        for l in range(len(spec["layers"])):
            if r.random() < 0.3:
                net.set_layer_trainable(l, False)
        fd_check(net, xin, yin, rtol=2e-5)
        checked += 1
    assert checked > 150


# ---------------------------------------------------------------------------------------
# Determinism: thread counts, shuffling, chunked and concurrent predict.


def test_graph_threads_bitwise_shared_dropout_frozen(threads):
    rng = np.random.default_rng(15)
    x = rng.normal(size=(256, 520)).astype(np.float32)
    y = rng.normal(size=(256, 3)).astype(np.float32)
    # a shared Dropout (two masks), BN, a frozen Dense fed by a fan-out, an add of three
    # tensors, LayerNorm, a second output without loss, L1/L2, global_clipnorm
    spec = spec_of([{"name": "x", "dim": 520}],
                   [dense(512, "relu", name="a", kernel_regularizer={"l1": 1e-4, "l2": 1e-4}),
                    {"type": "dropout", "rate": 0.3, "name": "dr"}, {"type": "batch_normalization", "name": "bn"},
                    dense(512, "tanh", name="b"), {"type": "add"}, {"type": "layer_normalization"}, dense(3, name="o")],
                   [(0, [0]), (1, [1]), (1, [1]), (2, [2]), (3, [4]), (4, [4, 5, 3]), (5, [6]), (6, [7])],
                   [8, 7], dtype="float32", seed=5)
    results = []
    for t in (1, 2, 3):
        dnnx.set_num_threads(t)
        net = _core.Network(spec)
        net.set_training_config([MSE, None], {"name": "adam", "global_clipnorm": 1.0}, None)
        net.set_layer_trainable(3, False)
        net.train_epoch(x, [y, None], None, 100, True, 0, np.full(3, 1e-3), None, 0)
        net.train_batch(x, [y, None], None, 1e-3)
        results.append(([p.copy() for p in net.params()], net.predict(x), net.evaluate(x, [y, None], None, 77)))
    for params, pred, logs in results[1:]:
        for a, b in zip(results[0][0], params):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(results[0][1], pred):
            np.testing.assert_array_equal(a, b)
        assert logs == results[0][2]


def test_train_epoch_unshuffled_equals_batches_and_shuffle_one_batch():
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    a, b = reg_chain({"name": "adam", "learning_rate": 0.01}), reg_chain({"name": "adam", "learning_rate": 0.01})
    logs = a.train_epoch(x, y, None, 7, False, 0, np.full(3, 0.01), None, 0)
    total = 0.0
    for i in range(0, 20, 7):
        total += b.train_batch(x[i:i + 7], y[i:i + 7], None, 0.01)["loss"] * len(x[i:i + 7])
    for p, q in zip(a.params(), b.params()):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_allclose(logs["loss"], total / 20, rtol=1e-12)
    # one batch holding every row: shuffling only reorders the sums (int64 IDs, weights too)
    ids = rng.integers(0, 7, size=(20, 2))
    sw = rng.uniform(0.5, 2, size=20)
    yc = rng.integers(0, 3, size=(20, 1)).astype(np.float64)

    def make():
        return graph([{"name": "ids", "dim": 2, "dtype": "int64"}, {"name": "x", "dim": 3}],
                     [{"type": "embedding", "input_dim": 7, "output_dim": 3, "name": "e"}, {"type": "flatten"},
                      {"type": "concatenate"}, dense(3, "softmax", name="o")],
                     [(0, [0]), (1, [2]), (2, [3, 1]), (3, [4])], [5],
                     loss={"name": "sparse_categorical_crossentropy"}, optimizer={"name": "sgd", "learning_rate": 0.1},
                     metrics=[{"name": "sparse_categorical_accuracy", "key": "acc"}])

    s, u = make(), make()
    ls = s.train_epoch([ids, x], yc, sw, 20, True, 0, np.full(1, 0.1), None, 0)
    lu = u.train_epoch([ids, x], yc, sw, 20, False, 0, np.full(1, 0.1), None, 0)
    for p, q in zip(s.params(), u.params()):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ls["loss"], lu["loss"], rtol=1e-12)
    np.testing.assert_allclose(ls["acc"], lu["acc"], rtol=1e-12)  # weighted: the order of the sums


def test_evaluate_batch_size_not_dividing_n():
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    net = reg_chain(SGD)
    full = net.evaluate(x, y, None, 20)
    for bs in (1, 3, 7, 19, 64):
        np.testing.assert_allclose(net.evaluate(x, y, None, bs)["loss"], full["loss"], rtol=1e-12)
    out = net.predict(x)
    k = net.params()
    penalty = 0.01 * np.abs(k[0]).sum() + 0.01 * (k[0] ** 2).sum() + 0.1 * (k[2] ** 2).sum()
    np.testing.assert_allclose(full["loss"], np.mean((out - y) ** 2) + penalty, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_chunks_bitwise_wide_graph(dtype):
    rng = np.random.default_rng(18)
    x = rng.normal(size=(61, 300)).astype(dtype)
    ids = rng.integers(0, 20, size=(61, 4))
    spec = spec_of([{"name": "x", "dim": 300}, {"name": "ids", "dim": 4, "dtype": "int64"}],
                   [dense(600, "relu", name="a"), dense(300, "tanh", name="b"), {"type": "add"},
                    {"type": "embedding", "input_dim": 20, "output_dim": 5, "name": "e"},
                    dense(7, "sigmoid", name="ps"), {"type": "flatten"}, {"type": "concatenate"},
                    dense(10, "softmax", name="o"), {"type": "batch_normalization"}],
                   [(0, [0]), (1, [2]), (2, [3, 0]), (3, [1]), {"layer": 4, "inputs": [5], "steps": 4},
                    (5, [6]), (6, [4, 7, 3]), (7, [8]), (8, [7])],
                   [9, 10, 2], dtype=dtype)
    net = _core.Network(spec)
    full = net.predict([x, ids])
    for bs in (1, 7, 16, 60, 64):
        for a, b in zip(full, net.predict([x, ids], batch_size=bs)):
            np.testing.assert_array_equal(a, b)
    # NumPy reference: tensors 2 = relu Dense (an output), 3 = tanh Dense, 4 = add(3, x),
    # 7 = the per-step Dense flattened, 9 = the softmax head, 10 = BN of 7 (an output)
    w = net.params()
    tol = 2e-5 if dtype == "float32" else 1e-11
    s = np.maximum(x @ w[0] + w[1], 0)
    t3 = np.tanh(s @ w[2] + w[3])
    t7 = ACT["sigmoid"](w[4][ids] @ w[5] + w[6]).reshape(61, 28)
    z = np.concatenate([t3 + x, t7, t3], 1) @ w[7] + w[8]
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(full[2], s, rtol=tol, atol=tol)
    np.testing.assert_allclose(full[0], p / p.sum(1, keepdims=True), rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(full[1], w[9] * (t7 - w[11]) / np.sqrt(w[12] + 1e-3) + w[10], rtol=tol, atol=tol)


def test_concurrent_predict_graph():
    rng = np.random.default_rng(19)
    x = rng.normal(size=(300, 3))
    net = graph(X3, [dense(64, "relu", name="a"), dense(64, "tanh", name="b"), {"type": "add"}, dense(2, name="o")],
                [(0, [0]), (1, [1]), (2, [1, 2]), (3, [3])], [4, 3])
    ref = net.predict(x)
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        for _ in range(25):
            out = net.predict(x, batch_size=int(r.integers(1, 40)))
            errors.extend(1 for a, b in zip(ref, out) if not np.array_equal(a, b))

    ts = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


# ---------------------------------------------------------------------------------------
# Labels and specs.


def test_sparse_labels_checked_per_output_and_metrics_only_output():
    rng = np.random.default_rng(20)
    x = rng.normal(size=(6, 3))
    ya, yb = rng.integers(0, 3, size=(6, 1)).astype(np.float64), np.eye(4)[rng.integers(0, 4, 6)]
    net = graph(X3, [dense(3, "softmax", name="a"), dense(4, "softmax", name="b")], [(0, [0]), (1, [0])], [1, 2],
                loss=[{"name": "sparse_categorical_crossentropy"}, {"name": "categorical_crossentropy"}], optimizer=SGD)
    bad = ya.copy()
    bad[2] = 3
    with pytest.raises(ValueError, match=r"y of output 'output' holds class indices.*y\[2\] = 3"):
        net.train_batch(x, [bad, yb], None, 0.1)
    net = graph(X3, [dense(3, "softmax", name="a"), dense(4, "softmax", name="b")], [(0, [0]), (1, [0])], [1, 2],
                loss=[{"name": "categorical_crossentropy"}, {"name": "sparse_categorical_crossentropy"}], optimizer=SGD)
    bad = rng.integers(0, 4, size=(6, 1)).astype(np.float64)
    bad[5] = 0.5
    with pytest.raises(ValueError, match=r"y of output 'output_1'.*y\[5\] = 0.5"):
        net.evaluate(x, [np.eye(3)[rng.integers(0, 3, 6)], bad], None, 4)
    # an output with metrics only: its labels are checked, its loss gradient is nothing
    y = rng.normal(size=(6, 2))

    def make(metrics):
        return graph(X3, [dense(4, "softmax", name="d"), dense(2, name="e")], [(0, [0]), (1, [0])], [1, 2],
                     loss=[None, MSE], optimizer=SGD, metrics=metrics)

    net = make([[{"name": "sparse_categorical_accuracy", "key": "output_acc"}], []])
    yc = rng.integers(0, 4, size=(6, 1)).astype(np.float64)
    logs = net.evaluate(x, [yc, y], None, 4)
    p, _ = net.predict(x)
    np.testing.assert_allclose(logs["output_acc"], np.mean(p.argmax(1) == yc[:, 0]))
    assert list(logs) == ["loss", "output_acc"]  # one output with a loss: no per-output key (Keras)
    ref = make(None)
    net.compute_gradients(x, [yc, y], None)
    ref.compute_gradients(x, [None, y], None)
    for a, b in zip(net.grads(), ref.grads()):
        np.testing.assert_array_equal(a, b)
    yc[0] = 7
    with pytest.raises(ValueError, match="class indices"):
        net.evaluate(x, [yc, y], None, 4)


BASE = {"dtype": "float64", "seed": 0, "inputs": X3}


@pytest.mark.parametrize("bad", [
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [1]}], outputs=[1]),   # reads itself (cycle)
    dict(BASE, layers=[dense(2), dense(2)], nodes=[{"layer": 0, "inputs": [2]}, {"layer": 1, "inputs": [1]}],
         outputs=[2]),                                                                   # forward reference
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [-1]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [7]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 1, "inputs": [0]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": -1, "inputs": [0]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[2]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[-1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[0]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": []}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[], outputs=[1]),
    dict(BASE, inputs=[], layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[1]),
    dict(BASE, inputs=[{"name": "x", "dim": 0}], layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[1]),
    dict(BASE, layers=[dense(2), dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[1]),      # unused layer
    dict(BASE, layers=[dense(2), dense(2)], nodes=[{"layer": 0, "inputs": [0]}, {"layer": 1, "inputs": [0]}],
         outputs=[1]),                                                                   # unused node
    dict(BASE, layers=[dense(2), {"type": "add"}], nodes=[{"layer": 0, "inputs": [0]}, {"layer": 1, "inputs": [1]}],
         outputs=[2]),                                                                   # add of one
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0, 0]}], outputs=[1]),  # dense of two
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0], "steps": 0}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0], "steps": 2}], outputs=[1]),
    dict(BASE, layers=[{"type": "embedding", "input_dim": 3, "output_dim": 2}], nodes=[{"layer": 0, "inputs": [0]}],
         outputs=[1]),                                                                   # float IDs
    dict(BASE, inputs=[{"name": "i", "dim": 2, "dtype": "int64"}], layers=[{"type": "embedding", "input_dim": 3,
         "output_dim": 2}], nodes=[{"layer": 0, "inputs": [0], "steps": 2}], outputs=[1]),
    dict(BASE, layers=[{"type": "global_average_pooling1d", "steps": 2}], nodes=[{"layer": 0, "inputs": [0]}],
         outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [True]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0.0]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0}], outputs=[1]),
    # sizes whose products overflow int64 (they used to lay out a too-small arena: an
    # Embedding of 2**34 x 2**30 got a table of 0 elements and predict read outside it)
    dict(BASE, inputs=[{"name": "i", "dim": 1, "dtype": "int64"}],
         layers=[{"type": "embedding", "input_dim": 2**34, "output_dim": 2**30}], nodes=[{"layer": 0, "inputs": [0]}],
         outputs=[1]),
    dict(BASE, inputs=[{"name": "i", "dim": 2**40, "dtype": "int64"}],
         layers=[{"type": "embedding", "input_dim": 4, "output_dim": 2**30}], nodes=[{"layer": 0, "inputs": [0]}],
         outputs=[1]),
    dict(BASE, inputs=[{"name": "x", "dim": 2**62}], layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}],
         outputs=[1]),
    dict(BASE, inputs=[{"name": "x", "dim": 2**40}], layers=[dense(2**30)],
         nodes=[{"layer": 0, "inputs": [0], "steps": 2**38}], outputs=[1]),
    # ints beyond int64 and malformed names: ValueError, not pybind11's RuntimeError
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [2**70]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 2**70, "inputs": [0]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[2**70]),
    dict(BASE, layers=[dense(2**70)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[1]),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[1], output_names="y"),
    dict(BASE, layers=[dense(2)], nodes=[{"layer": 0, "inputs": [0]}], outputs=[1], output_names=[1]),
])
def test_bad_specs_raise_value_error(bad):
    with pytest.raises(ValueError):
        _core.Network(bad)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float32_matches_float64_graph(dtype):
    rng = np.random.default_rng(21)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    a = graph(X3, [dense(4, "tanh", name="a"), dense(4, "sigmoid", name="b"), {"type": "multiply"},
                   {"type": "batch_normalization"}, dense(2, name="c")],
              [(0, [0]), (1, [0]), (2, [1, 2, 1]), (3, [3]), (4, [4])], [5], dtype=dtype, loss=MSE, optimizer=SGD)
    b = graph(X3, [dense(4, "tanh", name="a"), dense(4, "sigmoid", name="b"), {"type": "multiply"},
                   {"type": "batch_normalization"}, dense(2, name="c")],
              [(0, [0]), (1, [0]), (2, [1, 2, 1]), (3, [3]), (4, [4])], [5], loss=MSE, optimizer=SGD)
    for p, q in zip(a.params(), b.params()):
        q[...] = p
    b.params_changed()
    np.testing.assert_allclose(a.predict(x.astype(dtype)), b.predict(x), rtol=1e-4, atol=1e-5)
    a.compute_gradients(x.astype(dtype), y.astype(dtype), None)
    b.compute_gradients(x, y, None)
    for p, q in zip(a.grads(), b.grads()):
        np.testing.assert_allclose(p, q, rtol=1e-3, atol=1e-4)


def embedding_steps_spec(dtype, vocab, dim, units, steps=4):
    # one Embedding shared by two ID inputs, one Dense applied per step to both sequences,
    # BN per step on one branch, pooling, Multiply of the branches, softmax head
    return spec_of([{"name": "a", "dim": steps, "dtype": "int64"}, {"name": "b", "dim": steps, "dtype": "int64"}],
                   [{"type": "embedding", "input_dim": vocab, "output_dim": dim, "name": "e",
                     "embeddings_regularizer": {"l1": 0.0, "l2": 1e-4}},
                    dense(units, "relu", name="ps"), {"type": "batch_normalization"},
                    {"type": "global_average_pooling1d", "steps": steps}, {"type": "multiply"},
                    dense(5, "softmax", name="o")],
                   [(0, [0]), (0, [1]), {"layer": 1, "inputs": [2], "steps": steps},
                    {"layer": 1, "inputs": [3], "steps": steps}, {"layer": 2, "inputs": [4], "steps": steps},
                    (3, [6]), (3, [5]), (4, [7, 8]), (5, [9])], [10], dtype=dtype, seed=4)


def test_shared_embedding_steps_graph_gradients():
    rng = np.random.default_rng(22)
    ids1, ids2 = rng.integers(0, 6, size=(7, 4)), rng.integers(0, 6, size=(7, 4))
    y = rng.integers(0, 5, size=(7, 1)).astype(np.float64)
    net = _core.Network(embedding_steps_spec("float64", 6, 3, 4))
    net.set_training_config({"name": "sparse_categorical_crossentropy"}, SGD, None)
    fd_check(net, [ids1, ids2], y)
    net.set_layer_trainable(1, False)
    fd_check(net, [ids1, ids2], y)


def test_shared_embedding_steps_threads_bitwise(threads):
    rng = np.random.default_rng(23)
    ids1, ids2 = rng.integers(0, 300, size=(256, 4)), rng.integers(0, 300, size=(256, 4))
    y = rng.integers(0, 5, size=(256, 1)).astype(np.float32)
    results = []
    for t in (1, 2, 3):
        dnnx.set_num_threads(t)
        net = _core.Network(embedding_steps_spec("float32", 300, 128, 512))
        net.set_training_config({"name": "sparse_categorical_crossentropy"}, {"name": "nadam", "clipnorm": 1.0},
                                [{"name": "sparse_categorical_accuracy", "key": "acc"}])
        logs = net.train_epoch([ids1, ids2], y, None, 128, True, 0, np.full(2, 1e-3), None, 0)
        results.append(([p.copy() for p in net.params()], net.predict([ids1, ids2], batch_size=50), logs))
    for params, pred, logs in results[1:]:
        for a, b in zip(results[0][0], params):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(results[0][1], pred)
        assert logs == results[0][2]


def test_predict_out_sharing_memory_with_an_input_is_rejected():
    # predict(x, out=x) used to give silently wrong results (the GEMM overwrote rows of x
    # it had not read yet)
    rng = np.random.default_rng(24)
    x = rng.normal(size=(100, 64))
    net = graph([{"name": "x", "dim": 64}], [dense(64, "tanh", name="a")], [(0, [0])], [1])
    ref = net.predict(x)
    for bs in (0, 7):
        with pytest.raises(ValueError, match="out must not share memory with x"):
            net.predict(x, batch_size=bs, out=x)
    narrow = graph([{"name": "x", "dim": 64}], [dense(32, "tanh", name="a")], [(0, [0])], [1])
    with pytest.raises(ValueError, match="share memory"):
        narrow.predict(x, out=x.reshape(-1)[-100 * 32:].reshape(100, 32))
    two = graph([{"name": "a", "dim": 64}, {"name": "b", "dim": 64}], [{"type": "add"}], [(0, [0, 1])], [2])
    y = x.copy()
    with pytest.raises(ValueError, match=r"share memory with x\[1\]"):
        two.predict([x, y], out=y)
    out = np.empty_like(ref)
    assert net.predict(x, out=out) is out
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(two.predict([x, y], out=np.empty_like(x)), x + y)


def test_random_wide_dags_threads_bitwise(threads):
    import json

    checked = 0
    for seed in range(20):
        spec = json.loads(json.dumps(random_dag(seed)).replace('"dim": 3', '"dim": 520')
                          .replace('"units": 3', '"units": 520'))
        spec["dtype"] = "float32"
        try:
            _core.Network(spec)
        except ValueError:
            continue
        r = np.random.default_rng(seed)
        xs = [r.normal(size=(256, 520)).astype(np.float32) for _ in spec["inputs"]]
        nout = len(spec["outputs"])
        results, ys = [], None
        for t in (1, 3):
            dnnx.set_num_threads(t)
            net = _core.Network(spec)
            net.set_training_config([MSE] * nout if nout > 1 else MSE, {"name": "adam"}, None)
            if ys is None:
                ys = [r.normal(size=(256, d)).astype(np.float32) for d in net.output_dims()]
            net.train_epoch(xs if len(xs) > 1 else xs[0], ys if nout > 1 else ys[0], None, 128, True, 0,
                            np.full(2, 1e-3), None, 0)
            results.append([p.copy() for p in net.params()])
        for a, b in zip(*results):
            np.testing.assert_array_equal(a, b)
        checked += 1
    assert checked > 10
