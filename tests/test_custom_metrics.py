"""Custom ``Metric`` subclasses (add_variable, update_state, result, reset_state) in
compile: Keras's semantics (state over an epoch's batches, reset per epoch, result in the
logs), checked against Keras 3 on JAX for the same metric code."""

import os
import sys

import numpy as np
import pytest

import dnnx
from dnnx import callbacks, layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))

from custom_metric import build_model, data, metric_classes  # noqa: E402
from keras_oracle import keras_or_skip as _keras

BatchMaxError, WeightedAbsoluteError = metric_classes(dnnx, np)


class Seen(dnnx.metrics.Metric):
    """Records what update_state receives (not a Keras metric: a probe)."""

    def __init__(self, name="seen", **kw):
        super().__init__(name=name, **kw)
        self.count = self.add_variable((), "zeros", name="count")
        self.batches = []

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.batches.append((np.array(y_true), np.array(y_pred), None if sample_weight is None else
                             np.array(sample_weight)))
        self.count.assign_add(len(y_true))

    def result(self):
        return self.count


def _model(seed=0, dropout=0.0):
    m = dnnx.Sequential([dnnx.Input(shape=(6,)), layers.Dense(8, activation="relu"), layers.Dropout(dropout),
                         layers.Dense(1)], seed=seed)
    return m


def test_state_accumulates_over_an_epoch_and_resets_per_epoch():
    x, y, sw = data(100)
    m = _model()
    seen = Seen()
    m.compile(optimizer="sgd", loss="mse", metrics=[seen, BatchMaxError()])
    h = m.fit(x, y, batch_size=32, epochs=3, verbose=0)
    assert h.history["seen"] == [100.0, 100.0, 100.0]  # reset at each epoch, every row once
    assert [len(b[0]) for b in seen.batches] == [32, 32, 32, 4] * 3
    assert list(h.history) == m.metrics_names
    assert m.metrics_names == ["loss", "seen", "batch_max_error"]
    # shuffled epochs: each batch's targets are the rows of that step (a permutation of y)
    ys = np.concatenate([b[0] for b in seen.batches[:4]])
    np.testing.assert_array_equal(np.sort(ys, axis=0), np.sort(y, axis=0))
    assert m.evaluate(x, y, verbose=0, return_dict=True)["seen"] == 100.0


def test_update_state_sees_the_training_outputs_before_each_update():
    x, y, _ = data(64)
    m = _model(seed=3, dropout=0.5)
    ref = _model(seed=3, dropout=0.5)
    seen = Seen()
    m.compile(optimizer="sgd", loss="mse", metrics=[seen])
    ref.compile(optimizer="sgd", loss="mse")
    ref.build()
    m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for i, (yt, yp, _) in enumerate(seen.batches):  # the same steps, one by one
        out = np.empty_like(yp)
        ref._net.train_batch(x[16 * i:16 * i + 16], y[16 * i:16 * i + 16], None, 0.01, record_outputs=[out])
        np.testing.assert_array_equal(out, yp)  # training mode: dropout active, pre-update weights
        np.testing.assert_array_equal(yt, y[16 * i:16 * i + 16])
    for a, b in zip(m.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_weighted_metrics_get_sample_weight_and_batch_logs_carry_results():
    x, y, sw = data(80)
    m = _model()
    seen_w, seen = Seen(name="seen_w"), Seen()
    m.compile(optimizer="sgd", loss="mse", metrics=[seen], weighted_metrics=[seen_w])
    batch_logs = []
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batch_logs.append(dict(logs)))
    m.fit(x, y, sample_weight=sw, batch_size=20, epochs=1, shuffle=False, callbacks=[cb], verbose=0)
    assert all(s is None for _, _, s in seen.batches)
    np.testing.assert_array_equal(np.concatenate([s for _, _, s in seen_w.batches]), sw)
    assert [b["seen"] for b in batch_logs] == [20.0, 40.0, 60.0, 80.0]  # running result at each batch


