"""The rest of the Keras surface real scripts use: callback logs and hooks, progress lines,
Input, load/save names, regularizer aliases, Sequential.pop, model/layer inputs and outputs,
weights once built, trainable, plot_model. Held against Keras 3 on JAX where comparable."""

import re
import warnings

import numpy as np
import pytest

import dnnx
from dnnx import callbacks, layers
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(8)
X = RNG.standard_normal((50, 4)).astype(np.float32)
Y = (RNG.random((50, 1)) > 0.5).astype(np.float32)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _binary(seed=0):
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(1, activation="sigmoid")], seed=seed)
    m.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    return m


def _recorder(base):
    """A callback (subclass of ``base``) recording every hook: (name, index?, sorted logs keys)."""

    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.events = []

    def hook(name, indexed):
        def f(self, *args, logs=None):
            if len(args) > int(indexed):  # logs given positionally
                *args, logs = args
            assert isinstance(logs, dict), f"{name} got logs={logs!r}"  # Keras: always a dict
            self.events.append((name, *args, tuple(sorted(logs))))
        return f

    for name in ["on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                 "on_predict_end"]:
        setattr(Recorder, name, hook(name, False))
    for name in ["on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"]:
        setattr(Recorder, name, hook(name, True))
    return Recorder()


def _run_hooks(m, cb, fit_kw):
    m.fit(X, Y, batch_size=25, epochs=1, verbose=0, validation_data=(X, Y), callbacks=[cb], **fit_kw)
    fit = list(cb.events)
    cb.events.clear()
    m.evaluate(X, Y, batch_size=16, verbose=0, callbacks=[cb])
    ev = list(cb.events)
    cb.events.clear()
    m.predict(X, batch_size=16, verbose=0, callbacks=[cb])
    return fit, ev, list(cb.events)


def test_callback_hooks_and_logs_match_keras():
    keras = _keras()
    ours = _run_hooks(_binary(), _recorder(callbacks.Callback), {})
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    k.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    theirs = _run_hooks(k, _recorder(keras.callbacks.Callback), {})
    for a, b in zip(ours, theirs):
        assert a == b


def test_begin_hooks_get_an_empty_dict():
    seen = []
    cb = callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append(logs),
                                  on_epoch_begin=lambda e, logs: seen.append(list(logs.keys())))
    _binary().fit(X, Y, epochs=1, verbose=0, callbacks=[cb])
    assert seen == [{}, []]


def _keras_lines(out: str):
    return [ANSI.sub("", line).strip() for line in re.split(r"[\r\n\x08]+", out) if line.strip()]


_TIME = re.compile(r"\b\d+(us|ms|s)/step|\b\d+s\b")


@pytest.mark.parametrize("verbose", [1, 2])
def test_evaluate_and_predict_progress_lines_as_keras(verbose, capsys):
    keras = _keras()
    m = _binary()
    m.evaluate(X, Y, batch_size=16, verbose=verbose)
    m.predict(X, batch_size=16, verbose=verbose)
    ours = _keras_lines(capsys.readouterr().out)
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    k.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    k.set_weights(m.get_weights())
    capsys.readouterr()
    k.evaluate(X, Y, batch_size=16, verbose=verbose)
    k.predict(X, batch_size=16, verbose=verbose)
    theirs = _keras_lines(capsys.readouterr().out)
    # The final line of each: same text but for the timings
    def finals(lines):  # evaluate's last line (it has the logs) and predict's last line
        return [_TIME.sub("T", [ln for ln in lines if "loss" in ln][-1]), _TIME.sub("T", lines[-1])]

    assert finals(ours) == finals(theirs)
    assert _TIME.sub("T", ours[-1]).startswith("4/4 ")


def test_evaluate_progress_on_a_generator_updates_per_batch(capsys):
    m = _binary()
    m.evaluate(((X[i:i + 10], Y[i:i + 10]) for i in range(0, 50, 10)), verbose=1)
    out = capsys.readouterr().out
    lines = _keras_lines(out)
    assert lines[-1].startswith("5/Unknown") or lines[-1].startswith("5/5"), lines


