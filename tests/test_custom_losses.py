"""Custom losses (a dnnx.ops function, a losses.Loss subclass) and add_loss, traced into the
C++ graph: against Keras 3 on JAX (same weights: same outputs, losses and training curves),
finite differences in float64, and the errors for what cannot be traced."""

import importlib.util
import pathlib

import numpy as np
import pytest

import dnnx
from dnnx import layers, losses, ops
from finite_differences import check_gradients
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(21)
EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "custom_loss_add_loss.py"


def _example():
    spec = importlib.util.spec_from_file_location("custom_loss_add_loss", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _keras_twin(keras, ex, dn):
    """The example model in Keras 3 (add_loss from a layer's call), with dnnx's weights."""
    class Penalty(keras.layers.Layer):
        def call(self, h):
            self.add_loss(1e-2 * keras.ops.mean(keras.ops.square(h)))
            return h

    x = keras.Input(shape=(8,))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(x)
    y = keras.layers.Dense(3, name="out")(Penalty()(h))
    km = keras.Model(x, y)
    km.set_weights(dn.get_weights())
    km.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05),
               loss=lambda t, p: ex.tilted_mse(t, p, keras.ops), metrics=["mae"])
    return km


def test_example_matches_keras_outputs_losses_and_training_curve():
    keras = _keras()
    ex = _example()
    x, y = ex.data(128)
    dn = ex.build(seed=3)
    km = _keras_twin(keras, ex, dn)
    np.testing.assert_allclose(dn.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)
    d_eval = dn.evaluate(x, y, verbose=0, return_dict=True)
    k_eval = km.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(d_eval["loss"], k_eval["loss"], rtol=1e-5)
    np.testing.assert_allclose(d_eval["mae"], k_eval["mae"], rtol=1e-5)
    dh = dn.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0).history
    kh = km.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0).history
    np.testing.assert_allclose(dh["loss"], kh["loss"], rtol=2e-4)
    np.testing.assert_allclose(dh["mae"], kh["mae"], rtol=2e-4)
    assert dh["loss"][-1] < dh["loss"][0]
    np.testing.assert_allclose(dn.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=2e-4, atol=2e-5)


def test_example_runs():
    h = _example().main()
    assert h.history["loss"][-1] < h.history["loss"][0]


class Pinball(losses.Loss):
    def __init__(self, tau=0.8, **kwargs):
        super().__init__(**kwargs)
        self.tau = tau

    def call(self, y_true, y_pred):
        e = y_true - y_pred
        return ops.mean(ops.maximum(self.tau * e, (self.tau - 1.0) * e), axis=-1)


