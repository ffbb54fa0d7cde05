"""Behaviours held against Keras 3 (each was once different in dnnx)."""

import json
import math

import numpy as np
import pytest

import dnnx
from dnnx import callbacks, layers, optimizers
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(5)


def model(seed=0, classes=3, d=4, optimizer="adam"):
    m = dnnx.Sequential([dnnx.Input(shape=(d,)), layers.Dense(8, activation="relu"),
                         layers.Dense(classes, activation="softmax")], seed=seed, dtype="float64")
    m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def data(n, d=4, classes=3):
    return RNG.standard_normal((n, d)), RNG.integers(0, classes, n)


@pytest.mark.parametrize("n,split", [(10, 0.25), (7, 0.3), (100, 0.1), (33, 0.5)])
def test_validation_split_holds_out_keras_rows(n, split):
    x, y = data(n)
    m = model()
    h = m.fit(x, y, epochs=1, batch_size=4, validation_split=split, shuffle=False, verbose=0)
    cut = int(math.floor(n * (1.0 - split)))  # Keras: train = [:cut], validation = [cut:]
    assert h.history["val_loss"][0] == m.evaluate(x[cut:], y[cut:], batch_size=4, return_dict=True)["loss"]
    ref = model()
    ref.fit(x[:cut], y[:cut], epochs=1, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_class_weight_weighs_training_only():
    x, y = data(40)
    cw = {0: 5.0, 1: 0.2, 2: 1.0}
    m = model(seed=1)
    h = m.fit(x, y, epochs=1, batch_size=8, validation_split=0.25, class_weight=cw, shuffle=False, verbose=0)
    assert h.history["val_loss"][0] == m.evaluate(x[30:], y[30:], batch_size=8, return_dict=True)["loss"]
    ref = model(seed=1)
    ref.fit(x[:30], y[:30], epochs=1, batch_size=8, sample_weight=np.array([5.0, 0.2, 1.0])[y[:30]],
            shuffle=False, verbose=0)
    for a, b in zip(ref.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_metrics_unweighted_weighted_metrics_weighted():
    x, y = data(30)
    sw = RNG.uniform(0.1, 3.0, 30)
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(3, activation="softmax")], seed=2, dtype="float64")
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
              weighted_metrics=["accuracy"])
    assert m.metrics_names == ["loss", "accuracy", "weighted_accuracy"]  # Keras's name for the clash
    logs = m.evaluate(x, y, sample_weight=sw, return_dict=True)
    hit = m.predict(x).argmax(1) == y
    np.testing.assert_allclose(logs["accuracy"], hit.mean(), rtol=1e-12)
    np.testing.assert_allclose(logs["weighted_accuracy"], np.sum(sw * hit) / np.sum(sw), rtol=1e-12)


def test_early_stopping_restores_best_weights_without_stopping():
    x, y = data(32)
    m = model(seed=3)
    scores = [3.0, 1.0, 2.0, 2.5]
    snaps = []

    def inject(epoch, logs):
        logs["score"] = scores[epoch]
        snaps.append(m.get_weights())

    es = callbacks.EarlyStopping(monitor="score", mode="min", patience=10, restore_best_weights=True)
    m.fit(x, y, epochs=4, verbose=0, callbacks=[callbacks.LambdaCallback(on_epoch_end=inject), es])
    assert es.stopped_epoch == 0 and es.best_epoch == 1
    for a, b in zip(m.get_weights(), snaps[1]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(snaps[1][0], snaps[3][0])


def test_learning_rate_zero_and_schedule_from_zero():
    x, y = data(32)
    for opt in (optimizers.SGD(0.0, momentum=0.9), optimizers.Adam(learning_rate=0.0)):
        m = model(seed=4, optimizer=opt)
        w = m.get_weights()
        m.fit(x, y, epochs=2, batch_size=8, verbose=0)
        for a, b in zip(w, m.get_weights()):
            np.testing.assert_array_equal(a, b)
    sched = optimizers.schedules.CosineDecay(0.0, decay_steps=10, warmup_target=0.1, warmup_steps=4)
    assert sched(0) == 0.0 and sched(2) == pytest.approx(0.05)
    m = model(seed=4, optimizer=optimizers.SGD(sched))
    w = m.get_weights()
    m.train_on_batch(x[:8], y[:8])  # step 0: learning rate 0
    for a, b in zip(w, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    m.train_on_batch(x[:8], y[:8])
    assert not np.array_equal(w[0], m.get_weights()[0])
    with pytest.raises(ValueError, match=r"learning_rate must be in \[0, inf\]. Received: learning_rate=-0.1"):
        optimizers.SGD(-0.1)


# -- against Keras 3 itself, where it is installed (same weights, learning rate 0) ---------------
def _close(a: dict, b: dict):
    assert set(a) == set(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=2e-6, err_msg=k)


def test_logs_match_keras_split_class_weight_weighted_metrics():
    keras = _keras()
    x = RNG.standard_normal((10, 4)).astype(np.float32)
    y = RNG.integers(0, 3, 10)
    d = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(3, activation="softmax")], seed=0)
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    d.build()
    k.set_weights(d.get_weights())
    kw = dict(loss="sparse_categorical_crossentropy", metrics=["accuracy"], weighted_metrics=["accuracy"])
    d.compile(optimizer=optimizers.SGD(0.0), **kw)
    k.compile(optimizer=keras.optimizers.SGD(0.0), **kw)
    fit = dict(epochs=1, batch_size=4, validation_split=0.25, class_weight={0: 3.0, 1: 0.5, 2: 1.0}, shuffle=False,
               verbose=0)
    _close(d.fit(x, y, **fit).history, k.fit(x, y, **fit).history)
    sw = RNG.uniform(0.1, 2.0, 10)
    _close(d.evaluate(x, y, sample_weight=sw, return_dict=True),
           k.evaluate(x, y, sample_weight=sw, return_dict=True, verbose=0))


