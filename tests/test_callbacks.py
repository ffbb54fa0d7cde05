"""Each callback's behaviour, with Keras hook names and logs."""

import csv
import math
import os

import numpy as np
import pytest

import dnnx
from dnnx import callbacks, layers


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(np.float32)
    return x, y


def model(seed=0, lr=0.01, opt=None):
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                         layers.Dense(1, activation="sigmoid")], seed=seed)
    m.compile(optimizer=opt or dnnx.optimizers.Adam(lr), loss="binary_crossentropy", metrics=["accuracy"])
    return m


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None): self.events.append("train_begin")
    def on_train_end(self, logs=None): self.events.append("train_end")
    def on_epoch_begin(self, epoch, logs=None): self.events.append(("epoch_begin", epoch))
    def on_epoch_end(self, epoch, logs=None): self.events.append(("epoch_end", epoch, sorted(logs)))
    def on_train_batch_begin(self, batch, logs=None): self.events.append(("batch_begin", batch))
    def on_train_batch_end(self, batch, logs=None): self.events.append(("batch_end", batch, sorted(logs)))


def test_hook_order_and_logs():
    x, y = data(64)
    r = Recorder()
    model().fit(x, y, batch_size=32, epochs=2, callbacks=[r], verbose=0, validation_split=0.5)
    ev = r.events
    assert ev[0] == "train_begin" and ev[-1] == "train_end"
    assert ev[1] == ("epoch_begin", 0) and ev[2] == ("batch_begin", 0)
    assert ev[3] == ("batch_end", 0, ["accuracy", "loss"])
    assert ev[4] == ("epoch_end", 0, ["accuracy", "loss", "val_accuracy", "val_loss"])
    assert ev.count(("epoch_begin", 1)) == 1


def test_stop_training_from_batch_hook():
    x, y = data(128)

    class StopAt(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    m = model()
    h = m.fit(x, y, batch_size=16, epochs=5, callbacks=[StopAt()], verbose=0)
    assert m.optimizer.iterations == 2 and len(h.epoch) == 1


def test_callback_exception_propagates():
    x, y = data(64)

    class Boom(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        model().fit(x, y, batch_size=16, epochs=1, callbacks=[Boom()], verbose=0)


def test_early_stopping_patience_and_restore():
    x, y = data()
    seen = []

    class FakeLoss(callbacks.Callback):  # runs before EarlyStopping: forces a worsening val_loss
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9][epoch]
            seen.append([w.copy() for w in self.model.get_weights()])

    es = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    m = model()
    h = m.fit(x, y, epochs=6, callbacks=[FakeLoss(), es], verbose=0, validation_split=0.2)
    assert h.epoch == [0, 1, 2, 3] and es.stopped_epoch == 3 and es.best_epoch == 1
    for a, b in zip(m.get_weights(), seen[1]):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_min_delta_mode_max():
    x, y = data()
    es = callbacks.EarlyStopping(monitor="accuracy", patience=1, min_delta=10.0)  # nothing is enough
    h = model().fit(x, y, epochs=10, callbacks=[es], verbose=0)
    assert len(h.epoch) == 2 and es.mode == "max"


def test_model_checkpoint_save_best_only(tmp_path):
    x, y = data()
    vals = iter([0.9, 0.5, 0.7, 0.4])

    class Fake(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = next(vals)

    path = str(tmp_path / "ckpt-{epoch:02d}.dnnx")
    ck = callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    m = model()
    m.fit(x, y, epochs=4, callbacks=[Fake(), ck], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["ckpt-01.dnnx", "ckpt-02.dnnx", "ckpt-04.dnnx"]
    last = dnnx.load_model(str(tmp_path / "ckpt-04.dnnx"))
    np.testing.assert_array_equal(last.predict(x), m.predict(x))


def test_learning_rate_scheduler():
    x, y = data()
    lrs = []

    class Spy(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            lrs.append(self.model.optimizer.learning_rate)

    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 * 0.5 ** epoch)
    h = model().fit(x, y, epochs=3, callbacks=[sched, Spy()], verbose=0)
    assert lrs == [0.1, 0.05, 0.025]
    assert h.history["learning_rate"] == [0.1, 0.05, 0.025]
    # a learning rate of zero leaves the weights untouched
    m = model()
    w0 = m.get_weights() if m.built else None
    m.build()
    w0 = m.get_weights()
    m.fit(x, y, epochs=1, callbacks=[callbacks.LearningRateScheduler(lambda e: 0.0)], verbose=0)
    for a, b in zip(w0, m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau():
    x, y = data()

    class Flat(callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["val_loss"] = 1.0

    rl = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.001)
    m = model(lr=0.01)
    h = m.fit(x, y, epochs=7, callbacks=[Flat(), rl], verbose=0)
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025])
    assert m.optimizer.learning_rate == pytest.approx(0.00125)


def test_terminate_on_nan():
    x, y = data()
    x[5:, 0] = np.nan
    m = model()
    h = m.fit(x, y, batch_size=8, epochs=3, callbacks=[callbacks.TerminateOnNaN()], verbose=0, shuffle=False)
    assert m.optimizer.iterations == 1 and math.isnan(h.history["loss"][0])


def test_csv_logger(tmp_path):
    x, y = data()
    path = tmp_path / "log.csv"
    model().fit(x, y, epochs=3, callbacks=[callbacks.CSVLogger(str(path))], verbose=0)
    rows = read_csv(path)
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "loss", "accuracy"}
    model().fit(x, y, epochs=1, callbacks=[callbacks.CSVLogger(str(path), append=True)], verbose=0)
    assert len(read_csv(path)) == 4


def test_lambda_callback():
    x, y = data()
    ends, batches = [], []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: ends.append(e),
                                  on_train_batch_end=lambda b, logs: batches.append(b))
    model().fit(x, y, batch_size=64, epochs=2, callbacks=[cb], verbose=0)
    assert ends == [0, 1] and batches == [0, 1, 0, 1]


def test_batch_hooks_not_requested_without_overrides():
    assert not callbacks.EarlyStopping().wants_batch_hooks
    assert callbacks.TerminateOnNaN().wants_batch_hooks
    assert not callbacks.LambdaCallback(on_epoch_end=print).wants_batch_hooks
