"""The rest of the Keras surface real scripts use: callback logs and hooks, progress lines,
Input, load/save names, regularizer aliases, Sequential.pop, model/layer inputs and outputs,
weights once built, trainable, plot_model. Held against Keras 3 on JAX where comparable."""

import re
import warnings

import numpy as np
import pytest

import dnnx
from dnnx import callbacks, layers

RNG = np.random.default_rng(8)
X = RNG.standard_normal((50, 4)).astype(np.float32)
Y = (RNG.random((50, 1)) > 0.5).astype(np.float32)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _keras():
    import os
    os.environ.setdefault("KERAS_BACKEND", "jax")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("keras")


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
