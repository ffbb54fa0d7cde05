"""Learning-rate schedules: formulas, and that fit applies one value per step."""

import math

import numpy as np
import pytest

import dnnx
from dnnx import layers
from dnnx.optimizers import schedules


def test_exponential_decay():
    s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert s(0) == pytest.approx(0.1) and s(10) == pytest.approx(0.05) and s(5) == pytest.approx(0.1 * 0.5 ** 0.5)
    st = schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert st(9) == pytest.approx(0.1) and st(10) == pytest.approx(0.05)
    np.testing.assert_allclose(s(np.arange(3)), [s(0), s(1), s(2)])


def test_piecewise_constant():
    s = schedules.PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1])
    assert [s(0), s(10), s(11), s(20), s(21)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    with pytest.raises(ValueError, match=r"len\(values\) must be len\(boundaries\) \+ 1"):
        schedules.PiecewiseConstantDecay([1], [1.0])


def test_cosine_decay_with_warmup():
    s = schedules.CosineDecay(0.0, decay_steps=100, alpha=0.1, warmup_target=1.0, warmup_steps=10)
    assert s(0) == pytest.approx(0.0) and s(5) == pytest.approx(0.5) and s(10) == pytest.approx(1.0)
    assert s(60) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert s(110) == pytest.approx(0.1) and s(1000) == pytest.approx(0.1)
    plain = schedules.CosineDecay(1.0, 100)
    assert plain(0) == pytest.approx(1.0) and plain(100) == pytest.approx(0.0)


def test_fit_applies_schedule_per_step():
    """fit with a schedule == manual train_on_batch loop setting the same lr each step."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = rng.standard_normal((64, 1)).astype(np.float32)
    sched = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)

    def model(lr):
        m = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(1)], seed=7)
        m.compile(optimizer=dnnx.optimizers.SGD(learning_rate=lr), loss="mse")
        return m

    a = model(sched)
    a.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert a.optimizer.iterations == 8
    b = model(0.1)
    for step in range(8):
        b.optimizer.learning_rate = float(sched(step))
        i = step % 4
        b.train_on_batch(x[16 * i:16 * i + 16], y[16 * i:16 * i + 16])
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)
    c = model(0.1)  # a constant rate gives a different result: the schedule mattered
    c.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