def _pair(keras, loss_d, loss_k, out_units=2, seed=5):
    x = dnnx.Input(shape=(4,))
    dn = dnnx.Model(x, layers.Dense(out_units)(layers.Dense(6, activation="tanh")(x)), seed=seed)
    kx = keras.Input(shape=(4,))
    km = keras.Model(kx, keras.layers.Dense(out_units)(keras.layers.Dense(6, activation="tanh")(kx)))
    km.set_weights(dn.get_weights())
    dn.compile(optimizer=dnnx.optimizers.SGD(0.1), loss=loss_d)
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss_k)
    return dn, km


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_loss_subclass_reduction_and_sample_weight_match_keras(reduction):
    keras = _keras()

    class KPinball(keras.losses.Loss):
        def call(self, y_true, y_pred):
            e = y_true - y_pred
            return keras.ops.mean(keras.ops.maximum(0.8 * e, -0.2 * e), axis=-1)

    dn, km = _pair(keras, Pinball(name="pinball", reduction=reduction), KPinball(name="pinball", reduction=reduction))
    x = RNG.standard_normal((40, 4)).astype(np.float32)
    y = RNG.standard_normal((40, 2)).astype(np.float32)
    sw = RNG.uniform(0.2, 2.0, 40).astype(np.float32)
    np.testing.assert_allclose(dn.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=40),
                               km.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=40), rtol=1e-5)
    dh = dn.fit(x, y, sample_weight=sw, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    kh = km.fit(x, y, sample_weight=sw, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(dh, kh, rtol=2e-4)


def test_scalar_loss_and_sparse_targets_match_keras():
    """A loss that reduces over every axis itself (a scalar), with (n,) integer targets
    one-hot encoded inside the loss, and sample weights (Keras scales the scalar by them)."""
    keras = _keras()

    def make(o):
        def sparse_ce(y_true, y_pred):
            onehot = o.one_hot(o.cast(y_true, "int32"), 3)
            return -o.mean(o.sum(onehot * o.log_softmax(y_pred, axis=-1), axis=-1))
        return sparse_ce

    dn, km = _pair(keras, make(ops), make(keras.ops), out_units=3)
    x = RNG.standard_normal((30, 4)).astype(np.float32)
    y = RNG.integers(0, 3, 30).astype(np.float32)
    sw = RNG.uniform(0.5, 1.5, 30).astype(np.float32)
    np.testing.assert_allclose(dn.evaluate(x, y, verbose=0, batch_size=30),
                               km.evaluate(x, y, verbose=0, batch_size=30), rtol=1e-5)
    np.testing.assert_allclose(dn.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=30),
                               km.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=30), rtol=1e-5)
    dh = dn.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0).history["loss"]
    kh = km.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(dh, kh, rtol=2e-4)
    assert dn.predict(x, verbose=0).shape == (30, 3)



def test_gradients_of_custom_loss_and_add_loss_match_finite_differences():
    x = dnnx.Input(shape=(3,), dtype="float64")
    h = layers.Dense(5, activation="tanh")(x)
    out = layers.Dense(2)(h)
    m = dnnx.Model(x, out, dtype="float64", seed=2)
    m.add_loss(0.3 * ops.mean(ops.square(h)))
    m.add_loss(ops.sum(ops.abs(out)) * 0.01)
    layers_dense = m.layers[1]
    layers_dense.add_loss(ops.mean(ops.exp(h * 0.1)))  # a layer's own add_loss (as inside a call())
    m.compile(optimizer="sgd", loss=Pinball(tau=0.7))
    xs, ys = RNG.standard_normal((9, 3)), RNG.standard_normal((9, 2))
    loss, _ = check_gradients(m, xs, ys, sw=RNG.uniform(0.5, 2, 9), samples=6, rng=RNG)
    # the loss is the pinball mean plus the three terms, as evaluated by hand from predict
    hv = np.tanh(xs @ m.get_weights()[0] + m.get_weights()[1])
    pv = m.predict(xs, verbose=0)
    e = ys - pv
    pin = np.mean(np.mean(np.maximum(0.7 * e, -0.3 * e), axis=-1))
    ref = pin + 0.3 * np.mean(hv ** 2) + 0.01 * np.sum(np.abs(pv)) + np.mean(np.exp(hv * 0.1))
    np.testing.assert_allclose(m.evaluate(xs, ys, verbose=0), ref, rtol=1e-10)
    assert np.isfinite(loss)


def test_multi_output_custom_and_builtin_losses_log_per_output():
    x = dnnx.Input(shape=(3,))
    h = layers.Dense(4)(x)
    a = layers.Dense(2, name="a")(h)
    b = layers.Dense(1, name="b")(h)
    m = dnnx.Model(x, {"a": a, "b": b}, seed=1)
    m.add_loss(ops.mean(ops.square(h)))
    m.compile(optimizer="sgd", loss={"a": lambda t, p: ops.mean(ops.abs(t - p), axis=-1), "b": "mse"},
              loss_weights={"a": 2.0, "b": 1.0})
    xs = RNG.standard_normal((10, 3)).astype(np.float32)
    ya, yb = RNG.standard_normal((10, 2)).astype(np.float32), RNG.standard_normal((10, 1)).astype(np.float32)
    logs = m.evaluate(xs, {"a": ya, "b": yb}, verbose=0, return_dict=True)
    pa, pb = m.predict(xs, verbose=0).values() if isinstance(m.predict(xs, verbose=0), dict) else m.predict(xs, verbose=0)
    hv = xs @ m.get_weights()[0] + m.get_weights()[1]
    la, lb = np.mean(np.abs(ya - pa)), np.mean((yb - pb) ** 2)
    assert set(logs) == {"loss", "a_loss", "b_loss"}
    np.testing.assert_allclose([logs["a_loss"], logs["b_loss"]], [la, lb], rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 2 * la + lb + np.mean(hv ** 2), rtol=1e-5)


