"""Optimizer update rules of _core.Network against reference.py over a few steps."""

import numpy as np
import pytest

import reference as ref
from core_util import dense, make_net

CASES = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("adam", {}),
    ("adam", {"amsgrad": True, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-5}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", {}),
    ("rmsprop", {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("rmsprop", {"centered": True}),
    ("adagrad", {}),
    ("adagrad", {"initial_accumulator_value": 0.5}),
    ("nadam", {}),
    ("sgd", {"weight_decay": 0.05, "momentum": 0.5}),
    ("adam", {"clipnorm": 0.05}),
    ("adam", {"global_clipnorm": 0.05}),
    ("sgd", {"clipvalue": 0.01}),
]


@pytest.mark.parametrize("name,hyper", CASES)
def test_update_rule_matches_reference(name, hyper):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((9, 4)), rng.standard_normal((9, 2))
    layers = [dense(5, "tanh"), {"type": "batch_normalization"}, dense(2)]
    net = make_net(layers, 4, {"name": "mse"}, {"name": name, **hyper}, seed=2)
    trainable = net.param_trainable()
    ws = [p.copy() for p, t in zip(net.params(), trainable) if t]
    state = {}
    lrs = [0.05, 0.02, 0.03, 0.01]
    for step, lr in enumerate(lrs):
        net.compute_gradients(x, y, None)
        gs = [g.copy() for g, t in zip(net.grads(), trainable) if t]
        ref.optimizer_step(name, ws, gs, state, lr, step + 1, **hyper)
        net.train_batch(x, y, None, lr)
        got = [p for p, t in zip(net.params(), trainable) if t]
        for a, b in zip(got, ws):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)
    assert net.iterations == len(lrs)


def test_optimizer_state_views_and_names():
    net = make_net([dense(3), {"type": "batch_normalization"}], 2, {"name": "mse"}, {"name": "adam", "amsgrad": True})
    assert net.optimizer_state_names() == ["momentum", "velocity", "velocity_hat"]
    trainable = sum(p.size for p, t in zip(net.params(), net.param_trainable()) if t)
    assert [s.shape for s in net.optimizer_state()] == [(trainable,)] * 3
    net.train_batch(np.ones((2, 2)), np.ones((2, 3)), None, 0.1)
    assert np.any(net.optimizer_state()[0] != 0)
    rms = make_net([dense(3)], 2, {"name": "mse"}, {"name": "rmsprop", "momentum": 0.9, "centered": True})
    assert rms.optimizer_state_names() == ["velocity", "momentum", "average_gradient"]
    assert make_net([dense(3)], 2, {"name": "mse"}, {"name": "sgd"}).optimizer_state_names() == []


def test_resume_from_saved_state_is_exact():
    """Python saves params, optimizer_state and iterations; restoring them continues exactly."""
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    for name in ("adam", "nadam"):
        a = make_net([dense(2)], 3, {"name": "mse"}, {"name": name})
        for _ in range(3):
            a.train_batch(x, y, None, 0.01)
        b = make_net([dense(2)], 3, {"name": "mse"}, {"name": name})
        b.param_arena()[...] = a.param_arena()
        for s, t in zip(b.optimizer_state(), a.optimizer_state()):
            s[...] = t
        b.iterations = a.iterations
        a.train_batch(x, y, None, 0.01)
        b.train_batch(x, y, None, 0.01)
        np.testing.assert_array_equal(a.param_arena(), b.param_arena())


def test_non_trainable_statistics_are_not_updated_by_the_optimizer():
    net = make_net([{"type": "batch_normalization", "momentum": 0.0}], 2, {"name": "mse"},
                   {"name": "sgd", "weight_decay": 0.5})
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    net.train_batch(x, np.zeros((2, 2)), None, 0.1)
    _, _, mm, mv = net.params()
    np.testing.assert_allclose(mm, [2.0, 4.0])  # batch statistics, untouched by weight decay
    np.testing.assert_allclose(mv, [1.0, 4.0])


def test_optimizer_hyperparameter_errors():
    with pytest.raises(ValueError, match="momentum must be in"):
        make_net([dense(1)], 1, {"name": "mse"}, {"name": "sgd", "momentum": 1.5})
    with pytest.raises(ValueError, match="only one of clipnorm and global_clipnorm"):
        make_net([dense(1)], 1, {"name": "mse"}, {"name": "adam", "clipnorm": 1.0, "global_clipnorm": 1.0})
    with pytest.raises(ValueError, match="'nesterov' must be a bool"):
        make_net([dense(1)], 1, {"name": "mse"}, {"name": "sgd", "nesterov": 1})


@pytest.mark.parametrize("name,hyper", CASES)
def test_update_rule_float32_every_kernel(kernel, name, hyper):
    # float32 runs the SIMD update of the active kernel (the portable loop under "ref").
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((9, 4)).astype(np.float32), rng.standard_normal((9, 37)).astype(np.float32)
    net = make_net([dense(37, "tanh")], 4, {"name": "mse"}, {"name": name, **hyper}, dtype="float32", seed=2)
    ws = [p.astype(np.float64) for p in net.params()]
    state = {}
    for step, lr in enumerate([0.05, 0.02, 0.03]):
        net.compute_gradients(x, y, None)
        gs = [g.astype(np.float64) for g in net.grads()]
        ref.optimizer_step(name, ws, gs, state, lr, step + 1, **hyper)
        net.train_batch(x, y, None, lr)
        for a, b in zip(net.params(), ws):
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
        ws = [p.astype(np.float64) for p in net.params()]  # follow float32 rounding