def test_early_stop_inside_an_epoch_counts_only_the_steps_run():
    x, y, _ = data(100)
    m = _model()
    seen = Seen()
    m.compile(optimizer="sgd", loss="mse", metrics=[seen])

    class Stop(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    h = m.fit(x, y, batch_size=10, epochs=2, callbacks=[Stop()], verbose=0)
    assert h.history["seen"] == [20.0]


def test_generators_evaluate_and_on_batch_paths():
    x, y, sw = data(60)
    m = _model()
    seen = Seen()
    m.compile(optimizer="sgd", loss="mse", metrics=[seen])
    gen = ((x[i:i + 25], y[i:i + 25]) for i in range(0, 60, 25))
    h = m.fit(gen, epochs=1, verbose=0)
    assert h.history["seen"] == [60.0]
    assert m.evaluate(((x[i:i + 7], y[i:i + 7]) for i in range(0, 60, 7)), verbose=0, return_dict=True)["seen"] == 60
    assert m.train_on_batch(x[:5], y[:5], return_dict=True)["seen"] == 5.0
    assert m.test_on_batch(x[:9], y[:9], return_dict=True)["seen"] == 9.0
    bm = BatchMaxError()
    m2 = _model()
    m2.compile(optimizer="sgd", loss="mse", metrics=[bm])
    logs = m2.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    p = m2.predict(x, verbose=0)
    expect = np.mean([np.max(np.abs(y[i:i + 16] - p[i:i + 16])) for i in range(0, 60, 16)], dtype=np.float32)
    assert logs["batch_max_error"] == pytest.approx(float(expect), rel=1e-6)


def test_metric_variables_and_config(tmp_path):
    m = BatchMaxError()
    assert [v.name for v in m.variables] == ["total", "batches"]
    r = m(np.array([[1.0], [2.0]], np.float32), np.array([[1.5], [0.0]], np.float32))
    assert float(r) == 2.0
    m.reset_state()
    assert float(m.result()) == 0.0
    assert m.get_config() == {"name": "batch_max_error", "dtype": "float32"}
    with pytest.raises(ValueError, match="cannot assign a value of shape"):
        m.total.assign(np.zeros(3))
    with pytest.raises(ValueError, match="starts from 'zeros', 'ones', a constant or a callable"):
        m.add_variable((2,), "glorot_uniform")
    model = _model()
    model.compile(optimizer="sgd", loss="mse", metrics=[BatchMaxError()])
    x, y, _ = data(40)
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.dnnx")
    model.save(path)
    back = dnnx.load_model(path)
    assert back.metrics_names == ["loss", "batch_max_error"]
    assert back.evaluate(x, y, return_dict=True, verbose=0) == model.evaluate(x, y, return_dict=True, verbose=0)

    class Bad(dnnx.metrics.Metric):
        def update_state(self, y_true, y_pred, sample_weight=None):
            pass

        def result(self):
            return np.zeros(2)

    model.compile(optimizer="sgd", loss="mse", metrics=[Bad()])
    with pytest.raises(ValueError, match="metric 'bad': result\\(\\) must be one number"):
        model.evaluate(x, y, verbose=0)


def test_custom_metrics_match_keras():
    keras = _keras()
    KBatchMax, KWeighted = metric_classes(keras, keras.ops)
    x, y, sw = data(200)
    theirs = build_model(keras)
    ours = build_model(dnnx)
    ours.set_weights([np.array(v.value) for v in theirs.weights])
    ours.compile(optimizer=dnnx.optimizers.SGD(learning_rate=0.02), loss="mse", metrics=[BatchMaxError()],
                 weighted_metrics=[WeightedAbsoluteError()])
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.02), loss="mse", metrics=[KBatchMax()],
                   weighted_metrics=[KWeighted()])
    a = ours.fit(x, y, sample_weight=sw, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    b = theirs.fit(x, y, sample_weight=sw, batch_size=32, epochs=3, shuffle=False, verbose=0).history
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=2e-5, err_msg=key)
    ea = ours.evaluate(x, y, sample_weight=sw, batch_size=48, return_dict=True, verbose=0)
    eb = theirs.evaluate(x, y, sample_weight=sw, batch_size=48, return_dict=True, verbose=0)
    for key in eb:
        assert ea[key] == pytest.approx(float(eb[key]), rel=2e-5), key