def test_fit_verbose_2_prints_the_validation_logs_too(capsys):
    _binary().fit(X, Y, epochs=1, batch_size=10, verbose=2, validation_data=(X, Y))
    out = capsys.readouterr().out
    assert re.search(r"5/5 - \d+s - \d+(us|ms|s)/step - accuracy: .* - loss: .* - val_accuracy: .* - val_loss: ",
                     out), out


# -- Input, names, aliases ------------------------------------------------------------------
def test_input_signature_as_keras():
    keras = _keras()
    a = dnnx.Input(batch_shape=(None, 3), name="a")
    assert a.shape == (None, 3) and a.name == "a" and a.dtype == "float32"
    assert dnnx.Input((5,)).shape == keras.Input((5,)).shape
    s = dnnx.Input(shape=(), dtype="int64", name="ids")
    assert s.shape == (None,) == tuple(keras.Input(shape=(), dtype="int64").shape)
    with pytest.raises(ValueError, match="not both"):
        dnnx.Input(shape=(3,), batch_shape=(None, 3))
    with pytest.raises(ValueError, match="fixed batch_size"):
        dnnx.Input(batch_shape=(32, 3))
    with pytest.raises(ValueError, match="sparse inputs are not supported"):
        dnnx.Input((3,), sparse=True)
    with pytest.raises(ValueError, match="shape .* is required"):
        dnnx.Input()


def test_scalar_input_ids_model_matches_keras():
    keras = _keras()
    ids = dnnx.Input(shape=(), dtype="int64", name="ids")
    out = layers.Dense(1)(layers.Embedding(10, 4)(ids))
    m = dnnx.Model(ids, out, seed=1)
    ki = keras.Input(shape=(), dtype="int32", name="ids")
    k = keras.Model(ki, keras.layers.Dense(1)(keras.layers.Embedding(10, 4)(ki)))
    k.set_weights(m.get_weights())
    x = RNG.integers(0, 10, 20)
    np.testing.assert_allclose(m.predict(x, verbose=0), k.predict(x.astype(np.int32), verbose=0), rtol=1e-6)
    m.compile(optimizer="sgd", loss="mse")
    m.fit(x, RNG.standard_normal(20), epochs=1, verbose=0)


def test_load_and_save_model_names(tmp_path):
    m = _binary()
    dnnx.models.save_model(m, tmp_path / "a.dnnx")
    dnnx.saving.save_model(m, tmp_path / "b.dnnx")
    for f in ("a.dnnx", "b.dnnx"):
        for load in (dnnx.models.load_model, dnnx.saving.load_model, dnnx.load_model):
            np.testing.assert_array_equal(load(tmp_path / f).predict(X, verbose=0), m.predict(X, verbose=0))
    with pytest.raises(FileExistsError, match="overwrite=False"):
        m.save(tmp_path / "a.dnnx", overwrite=False)


def test_regularizer_function_aliases():
    keras = _keras()
    for ours, theirs in ((dnnx.regularizers.l2(1e-3), keras.regularizers.l2(1e-3)),
                         (dnnx.regularizers.l1(2e-3), keras.regularizers.l1(2e-3)),
                         (dnnx.regularizers.l1_l2(l1=1e-3, l2=2e-3), keras.regularizers.l1_l2(l1=1e-3, l2=2e-3)),
                         (dnnx.regularizers.l1_l2(), keras.regularizers.l1_l2())):
        w = RNG.standard_normal((4, 3)).astype(np.float32)
        pen = ours.l1 * np.abs(w).sum() + ours.l2 * (w ** 2).sum()
        np.testing.assert_allclose(pen, float(theirs(w)), rtol=1e-5)
    d = layers.Dense(3, kernel_regularizer=dnnx.regularizers.l2(0.01))
    assert isinstance(d.kernel_regularizer, dnnx.regularizers.L2)


# -- Sequential.pop, inputs/outputs, layer.input/output ---------------------------------------
def _stack(seed=0):
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(6, activation="relu", name="h1"),
                         layers.Dense(5, activation="tanh", name="h2"), layers.Dense(1, name="out")], seed=seed)
    return m


