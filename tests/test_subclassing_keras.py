"""The subclassing examples held against Keras 3 (JAX backend): the same classes, written
once against either library, with the same weights give the same outputs, and train along
the same loss curve under SGD (float32 noise apart)."""

import os
import sys
import warnings

import numpy as np
import pytest

import dnnx

os.environ.setdefault("KERAS_BACKEND", "jax")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    keras = pytest.importorskip("keras")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))

from residual_block_layer import build_model  # noqa: E402
from two_tower_recommender import ratings, two_tower_class  # noqa: E402


def _kweights(model):
    return [np.array(v.value) for v in model.weights]


def _curves(ours, theirs, x, y, loss, epochs=4, batch_size=32):
    ours.compile(optimizer=dnnx.optimizers.SGD(learning_rate=0.05), loss=loss)
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss=loss)
    a = ours.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0).history["loss"]
    b = theirs.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0).history["loss"]
    return np.array(a), np.array(b)


def test_residual_block_layer_matches_keras():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 64)).astype(np.float32)
    y = rng.integers(0, 10, 96)
    theirs = build_model(keras, width=16, blocks=2, dropout=0.0)
    ours = build_model(dnnx, width=16, blocks=2, dropout=0.0)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in _kweights(theirs)]
    ours.set_weights(_kweights(theirs))
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    a, b = _curves(ours, theirs, x, y, "sparse_categorical_crossentropy")
    np.testing.assert_allclose(a, b, rtol=1e-4)
    assert a[-1] < a[0]
    for w, v in zip(ours.get_weights(), _kweights(theirs)):
        np.testing.assert_allclose(w, v, rtol=1e-3, atol=1e-5)


def test_two_tower_model_matches_keras():
    x, y = ratings(n=256)
    theirs = two_tower_class(keras)(50, 40, dim=8)
    theirs(x)  # Keras builds a subclassed model on its first call
    ours = two_tower_class(dnnx)(50, 40, dim=8)
    ours.predict(x, verbose=0)  # dnnx traces call() on the first data
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in _kweights(theirs)]
    ours.set_weights(_kweights(theirs))
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-5)
    a, b = _curves(ours, theirs, x, y, "mse")
    np.testing.assert_allclose(a, b, rtol=1e-4)
    assert a[-1] < a[0]
