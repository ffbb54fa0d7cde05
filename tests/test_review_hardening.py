"""The review findings of the hardening issue: each test failed before its fix.

Stale optimizer-state views, ignored writes through layer weight views, re-entrant calls
from callbacks, NaN in AUC, models too large to allocate, std::bad_alloc inside parallel
and a learning rate of 0.
"""

import math
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import dnnx
from dnnx import _core, callbacks, layers


def run_child(code: str, timeout: int = 120, limit_bytes: int = 0) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter (optionally with an address-space limit)."""
    prefix = ""
    if limit_bytes:
        prefix = f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({limit_bytes}, {limit_bytes}))\n"
    return subprocess.run([sys.executable, "-c", prefix + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout)


def classifier(seed=0, metrics=("accuracy",)):
    m = dnnx.Sequential([dnnx.Input(shape=(8,)), layers.Dense(16, activation="relu"),
                         layers.Dense(3, activation="softmax")], seed=seed)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return m


def data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)


# -- optimizer state views ---------------------------------------------------------------
def test_optimizer_state_view_outlives_recompile():
    # Slots of 1 MiB are mmap'ed: reading one after the old optimizer is freed would fault.
    out = run_child("""
        import numpy as np, dnnx
        m = dnnx.Sequential([dnnx.Input(shape=(512,)), dnnx.layers.Dense(512)], seed=0)
        m.compile(optimizer="adam", loss="mse")
        x = np.ones((4, 512), np.float32)
        m.fit(x, x, epochs=1, verbose=0)
        views = m._net.optimizer_state()
        before = [v.copy() for v in views]
        m.compile(optimizer="adam", loss="mse")  # a new optimizer: the old slots go
        junk = [np.full(v.size, 7.0, np.float32) for v in views for _ in range(4)]
        for v, b in zip(views, before):
            np.testing.assert_array_equal(v, b)
        fresh = m._net.optimizer_state()
        assert all(not np.shares_memory(f, v) for f in fresh for v in views)
        assert all(np.all(f == 0) for f in fresh)
        print("ok")
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


# -- writes through weight views ---------------------------------------------------------
@pytest.mark.parametrize("when", ["after_predict", "before_predict"])
def test_writes_through_kernel_and_bias_are_honoured(when):
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(3)], seed=0)
    m.build()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    dense = m.layers[0]
    if when == "after_predict":
        m.predict(x, verbose=0)  # packs the kernel
    kernel, bias = dense.kernel, dense.bias
    m.predict(x, verbose=0)
    kernel[...] = 0.0
    bias[...] = 1.0
    np.testing.assert_array_equal(m.predict(x, verbose=0), np.ones((5, 3), np.float32))
    dense.kernel[0, :] = 2.0
    np.testing.assert_allclose(m.predict(x, verbose=0), 1.0 + 2.0 * x[:, :1] * np.ones((1, 3)), rtol=1e-6)
    loss = m.compile(optimizer="sgd", loss="mse") or m.evaluate(x, np.ones((5, 3), np.float32), verbose=0)
    np.testing.assert_allclose(loss, np.mean((1.0 + 2.0 * x[:, :1] - 1.0) ** 2), rtol=1e-5)


def test_writes_through_embeddings_are_honoured():
    ids = dnnx.Input(shape=(1,), dtype="int64")
    emb = layers.Embedding(10, 2)
    m = dnnx.Model(ids, layers.Flatten()(emb(ids)))
    x = np.arange(10, dtype=np.int64).reshape(10, 1)
    m.predict(x, verbose=0)
    emb.embeddings[...] = 3.0
    np.testing.assert_array_equal(m.predict(x, verbose=0), np.full((10, 2), 3.0, np.float32))


# -- calling the model from a callback ---------------------------------------------------
class EveryBatch(callbacks.Callback):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def on_train_batch_end(self, batch, logs=None):
        self.fn(self.model)


def test_evaluate_from_a_batch_callback_keeps_the_training_metrics():
    x, y = data()
    xv, yv = data(40, seed=1)
    a, b = classifier(seed=3), classifier(seed=3)
    seen = []
    ha = a.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
               callbacks=[EveryBatch(lambda m: seen.append(m.evaluate(xv, yv, verbose=0, return_dict=True)))])
    hb = b.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert ha.history == hb.history
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(u, v)
    assert len(seen) == 12 and all(set(s) == {"loss", "accuracy"} for s in seen)
    # and what the callback saw is the model at that step, on the validation rows
    c = classifier(seed=3)
    c.fit(x[:16], y[:16], batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert c.evaluate(xv, yv, verbose=0, return_dict=True) == seen[0]


def test_predict_from_a_batch_callback():
    x, y = data()
    got = []
    m = classifier()
    m.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[EveryBatch(lambda m: got.append(m.predict(x[:3],
                                                                                                     verbose=0)))])
    assert len(got) == 3
    np.testing.assert_array_equal(got[-1], m.predict(x[:3], verbose=0))


