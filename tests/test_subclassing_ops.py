"""Subclassed layers whose call() mixes sublayers with dnnx.ops: the op nodes are traced
into the same graph (held against Keras 3 with keras.ops, and against a functional twin)."""

import os
import warnings

import numpy as np
import pytest

import dnnx
from dnnx import layers

pytest.importorskip("dnnx.ops")  # lands separately; verified against it before it reached main


def gated_class(keras, ops):
    class GatedResidual(keras.layers.Layer):
        """``x + value(x) * sigmoid(gate(x))``, then a ReLU: a gated residual unit."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.value = keras.layers.Dense(units)
            self.gate = keras.layers.Dense(units)

        def call(self, x):
            return ops.relu(x + self.value(x) * ops.sigmoid(self.gate(x)))

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return GatedResidual


def build(keras, ops, d=6):
    inp = keras.Input(shape=(d,))
    h = gated_class(keras, ops)(d)(inp)
    return keras.Model(inp, keras.layers.Dense(1)(h))


def data(n=96, d=6):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x, (x[:, :1] * x[:, 1:2] + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)


def test_ops_inside_a_layer_subclass_trace_and_train_like_the_twin():
    from dnnx import ops
    x, y = data()
    m = build(dnnx, ops)
    assert [type(l).__name__ for l in m.layers] == ["InputLayer", "GatedResidual", "Dense"]
    inp = dnnx.Input(shape=(6,))
    v, g = layers.Dense(6), layers.Dense(6)
    twin = dnnx.Model(inp, layers.Dense(1)(ops.relu(inp + v(inp) * ops.sigmoid(g(inp)))))
    twin.set_weights(m.get_weights())
    np.testing.assert_array_equal(m.predict(x, verbose=0), twin.predict(x, verbose=0))
    for model in (m, twin):
        model.compile(optimizer="sgd", loss="mse")
    a = m.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    b = twin.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    assert a == b


def test_ops_inside_a_layer_subclass_match_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        keras = pytest.importorskip("keras")
    from dnnx import ops
    x, y = data()
    theirs = build(keras, keras.ops)
    ours = build(dnnx, ops)
    ours.set_weights([np.array(v.value) for v in theirs.weights])
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    ours.compile(optimizer=dnnx.optimizers.SGD(learning_rate=0.05), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    a = ours.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0).history["loss"]
    b = theirs.fit(x, y, batch_size=16, epochs=4, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(a, b, rtol=1e-4)


def test_untraceable_op_use_names_the_line():
    from dnnx import ops

    class Branch(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = layers.Dense(2)

        def call(self, x):
            h = self.d(x)
            if ops.sum(h, axis=-1) > 0:
                return h
            return -h

    with pytest.raises(TypeError, match=r"while tracing Branch.call \(.*test_subclassing_ops.py, line \d+, in call: "
                                        r"`if ops.sum\(h, axis=-1\) > 0:`\): A symbolic KerasTensor has no truth value"):
        Branch()(dnnx.Input(shape=(2,)))