def _two_heads(lib, lay, inp, model):
    i = inp(shape=(4,), name="features")
    h = lay.Dense(5, activation="tanh", name="hidden")(i)
    h = lay.Add(name="skip")([h, lay.Dense(5, name="side")(h)])
    return model(i, [lay.Dense(2, name="reg")(h), lay.Dense(3, activation="softmax", name="cls")(h)])


def test_multi_output_logs_and_config_match_keras():
    keras = _keras()
    d = _two_heads(dnnx, layers, dnnx.Input, dnnx.Model)
    k = _two_heads(keras, keras.layers, keras.Input, keras.Model)
    k.set_weights(d.get_weights())
    x = RNG.standard_normal((10, 4)).astype(np.float32)
    y = {"reg": RNG.standard_normal((10, 2)).astype(np.float32), "cls": RNG.integers(0, 3, 10)}
    for compile_kw in (dict(loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                            loss_weights={"reg": 0.5, "cls": 2.0}, metrics={"cls": ["accuracy"], "reg": ["mae"]}),
                       dict(loss=[None, "sparse_categorical_crossentropy"], metrics=[None, ["accuracy"]])):
        d.compile(optimizer=optimizers.SGD(0.0), **compile_kw)
        k.compile(optimizer=keras.optimizers.SGD(0.0), **compile_kw)
        _close(d.evaluate(x, y, return_dict=True), k.evaluate(x, y, return_dict=True, verbose=0))
    dc, kc = d.get_config(), k.get_config()
    assert set(dc) == set(kc) and dc["input_layers"] == kc["input_layers"] and dc["output_layers"] == kc["output_layers"]
    assert [l["name"] for l in dc["layers"]] == [l["name"] for l in kc["layers"]]
    assert [l["class_name"] for l in dc["layers"]] == [l["class_name"] for l in kc["layers"]]
    for a, b in zip(dc["layers"], kc["layers"]):
        assert json.dumps(a["inbound_nodes"]) == json.dumps(b["inbound_nodes"]), a["name"]


def test_last_axis_layers_on_3d_match_keras():
    keras = _keras()

    def build(lay, inp, model, id_dtype):
        ids = inp(shape=(3,), dtype=id_dtype, name="ids")
        e = lay.Embedding(7, 4, name="emb")(ids)
        h = lay.Dense(5, activation="tanh", name="d1")(e)
        h = lay.Concatenate(name="cat")([h, e])
        h = lay.LayerNormalization(name="ln")(lay.Activation("softmax", name="sm")(h))
        pooled = lay.GlobalAveragePooling1D(name="pool")(lay.Dense(3, name="d2")(h))
        return model(ids, [lay.Dense(2, name="out")(pooled), h])

    d = build(layers, dnnx.Input, dnnx.Model, "int64")
    k = build(keras.layers, keras.Input, keras.Model, "int32")  # jax without x64
    k.set_weights(d.get_weights())
    x = RNG.integers(0, 7, (6, 3))
    for a, b in zip(d.predict(x), k.predict(x.astype(np.int32), verbose=0)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_cosine_decay_from_zero_matches_keras():
    keras = _keras()
    kw = dict(initial_learning_rate=0.0, decay_steps=10, alpha=0.1, warmup_target=0.1, warmup_steps=4)
    ours = optimizers.schedules.CosineDecay(**kw)
    theirs = keras.optimizers.schedules.CosineDecay(**kw)
    for step in range(18):
        np.testing.assert_allclose(ours(step), float(theirs(step)), rtol=1e-6, atol=1e-9, err_msg=str(step))


def test_multi_output_training_matches_keras():
    """Same weights, no shuffling: a few Adam epochs on a two-output graph with loss weights,
    a frozen layer and sample weights land on Keras's weights (float32 rounding apart)."""
    keras = _keras()
    d = _two_heads(dnnx, layers, dnnx.Input, dnnx.Model)
    k = _two_heads(keras, keras.layers, keras.Input, keras.Model)
    k.set_weights(d.get_weights())
    d.get_layer("side").trainable = False
    k.get_layer("side").trainable = False
    kw = dict(loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"}, loss_weights={"reg": 0.5, "cls": 2.0})
    d.compile(optimizer=optimizers.Adam(0.01), **kw)
    k.compile(optimizer=keras.optimizers.Adam(0.01), **kw)
    x = RNG.standard_normal((20, 4)).astype(np.float32)
    y = [RNG.standard_normal((20, 2)).astype(np.float32), RNG.integers(0, 3, 20)]
    sw = RNG.uniform(0.5, 2.0, 20)
    fit = dict(epochs=3, batch_size=5, shuffle=False, sample_weight=sw, verbose=0)
    hd, hk = d.fit(x, y, **fit).history, k.fit(x, y, **fit).history
    assert set(hd) == set(hk)
    for key in hd:
        np.testing.assert_allclose(hd[key], hk[key], rtol=1e-4, err_msg=key)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras's Variable.__array__ under NumPy 2
        theirs = k.get_weights()
    for a, b in zip(d.get_weights(), theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
