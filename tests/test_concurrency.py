"""predict from many Python threads at once equals serial calls (also with threaded GEMMs
inside, several outputs, and weight views alive so that every call re-checks the packed
kernels); every other call is exclusive: overlapping one raises RuntimeError at once."""

import threading

import numpy as np
import pytest

import dnnx
from dnnx import callbacks, layers


def hammer(fn, n_threads=8, reps=6):
    errors, barrier = [], threading.Barrier(n_threads)

    def work(i):
        try:
            barrier.wait()
            for r in range(reps):
                fn(i, r)
        except Exception as e:  # reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not errors, errors[:3]


@pytest.mark.parametrize("hold_views", [False, True])
def test_many_threads_predict_like_serial(hold_views, threads):
    dnnx.set_num_threads(2)  # each call's GEMMs are threaded too (2*700*256*512 flops)
    m = dnnx.Sequential([dnnx.Input(shape=(256,)), layers.Dense(512, activation="gelu"), layers.LayerNormalization(),
                         layers.Dense(10, activation="softmax")], seed=0)
    m.build()
    views = m.weights if hold_views else None
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((n, 256)).astype(np.float32) for n in (1, 33, 700, 1500)]
    expected = [m.predict(x, verbose=0) for x in xs]

    def call(i, r):
        j = (i + r) % len(xs)
        got = m.predict(xs[j], batch_size=None if r % 2 else 256, verbose=0)
        np.testing.assert_array_equal(got, expected[j])

    hammer(call)
    del views


def test_many_threads_predict_a_multi_output_graph():
    num = dnnx.Input(shape=(6,), name="num")
    ids = dnnx.Input(shape=(2,), dtype="int64", name="ids")
    h = layers.Concatenate()([num, layers.Flatten()(layers.Embedding(50, 4)(ids))])
    h = layers.Dense(64, activation="relu")(h)
    m = dnnx.Model([num, ids], {"a": layers.Dense(1, activation="sigmoid", name="a")(h),
                                "b": layers.Dense(3, name="b")(layers.Add()([h, layers.Dense(64)(h)]))}, seed=1)
    rng = np.random.default_rng(1)
    data = [{"num": rng.standard_normal((n, 6)).astype(np.float32), "ids": rng.integers(0, 50, (n, 2))}
            for n in (3, 64, 500)]
    expected = [m.predict(d, verbose=0) for d in data]

    def call(i, r):
        j = (i * 7 + r) % len(data)
        got = m.predict(data[j], verbose=0)
        assert isinstance(got, type(expected[j])) and len(got) == len(expected[j]) == 2
        for g, e in zip(got, expected[j]):
            np.testing.assert_array_equal(g, e)

    hammer(call)


def test_predict_while_training_on_another_thread_raises():
    x = np.zeros((64, 4), np.float32)
    y = np.zeros(64)
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(2, activation="softmax")], seed=0)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    inside, leave = threading.Event(), threading.Event()

    class Block(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            inside.set()
            leave.wait(30)

    t = threading.Thread(target=lambda: m.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[Block()]))
    t.start()
    try:
        assert inside.wait(30)
        # the core network directly, too: its own guard, not only the Python fit hold
        with pytest.raises(RuntimeError, match=r"predict: the model is busy: fit is running on another thread"):
            m._net.predict(x, 0)
        with pytest.raises(RuntimeError, match=r"evaluate: the model is busy"):
            m._net.evaluate(x, y.reshape(-1, 1).astype(np.float32), None, 8)
        with pytest.raises(RuntimeError, match=r"params_changed: the model is busy"):
            m._net.params_changed()
    finally:
        leave.set()
        t.join(60)
    np.testing.assert_array_equal(m.predict(x[:2], verbose=0), m.predict(x[:2], verbose=0))


def test_core_guard_without_the_python_hold():
    net = dnnx._core.Network({"dtype": "float32", "input_dim": 2, "layers": [{"type": "dense", "units": 1}],
                              "loss": {"name": "mse"}, "optimizer": {"name": "sgd"}})
    x, y = np.zeros((8, 2), np.float32), np.zeros((8, 1), np.float32)
    seen = []

    def cb(batch, logs):
        seen.append(net.predict(x[:1], 0))  # allowed: training is paused in its callback
        seen.append(net.evaluate(x, y, None, 4))
        for bad in (lambda: net.train_batch(x, y, None, 0.1), lambda: net.set_training_config({"name": "mse"}, None, []),
                    lambda: net.compute_gradients(x, y, None), lambda: net.hold("fit")):
            with pytest.raises(RuntimeError, match="the model is busy"):
                bad()
        return False

    net.train_epoch(x, y, None, 4, False, 0, np.full(2, 0.1), cb, 1)
    assert len(seen) == 4
    net.hold("fit")
    with pytest.raises(RuntimeError, match="fit is already running on this model"):
        net.hold("fit")
    with pytest.raises(RuntimeError, match="set_training_config: the model is busy: fit is running on this model"):
        net.set_training_config({"name": "mse"}, {"name": "sgd"}, [])
    net.train_batch(x, y, None, 0.1)  # the holder's own calls run
    net.release()
    net.set_training_config({"name": "mse"}, {"name": "sgd"}, [])
    with pytest.raises(ValueError, match="kind must be"):
        net.check("x", "sometimes")