def test_sequential_pop_keeps_weights_and_matches_keras():
    keras = _keras()
    m = _stack()
    m.compile(optimizer="adam", loss="mse")
    m.fit(X, Y, epochs=1, verbose=0)
    before = [l.get_weights() for l in m.layers]
    popped = m.pop()
    assert popped.name == "out" and [l.name for l in m.layers] == ["h1", "h2"]
    assert m.predict(X, verbose=0).shape == (50, 5)
    for l, w in zip(m.layers, before):
        for a, b in zip(l.get_weights(), w):
            np.testing.assert_array_equal(a, b)
    m.add(layers.Dense(2, name="new"))
    m.compile(optimizer="sgd", loss="mse")
    m.fit(X, np.zeros((50, 2)), epochs=1, verbose=0)
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu"),
                          keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(1)])
    k.pop()
    k.set_weights([w for l in m.layers[:2] for w in l.get_weights()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = k.predict(X, verbose=0)
    np.testing.assert_allclose(theirs, dnnx.Model(m.inputs, m.layers[1].output).predict(X, verbose=0), rtol=1e-5,
                               atol=1e-6)
    with pytest.raises(TypeError, match="no layers"):
        dnnx.Sequential().pop()


def test_feature_extraction_from_layer_outputs_matches_keras():
    keras = _keras()
    m = _stack(seed=3)
    assert m.inputs[0].shape == (None, 4) and m.outputs[0].shape == (None, 1)
    assert m.layers[1].input is m.layers[0].output
    feats = dnnx.Model(inputs=m.inputs, outputs=[l.output for l in m.layers])
    outs = feats.predict(X, verbose=0)
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, activation="relu"),
                          keras.layers.Dense(5, activation="tanh"), keras.layers.Dense(1)])
    k.set_weights(m.get_weights())
    kfeats = keras.Model(inputs=k.inputs, outputs=[l.output for l in k.layers])
    for a, b in zip(outs, kfeats.predict(X, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outs[-1], m.predict(X, verbose=0))  # weights shared with m
    with pytest.raises(AttributeError, match="never been called"):
        layers.Dense(3).output


def test_layer_weights_exist_once_called_and_go_into_the_model():
    inp = dnnx.Input(shape=(4,))
    d = layers.Dense(3)
    assert d.get_weights() == []  # not built: no input shape yet (Keras: [])
    h = d(inp)
    w = d.get_weights()
    assert [a.shape for a in w] == [(4, 3), (3,)] and np.any(w[0] != 0)
    d.set_weights([np.ones((4, 3)), np.zeros(3)])
    m = dnnx.Model(inp, h)
    np.testing.assert_array_equal(m.get_weights()[0], np.ones((4, 3)))
    e = layers.Dense(2)
    e(inp)
    w2 = e.get_weights()
    m2 = dnnx.Model(inp, e(inp))  # the weights asked for before are the model's
    np.testing.assert_array_equal(m2.get_weights()[0], w2[0])


# -- trainable ------------------------------------------------------------------------------
@pytest.mark.parametrize("feed", ["arrays", "generator"])
def test_frozen_layer_stays_put_in_sequential_and_after_load(feed, tmp_path):
    m = _stack()
    m.layers[0].trainable = False
    m.compile(optimizer="adam", loss="mse")
    frozen = m.layers[0].get_weights()
    other = m.layers[1].get_weights()
    data = (X, Y) if feed == "arrays" else ((((X[i:i + 10], Y[i:i + 10]) for i in range(0, 50, 10))),)
    m.fit(*data, epochs=1, verbose=0)
    for a, b in zip(m.layers[0].get_weights(), frozen):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(m.layers[1].get_weights()[0], other[0])
    m.save(tmp_path / "f.dnnx")
    back = dnnx.load_model(tmp_path / "f.dnnx")
    assert back.layers[0].trainable is False and back.layers[1].trainable is True
    w = back.layers[0].get_weights()
    back.fit(X, Y, epochs=1, verbose=0)
    np.testing.assert_array_equal(back.layers[0].get_weights()[0], w[0])
    assert len(back.trainable_weights) == 4 and len(back.non_trainable_weights) == 2


def test_freezing_before_build_matches_keras_trainable_counts():
    keras = _keras()
    d = layers.Dense(6)
    d.trainable = False
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), d, layers.Dense(1)])
    kd = keras.layers.Dense(6)
    kd.trainable = False
    k = keras.Sequential([keras.Input((4,)), kd, keras.layers.Dense(1)])
    assert len(m.trainable_weights) == len(k.trainable_weights)
    assert len(m.non_trainable_weights) == len(k.non_trainable_weights)