def test_untraceable_loss_names_the_line():
    x = dnnx.Input(shape=(2,))
    m = dnnx.Model(x, layers.Dense(1)(x))

    def bad(y_true, y_pred):
        if ops.max(y_pred, axis=-1) > 0:  # Python control flow on a tensor value
            return y_pred
        return y_true

    with pytest.raises(TypeError, match=r"cannot be traced.*test_custom_losses.py, line \d+: if ops.max"):
        m.compile(optimizer="sgd", loss=bad)

    def numpy_loss(y_true, y_pred):
        return np.mean((y_true - y_pred) ** 2)

    with pytest.raises(TypeError, match=r"cannot be traced.*NumPy cannot compute on a symbolic KerasTensor"):
        m.compile(optimizer="sgd", loss=numpy_loss)
    with pytest.raises(TypeError, match="add_loss: the loss must be a symbolic tensor"):
        m.add_loss(0.5)
    with pytest.raises(ValueError, match="reduction must be one of"):
        Pinball(reduction="none")


def test_target_shape_other_than_the_output_retraces_before_training():
    x = dnnx.Input(shape=(4,))
    m = dnnx.Model(x, layers.Dense(3)(x), seed=0)
    m.compile(optimizer="sgd", loss=lambda t, p: ops.mean(ops.square(p - t), axis=-1))  # (n, 1) targets broadcast
    xs = RNG.standard_normal((12, 4)).astype(np.float32)
    y = RNG.standard_normal((12, 1)).astype(np.float32)
    ref = np.mean((m.predict(xs, verbose=0) - y) ** 2)
    np.testing.assert_allclose(m.evaluate(xs, y, verbose=0), ref, rtol=1e-5)
    m.fit(xs, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="recompile the model"):
        m.fit(xs, np.repeat(y, 3, axis=1), epochs=1, verbose=0)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight", "mean"])
@pytest.mark.parametrize("kind", ["mean", "sum"])
def test_scalar_loss_subclass_weighs_sample_weights_as_keras_per_reduction(reduction, kind):
    """A Loss whose call returns a batch-wide scalar L: Keras multiplies L by each sample
    weight and reduces with the loss's reduction (L mean(w), L sum(w), L)."""
    keras = _keras()

    def make(o, base):
        class Scalar(base):
            def call(self, y_true, y_pred):
                r = getattr(o, kind)
                return r(o.square(y_true - y_pred)) * 0.02
        return Scalar(name="scalar", reduction=reduction)

    dn, km = _pair(keras, make(ops, losses.Loss), make(keras.ops, keras.losses.Loss))
    x = RNG.standard_normal((24, 4)).astype(np.float32)
    y = RNG.standard_normal((24, 2)).astype(np.float32)
    sw = RNG.uniform(0.2, 2.0, 24).astype(np.float32)
    de = dn.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=24)
    ke = km.evaluate(x, y, sample_weight=sw, verbose=0, batch_size=24)
    np.testing.assert_allclose(de, ke, rtol=1e-5)
    p = dn.predict(x, verbose=0)
    L = 0.02 * (np.mean if kind == "mean" else np.sum)((y - p) ** 2)
    scale = {"sum": sw.sum(), "mean_with_sample_weight": 1.0}.get(reduction, sw.mean())
    np.testing.assert_allclose(de, L * scale, rtol=1e-5)
    dh = dn.fit(x, y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    kh = km.fit(x, y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(dh, kh, rtol=2e-4)