@pytest.mark.parametrize("hook", ["on_train_batch_end", "on_epoch_end", "on_train_begin"])
def test_compile_from_a_callback_raises_and_the_model_stays_usable(hook):
    x, y = data()
    m = classifier()

    class Recompile(callbacks.Callback):
        pass

    setattr(Recompile, hook, lambda self, *a, **k: self.model.compile(optimizer="sgd", loss="mse"))
    with pytest.raises(RuntimeError, match=r"compile: the model is busy: fit"):
        m.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[Recompile()])
    assert isinstance(m.optimizer, dnnx.optimizers.Adam)  # the failed compile changed nothing
    h = m.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")  # fine once fit returned


@pytest.mark.parametrize("call", ["fit", "train_on_batch", "compute_gradients"])
def test_training_from_a_batch_callback_raises(call):
    x, y = data()
    m = classifier()
    fn = {"fit": lambda m: m.fit(x, y, verbose=0), "train_on_batch": lambda m: m.train_on_batch(x, y),
          "compute_gradients": lambda m: m.compute_gradients(x, y)}[call]
    with pytest.raises(RuntimeError, match="the model is busy"):
        m.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[EveryBatch(fn)])
    m.fit(x, y, batch_size=32, epochs=1, verbose=0)


def test_calls_from_another_thread_while_fit_runs_raise():
    import threading
    x, y = data()
    m = classifier()
    started, release = threading.Event(), threading.Event()

    class Block(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                started.set()
                release.wait(30)

    errors = []
    t = threading.Thread(target=lambda: errors.append(m.fit(x, y, batch_size=32, epochs=1, verbose=0,
                                                            callbacks=[Block()])))
    t.start()
    try:
        assert started.wait(30)
        for what, call in [("fit", lambda: m.fit(x, y, verbose=0)), ("predict", lambda: m.predict(x, verbose=0)),
                           ("evaluate", lambda: m.evaluate(x, y, verbose=0)),
                           ("train_on_batch", lambda: m.train_on_batch(x, y)),
                           ("compile", lambda: m.compile(optimizer="sgd", loss="mse")),
                           ("set_weights", lambda: m.set_weights(m.get_weights()))]:
            with pytest.raises(RuntimeError, match=r"the model is busy: fit is running on another thread"):
                call()
    finally:
        release.set()
        t.join(60)
    assert len(errors) == 1 and isinstance(errors[0], callbacks.History)
    m.fit(x, y, verbose=0)  # free again


# -- NaN predictions in metrics ----------------------------------------------------------
@pytest.mark.parametrize("metric", ["auc", "precision", "recall", "true_positives", "false_negatives"])
@pytest.mark.parametrize("where", ["predictions", "labels"])
def test_nan_in_threshold_metrics_gives_nan(metric, where):
    m = dnnx.Sequential([dnnx.Input(shape=(2,)), layers.Dense(1, activation="sigmoid")], seed=0)
    m.compile(optimizer="sgd", loss="mse", metrics=[metric])
    x = np.ones((8, 2), np.float32)
    y = np.array([0, 1] * 4, np.float32)
    if where == "predictions":
        w = m.get_weights()
        w[0][0, 0] = np.nan
        m.set_weights(w)
    else:
        y[3] = np.nan
    r = m.evaluate(x, y, verbose=0, return_dict=True)
    assert math.isnan(r[metric])
    m.set_weights([np.zeros((2, 1), np.float32), np.zeros(1, np.float32)])
    y = np.array([0, 1] * 4, np.float32)
    assert not math.isnan(m.evaluate(x, y, verbose=0, return_dict=True)[metric])  # reset clears it


def test_auc_num_thresholds_beyond_memory_is_rejected():
    m = dnnx.Sequential([dnnx.Input(shape=(2,)), layers.Dense(1, activation="sigmoid")])
    with pytest.raises(ValueError, match=r"num_thresholds must be in \[2, 16777216\]|more than 16777216 thresholds"):
        m.compile(optimizer="sgd", loss="mse", metrics=[dnnx.metrics.AUC(num_thresholds=2**40)])
        m.build()


# -- models too large to allocate ---------------------------------------------------------
def test_model_with_overflowing_weight_size_fails_at_once():
    t = time.perf_counter()
    m = dnnx.Sequential([dnnx.Input(shape=(2**31,)), layers.Dense(2**31)])
    with pytest.raises((MemoryError, ValueError), match="too large|memory"):
        m.build()
    m.compile(optimizer="sgd", loss="mse")
    with pytest.raises((MemoryError, ValueError), match="too large|memory"):
        m.build()
    assert time.perf_counter() - t < 5


def test_model_larger_than_physical_memory_is_refused():
    phys = _core.physical_memory()
    if phys == 0:
        pytest.skip("physical memory size unknown on this platform")
    units = int(math.isqrt(phys // 4)) + 1  # one float32 kernel alone is as large as the memory
    # The address-space limit turns a regression into a quick bad_alloc, never a swap storm.
    out = run_child(f"""
        import time, dnnx
        t = time.perf_counter()
        try:
            dnnx.Sequential([dnnx.Input(shape=({units},)), dnnx.layers.Dense({units}, use_bias=False)]).build()
        except MemoryError as e:
            print("MemoryError", e)
        print(time.perf_counter() - t)
    """, limit_bytes=min(phys // 2, 8 << 30))
    assert out.returncode == 0, out.stderr[-2000:]
    first, took = out.stdout.strip().splitlines()
    assert first.startswith("MemoryError network: the model's parameters and gradients need"), first
    assert "this machine has" in first and float(took) < 5


# -- std::bad_alloc inside a parallel loop ----------------------------------------------------
def test_bad_alloc_inside_a_parallel_region_is_a_memory_error():
    out = run_child("""
        import numpy as np, dnnx
        from dnnx import _core
        dnnx.set_num_threads(2)
        a = np.ones((512, 512), np.float32)
        m = dnnx.Sequential([dnnx.Input(shape=(512,)), dnnx.layers.Dense(512, activation="relu"),
                             dnnx.layers.Dense(4)], seed=0)
        m.compile(optimizer="adam", loss="mse")
        y = np.zeros((512, 4), np.float32)
        calls = [lambda: dnnx.matmul(a, a), lambda: dnnx.matmul(a.T, a[:, :8]),
                 lambda: m.predict(a, verbose=0), lambda: m.fit(a, y, batch_size=512, verbose=0)]
        for i, call in enumerate(calls):
            _core._fail_alloc_in_parallel(True)
            try:
                call()
                print(i, "no error")
            except MemoryError:
                print(i, "MemoryError")
            finally:
                _core._fail_alloc_in_parallel(False)
            call()  # and the library still works
        np.testing.assert_allclose(dnnx.matmul(a, a), a @ a)
        print("ok")
    """)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split()
    assert lines[-1] == "ok"
    assert "MemoryError" in out.stdout  # at least the GEMM paths allocate inside their regions
    assert out.stdout.count("MemoryError") >= 2, out.stdout


# -- a learning rate of 0 --------------------------------------------------------------------
@pytest.mark.parametrize("opt", ["sgd", "adam", "rmsprop", "adagrad", "nadam", "adamw"])
def test_learning_rate_zero_trains_nothing(opt):
    x, y = data()
    m = classifier()
    optimizer = dnnx.optimizers.get(opt).__class__(learning_rate=0.0)
    m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    w0 = m.get_weights()
    m.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(w0, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert m.optimizer.iterations == 6


# -- second review: three gaps ---------------------------------------------------------------
def test_gradient_hook_view_kept_after_the_call_is_safe_and_read_only():
    """The zero-copy gradient arena view a hook receives, kept by user code: it keeps the
    network (and so the arena) alive, and is read-only once the hook returned."""
    import gc
    import weakref

    x, y = data(32)
    m = classifier()
    m.build()
    net = m._net
    net.set_training_config({"name": "sparse_categorical_crossentropy"}, {"name": "sgd", "learning_rate": 0.1}, [])
    kept, during = [], []

    def hook(g):
        during.append(g.flags.writeable)
        g *= 1.0  # writable during the call (an allreduce writes here)
        kept.append(g)

    net.set_gradient_hook(hook)
    net.train_batch(x, y.reshape(-1, 1).astype(np.float32), None, 0.1)
    view = kept[0]
    assert during == [True]
    assert not view.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 1.0
    np.testing.assert_array_equal(view, net.grad_arena())  # the live arena
    alive = weakref.ref(net)
    net.set_gradient_hook(None)
    del m, net, hook
    gc.collect()
    assert alive() is not None  # the view keeps the network: no freed memory behind it
    expected = alive().grad_arena().copy()
    np.testing.assert_array_equal(view, expected)
    del view, kept
    gc.collect()
    assert alive() is None  # and lets it go with the view


def test_gradient_hook_view_read_only_after_the_hook_raised():
    x, y = data(16)
    m = classifier()
    m.build()
    m._net.set_training_config({"name": "sparse_categorical_crossentropy"}, {"name": "sgd", "learning_rate": 0.1}, [])
    kept = []

    def hook(g):
        kept.append(g)
        raise KeyError("stop")

    m._net.set_gradient_hook(hook)
    with pytest.raises(KeyError, match="stop"):
        m._net.train_batch(x, y.reshape(-1, 1).astype(np.float32), None, 0.1)
    assert not kept[0].flags.writeable


def test_nan_metric_survives_the_metric_state_merge():
    """States of two parts, added (as the distributed merge does), give NaN wherever the
    whole gives NaN: AUC, precision, recall and the counts keep a NaN count in their state;
    the counts' own values merge too."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    m = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(1, activation="sigmoid")], seed=0)
    m.compile(optimizer="adam", loss="binary_crossentropy",
              metrics=["accuracy", "auc", "precision", "recall", "true_positives", "false_negatives", "mse"])
    m.build()
    x_nan = x.copy()
    x_nan[3, 0] = np.nan  # in the first part only
    for xs in (x, x_nan):
        whole = m.evaluate(xs, y, return_dict=True, verbose=0)
        m.evaluate(xs[:20], y[:20], verbose=0)
        a = m._net.log_state()
        m.evaluate(xs[20:], y[20:], verbose=0)
        b = m._net.log_state()
        merged = m._net.logs_from_state(a + b)
        assert merged.keys() == whole.keys()
        for k, v in whole.items():
            if math.isnan(v):
                assert math.isnan(merged[k]), (k, merged[k])
            else:
                assert merged[k] == pytest.approx(v, rel=1e-12), k
    assert math.isnan(whole["auc"]) and math.isnan(whole["true_positives"])
    # the clean half alone is not NaN: the flag travels in the state, not in the network
    assert not math.isnan(m._net.logs_from_state(b)["auc"])


def _shared_pair():
    d = layers.Dense(4, name="shared")
    ia = dnnx.Input(shape=(3,))
    a = dnnx.Model(ia, layers.Dense(1)(d(ia)), name="model_a")
    ib = dnnx.Input(shape=(3,))
    b = dnnx.Model(ib, layers.Dense(2)(d(ib)), name="model_b")
    for m in (a, b):
        m.compile(optimizer="sgd", loss="mse")
    return d, a, b


def test_shared_layer_cannot_be_written_while_another_model_trains_with_it():
    """A layer in two models: while one trains on another thread, the layer's set_weights,
    weight views and the other model's calls (which would take the layer over) raise a clear
    RuntimeError; the training model's result for the layer is not lost."""
    import threading

    d, a, b = _shared_pair()
    x = np.random.default_rng(0).random((64, 3)).astype(np.float32)
    a.predict(x, verbose=0)  # a is the layer's current home
    started, go = threading.Event(), threading.Event()

    class Hold(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                started.set()
                go.wait(30)

    errors = []
    t = threading.Thread(target=lambda: errors.append(b.fit(x, np.ones((64, 2), np.float32), batch_size=8, epochs=1,
                                                            verbose=0, callbacks=[Hold()])))
    t.start()
    try:
        assert started.wait(30)
        zeros = [np.zeros((3, 4), np.float32), np.zeros(4, np.float32)]
        attempts = {"a.predict": lambda: a.predict(x, verbose=0), "d.get_weights": d.get_weights,
                    "d.set_weights": lambda: d.set_weights(zeros), "d.weights": lambda: d.weights,
                    "d.kernel": lambda: d.kernel, "a.set_weights": lambda: a.set_weights(a.get_weights())}
        for name, call in attempts.items():
            with pytest.raises(RuntimeError, match=r"layer 'shared' \(shared by 2 models\) is in model 'model_b', "
                                                   r"which is busy: .*fit is running on another thread"):
                call()
    finally:
        go.set()
        t.join(60)
    assert not t.is_alive()
    trained = b.layers[1].get_weights()
    assert not np.array_equal(trained[1], np.zeros(4, np.float32))
    np.testing.assert_array_equal(d.get_weights()[1], trained[1])  # b's training kept
    np.testing.assert_array_equal(a.layers[1].get_weights()[1], trained[1])  # and a takes it over afterwards


def test_shared_layer_written_from_a_callback_of_the_training_model():
    """From the training model's own callback (same thread) a shared layer may be written, as in Keras."""
    d, a, b = _shared_pair()
    x = np.random.default_rng(1).random((16, 3)).astype(np.float32)

    class Write(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            d.set_weights([w * 0.5 for w in d.get_weights()])

    b.fit(x, np.ones((16, 2), np.float32), batch_size=8, epochs=1, verbose=0, callbacks=[Write()])
    a.predict(x, verbose=0)