# -- ModelCheckpoint save_freq -----------------------------------------------------------------
def test_model_checkpoint_save_freq_batches_as_keras(tmp_path):
    keras = _keras()
    ours = callbacks.ModelCheckpoint(str(tmp_path / "o-{epoch}-{batch}.dnnx"), save_freq=3)
    _binary().fit(X, Y, batch_size=10, epochs=2, verbose=0, callbacks=[ours])
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    k.compile("sgd", "binary_crossentropy")
    theirs = keras.callbacks.ModelCheckpoint(str(tmp_path / "k-{epoch}-{batch}.weights.h5"), save_freq=3,
                                             save_weights_only=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k.fit(X, Y, batch_size=10, epochs=2, verbose=0, callbacks=[theirs])
    except ImportError:
        pytest.skip("h5py is needed for Keras weight files")
    names = lambda prefix, ext: sorted(p.name[len(prefix):-len(ext)] for p in tmp_path.glob(prefix + "*"))
    assert names("o-", ".dnnx") == names("k-", ".weights.h5") == ["1-3", "2-1", "2-4"]
    assert dnnx.load_model(tmp_path / "o-2-4.dnnx").predict(X, verbose=0).shape == (50, 1)


def test_model_checkpoint_save_freq_epoch_and_bad_values(tmp_path):
    cb = callbacks.ModelCheckpoint(str(tmp_path / "e{epoch}.dnnx"), save_freq="epoch")
    _binary().fit(X, Y, epochs=2, verbose=0, callbacks=[cb])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e1.dnnx", "e2.dnnx"]
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("x.dnnx", save_freq="batch")
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint("x.dnnx", save_freq=0)


# -- plot_model ------------------------------------------------------------------------------
def _two_branch(lib, Input, Model):
    a = Input(shape=(3,), name="a")
    b = Input(shape=(2,), name="b")
    h = lib.Dense(4, activation="relu", name="ha")(a)
    c = lib.Concatenate(name="cat")([h, b])
    return Model([a, b], lib.Dense(1, name="out")(c))


def _structure(dot):
    import html
    names = {}
    for n in dot.get_nodes():
        label = n.get("label")
        if label:
            m = re.search(r"<b>([^<]+)</b> \(([^)]+)\)", html.unescape(str(label)))
            names[n.get_name().strip('"')] = m.groups()
    edges = sorted((names[e.get_source().strip('"')][0], names[e.get_destination().strip('"')][0])
                   for e in dot.get_edges())
    return sorted(names.values()), edges


def test_model_to_dot_matches_keras():
    pytest.importorskip("pydot")
    keras = _keras()
    ours = dnnx.utils.model_to_dot(_two_branch(layers, dnnx.Input, dnnx.Model), show_shapes=True)
    theirs = keras.utils.model_to_dot(_two_branch(keras.layers, keras.Input, keras.Model), show_shapes=True)
    assert _structure(ours) == _structure(theirs)
    text = ours.to_string()
    assert "Output shape: <b>(None, 6)</b>" in text and "rankdir=TB" in text
    seq = dnnx.utils.model_to_dot(_stack())
    assert _structure(seq)[1] == [("h1", "h2"), ("h2", "out")]


def test_plot_model_writes_an_image_or_names_graphviz(tmp_path, monkeypatch):
    pytest.importorskip("pydot")
    import shutil
    m = _two_branch(layers, dnnx.Input, dnnx.Model)
    if shutil.which("dot"):
        dnnx.utils.plot_model(m, to_file=str(tmp_path / "m.png"), show_shapes=True)
        assert (tmp_path / "m.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` program reachable
    with pytest.raises(ImportError, match="graphviz"):
        dnnx.utils.plot_model(m, to_file=str(tmp_path / "n.png"))


def test_plot_model_without_pydot_names_it(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_pydot(name, *a, **k):
        if name == "pydot":
            raise ImportError("no pydot")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pydot)
    with pytest.raises(ImportError, match="pip install pydot"):
        dnnx.utils.plot_model(_binary())
