"""Layer.add_weight: weights of subclassed layers used in call() through dnnx.ops become
parameters of the op nodes that read them (x @ w: Dense's GEMMs; x * w + b: the
broadcasting ops), trained in C++ like a Dense kernel. Held against finite differences in
float64, a functional Dense twin (bitwise), and Keras 3 on JAX."""


import numpy as np
import pytest

import dnnx
from dnnx import layers, ops
from finite_differences import check_gradients
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(17)


def my_dense_class(keras, kops):
    """The most common Keras custom layer, written once for both libraries."""

    class MyDense(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                     trainable=True, name="kernel")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True, name="bias")

        def call(self, inputs):
            return kops.relu(kops.matmul(inputs, self.w) + self.b)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return MyDense


MyDense = my_dense_class(dnnx, ops)


def data(n=96, d=5, out=1, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (np.tanh(x[:, :out] * 2) + 0.1 * rng.standard_normal((n, out))).astype(np.float32)
    return x, y


def custom_model(d=5, seed=1, dtype=None):
    inp = dnnx.Input(shape=(d,))
    h = MyDense(8)(inp)
    h = MyDense(4)(h)
    return dnnx.Model(inp, layers.Dense(1)(h), seed=seed, dtype=dtype)


def dense_twin(d=5, seed=2, dtype=None):
    inp = dnnx.Input(shape=(d,))
    h = layers.Dense(8, activation="relu")(inp)
    h = layers.Dense(4, activation="relu")(h)
    return dnnx.Model(inp, layers.Dense(1)(h), seed=seed, dtype=dtype)


# -- the custom Dense against the built-in one ---------------------------------------------------
def test_my_dense_weights_are_the_models_in_keras_order():
    m = custom_model()
    assert [type(l).__name__ for l in m.layers] == ["InputLayer", "MyDense", "MyDense", "Dense"]
    assert [w.shape for w in m.get_weights()] == [(5, 8), (8,), (8, 4), (4,), (4, 1), (1,)]
    assert m._net.param_names()[:4] == ["my_dense/kernel", "my_dense/bias", "my_dense_1/kernel", "my_dense_1/bias"]
    first = m.layers[1]
    assert first.w.path == "my_dense/kernel" and first.b.name == "bias"
    assert first.w.shape == (5, 8) and first.w.dtype == "float32" and first.w.trainable
    np.testing.assert_array_equal(first.get_weights()[0], first.w.numpy())
    np.testing.assert_array_equal(first.b.numpy(), np.zeros(8, np.float32))
    assert 0 < np.abs(first.w.numpy()).max() <= np.sqrt(6 / 13)  # glorot_uniform's limit
    assert m.count_params() == 5 * 8 + 8 + 8 * 4 + 4 + 4 + 1 == first.count_params() + 36 + 5
    assert len(first.trainable_weights) == 2 and first.non_trainable_weights == []
    # the variable reads and writes the model's copy
    first.w.assign(np.full((5, 8), 0.5))
    np.testing.assert_array_equal(m.get_weights()[0], np.full((5, 8), 0.5, np.float32))
    new = [RNG.standard_normal(w.shape).astype(np.float32) for w in m.get_weights()]
    m.set_weights(new)
    np.testing.assert_array_equal(first.w.numpy(), new[0])
    first.set_weights([new[0] * 2, new[1] * 2])
    np.testing.assert_array_equal(m.get_weights()[1], new[1] * 2)
    np.testing.assert_array_equal(np.asarray(first.b), new[1] * 2)


def test_my_dense_predicts_and_trains_bitwise_like_dense():
    x, y = data()
    m, twin = custom_model(), dense_twin()
    twin.set_weights(m.get_weights())
    np.testing.assert_array_equal(m.predict(x, verbose=0), twin.predict(x, verbose=0))
    for model in (m, twin):
        model.compile(optimizer=dnnx.optimizers.Adam(1e-2), loss="mse")
    a = m.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    b = twin.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    assert a == b
    for p, q in zip(m.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(m.layers[1].w.numpy(), twin.get_weights()[0] * 0)  # it trained
    np.testing.assert_array_equal(m.predict(x, verbose=0), twin.predict(x, verbose=0))


def test_subclassed_model_and_sequential_with_my_dense():
    class Tower(dnnx.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.a = MyDense(8)
            self.b = MyDense(4)
            self.out = layers.Dense(1)

        def call(self, x):
            return self.out(self.b(self.a(x)))

    x, y = data()
    m = Tower(seed=4)
    seq = dnnx.Sequential([dnnx.Input((5,)), MyDense(8), MyDense(4), layers.Dense(1)], seed=5)
    twin = dense_twin()
    m.build((None, 5))
    assert [w.shape for w in m.get_weights()] == [(5, 8), (8,), (8, 4), (4,), (4, 1), (1,)]
    for model in (seq, twin):
        model.set_weights(m.get_weights())
    for model in (m, seq, twin):
        model.compile(optimizer="sgd", loss="mse")
    hist = [model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0).history for model in (m, seq, twin)]
    assert hist[0] == hist[1] == hist[2]
    np.testing.assert_array_equal(m.a.w.numpy(), twin.get_weights()[0])


def test_layer_called_twice_shares_its_weights():
    a, b = dnnx.Input((3,)), dnnx.Input((3,))
    shared = MyDense(4)
    out = layers.Dense(1)(layers.Add()([shared(a), shared(b)]))
    m = dnnx.Model([a, b], out, seed=3)
    assert [w.shape for w in m.get_weights()] == [(3, 4), (4,), (4, 1), (1,)]
    xa, xb = RNG.standard_normal((8, 3)), RNG.standard_normal((8, 3))
    w, bias = shared.w.numpy(), shared.b.numpy()
    relu = lambda v: np.maximum(v, 0)
    ref = (relu(xa @ w + bias) + relu(xb @ w + bias)) @ m.get_weights()[2] + m.get_weights()[3]
    np.testing.assert_allclose(m.predict([xa.astype(np.float32), xb.astype(np.float32)], verbose=0), ref,
                               rtol=1e-5, atol=1e-6)


def test_the_same_op_on_one_weight_twice_is_one_shared_node():
    class Twice(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], shape[-1]), name="kernel", dtype="float64")

        def call(self, x):
            return ops.tanh(ops.matmul(ops.tanh(ops.matmul(x, self.w)), self.w))

    inp = dnnx.Input((3,), dtype="float64")
    lay = Twice()
    m = dnnx.Model(inp, lay(inp), seed=1, dtype="float64")
    assert [w.shape for w in m.get_weights()] == [(3, 3)]
    x = RNG.standard_normal((6, 3))
    w = lay.w.numpy()
    np.testing.assert_allclose(m.predict(x, verbose=0), np.tanh(np.tanh(x @ w) @ w), rtol=1e-12)
    m.compile(optimizer="sgd", loss="mse")
    check_gradients(m, x, RNG.standard_normal((6, 3)), samples=9, rng=RNG)


# -- gradients in float64 ----------------------------------------------------------------------
class Affine(dnnx.layers.Layer):
    """One weight used through one op of each kind the core gives parameters."""

    def __init__(self, kind, **kw):
        super().__init__(**kw)
        self.kind = kind

    def build(self, shape):
        d = shape[-1]
        k = self.kind
        if k == "matmul":
            self.w = self.add_weight(shape=(d, 3), initializer="glorot_uniform", dtype="float64")
        elif k == "matvec":
            self.w = self.add_weight(shape=(d,), initializer="random_normal", dtype="float64")
        elif k in ("per_row", "where"):
            self.w = self.add_weight(shape=(shape[1], 1), initializer="random_normal", dtype="float64")
            self.v = self.add_weight(shape=(d,), initializer="random_normal", dtype="float64")
        else:
            self.w = self.add_weight(shape=(d,), initializer="random_normal", dtype="float64")
            init = "ones" if k == "subtract_divide" else "random_normal"  # a denominator away from 0
            self.v = self.add_weight(shape=(1, d), initializer=init, dtype="float64")

    def call(self, x):
        k = self.kind
        if k in ("matmul", "matvec"):
            return ops.tanh(x @ self.w)
        if k == "affine":
            return ops.tanh(x * self.w + self.v)
        if k == "subtract_divide":
            return ops.tanh((x - self.w) / (ops.square(x) + 1.0) - x / self.v)
        if k == "rsubtract":
            return ops.tanh(self.v - x * self.w)
        if k == "maximum":
            return ops.maximum(x, self.w) * ops.minimum(x, self.v)
        if k == "per_row":  # a (s, 1) weight against (batch, s, d): not a trailing broadcast
            return ops.tanh(x * self.w + self.v)
        return ops.where(x > 0.0, self.w, self.v) * x  # two weights in one op


@pytest.mark.parametrize("kind,shape", [("matmul", (4,)), ("matmul", (3, 4)), ("matvec", (4,)),
                                        ("affine", (4,)), ("affine", (2, 4)), ("subtract_divide", (4,)), ("rsubtract", (4,)),
                                        ("maximum", (4,)), ("per_row", (3, 4)), ("where", (3, 4))])
def test_parameter_gradients_match_finite_differences(kind, shape):
    inp = dnnx.Input(shape=shape, dtype="float64")
    h = Affine(kind)(inp)
    h = layers.Flatten()(h) if len(h.shape) > 2 else (ops.expand_dims(h, -1) if len(h.shape) == 1 else h)
    m = dnnx.Model(inp, layers.Dense(2)(h), seed=5, dtype="float64")
    m.compile(optimizer="sgd", loss="mse")
    x = RNG.standard_normal((7, *shape))
    loss, grads = check_gradients(m, x, RNG.standard_normal((7, 2)), samples=12, rng=RNG)
    assert all(np.abs(g).max() > 0 for g in grads)


def test_gradients_of_a_shared_layer_add_up_and_the_regularizer_counts():
    class Scaled(layers.Layer):
        def build(self, shape):
            self.s = self.add_weight(shape=(shape[-1],), initializer="ones", regularizer=dnnx.regularizers.L2(0.1),
                                     dtype="float64", name="scale")

        def call(self, x):
            return ops.tanh(x * self.s)

    a, b = dnnx.Input((3,), dtype="float64"), dnnx.Input((3,), dtype="float64")
    sc = Scaled()
    out = layers.Dense(1)(layers.Multiply()([sc(a), sc(b)]))
    m = dnnx.Model([a, b], out, seed=2, dtype="float64")
    m.compile(optimizer="sgd", loss="mse")
    xs = [RNG.standard_normal((6, 3)), RNG.standard_normal((6, 3))]
    y = RNG.standard_normal((6, 1))
    loss, _ = check_gradients(m, xs, y, samples=3, rng=RNG)
    plain = float(np.mean((m.predict(xs, verbose=0) - y) ** 2))
    np.testing.assert_allclose(loss, plain + 0.1 * np.sum(sc.s.numpy() ** 2), rtol=1e-12)
    assert len(m.losses) == 1  # Keras: one regularization loss per regularized weight
    np.testing.assert_allclose(m.losses[0], 0.1 * np.sum(sc.s.numpy() ** 2), rtol=1e-12)


def test_non_trainable_weight_is_read_not_trained_and_saved(tmp_path):
    class Shifted(layers.Layer):
        def build(self, shape):
            self.shift = self.add_weight(shape=(shape[-1],), initializer="ones", trainable=False, name="shift")
            self.w = self.add_weight(shape=(shape[-1], 2), name="kernel")

        def call(self, x):
            return (x - self.shift) @ self.w

        def get_config(self):
            return super().get_config()

    dnnx.saving.register_keras_serializable(package="test_weights")(Shifted)
    x, y = data(out=2)
    inp = dnnx.Input((5,))
    lay = Shifted()
    m = dnnx.Model(inp, lay(inp), seed=1)
    # Keras order: trainable weights first, then the rest
    assert [w.shape for w in lay.get_weights()] == [(5, 2), (5,)]
    assert [w.shape for w in m.get_weights()] == [(5, 2), (5,)]
    assert [w.shape for w in lay.trainable_weights] == [(5, 2)]
    assert [w.shape for w in lay.non_trainable_weights] == [(5,)]
    assert [w.shape for w in m.non_trainable_weights] == [(5,)]
    lines = []
    m.summary(print_fn=lines.append)
    assert "Non-trainable params: 5 " in "\n".join(lines)
    lay.shift.assign(np.arange(5.0))
    np.testing.assert_allclose(m.predict(x, verbose=0), (x - np.arange(5.0)) @ lay.w.numpy(), rtol=1e-5, atol=1e-5)
    m.compile(optimizer="sgd", loss="mse")
    before = lay.w.numpy()
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(lay.shift.numpy(), np.arange(5.0, dtype=np.float32))
    assert not np.array_equal(lay.w.numpy(), before)
    path = str(tmp_path / "m.dnnx")
    m.save(path)
    back = dnnx.models.load_model(path)
    for p, q in zip(back.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(back.layers[1].shift.numpy(), np.arange(5.0, dtype=np.float32))
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    assert back._net.param_trainable() == [True, False]


def test_frozen_custom_layer_keeps_its_weights():
    x, y = data()
    m = custom_model()
    m.layers[1].trainable = False
    m.compile(optimizer="sgd", loss="mse")
    w0 = [w.copy() for w in m.layers[1].get_weights()]
    other = m.layers[2].w.numpy()
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(w0, m.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(other, m.layers[2].w.numpy())
    assert len(m.layers[1].trainable_weights) == 0 and len(m.layers[1].non_trainable_weights) == 2


def test_fit_is_bitwise_the_same_on_1_and_2_threads(threads):
    class Gated(layers.Layer):
        def build(self, shape):
            d = shape[-1]
            self.w = self.add_weight(shape=(d, 256), name="kernel")
            self.g = self.add_weight(shape=(256,), initializer="ones", name="gate")
            self.b = self.add_weight(shape=(256,), initializer="zeros", name="bias")

        def call(self, x):
            return ops.relu(ops.matmul(x, self.w) * self.g + self.b)

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2048, 64)).astype(np.float32)
    y = rng.standard_normal((2048, 1)).astype(np.float32)
    results, start = [], None
    for t in (1, 2):
        dnnx.set_num_threads(t)
        inp = dnnx.Input((64,))
        m = dnnx.Model(inp, layers.Dense(1)(Gated()(inp)), seed=7)
        if start is None:
            start = m.get_weights()
        m.set_weights(start)
        m.compile(optimizer="adam", loss="mse")
        m.fit(x, y, batch_size=1024, epochs=2, shuffle=False, verbose=0)
        results.append(m.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


# -- eager use and errors -----------------------------------------------------------------------
def test_variables_compute_eagerly_outside_a_trace():
    lay = MyDense(3)
    lay.build((None, 4))
    a = np.ones((2, 4))
    np.testing.assert_allclose(ops.matmul(a, lay.w), a @ lay.w.numpy())
    np.testing.assert_allclose(a @ lay.w, a @ lay.w.numpy())
    np.testing.assert_allclose(lay.b + 1, np.ones(3))
    np.testing.assert_allclose(np.add(lay.b, 2.0), np.full(3, 2.0))
    assert isinstance(ops.matmul(a, lay.w), np.ndarray)
    assert [w.shape for w in lay.weights] == [(4, 3), (3,)]  # a built layer holds its weights before any model
    lay.set_weights([np.ones((4, 3)), np.ones(3)])
    np.testing.assert_array_equal(lay.w.numpy(), np.ones((4, 3), np.float32))


def test_eager_call_on_arrays_returns_numpy_and_shares_the_weights():
    lay = MyDense(4)
    x = RNG.standard_normal((3, 5)).astype(np.float32)
    out = lay(x)  # builds the layer on the first call, as Keras does
    assert isinstance(out, np.ndarray) and out.shape == (3, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, np.maximum(x @ lay.w.numpy() + lay.b.numpy(), 0), rtol=1e-6, atol=1e-6)
    lay.w.assign(np.ones((5, 4)))
    np.testing.assert_allclose(lay(x[:1]), np.maximum(x[:1].sum(1, keepdims=True), 0) * np.ones((1, 4)), rtol=1e-6)
    inp = dnnx.Input((5,))
    m = dnnx.Model(inp, layers.Dense(1)(lay(inp)), seed=0)  # the same weights, now trained in a model
    np.testing.assert_array_equal(m.get_weights()[0], np.ones((5, 4), np.float32))
    m.compile(optimizer="sgd", loss="mse")
    m.fit(x, np.ones((3, 1), np.float32), verbose=0)
    assert not np.array_equal(lay.w.numpy(), np.ones((5, 4)))
    np.testing.assert_allclose(lay(x), np.maximum(x @ lay.w.numpy() + lay.b.numpy(), 0), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="training=True on arrays is not supported"):
        lay(x, training=True)


def test_weights_outlive_the_model_and_survive_sequential_pop():
    import gc
    x, y = data()
    lay = MyDense(4)
    inp = dnnx.Input((5,))
    m = dnnx.Model(inp, layers.Dense(1)(lay(inp)), seed=0)
    m.compile(optimizer="sgd", loss="mse")
    m.fit(x, y, verbose=0)
    trained = lay.w.numpy()
    del m
    gc.collect()
    np.testing.assert_array_equal(lay.w.numpy(), trained)  # Keras: the variable holds its values
    seq = dnnx.Sequential([dnnx.Input((5,)), MyDense(4), MyDense(3), layers.Dense(1)], seed=1)
    seq.compile(optimizer="sgd", loss="mse")
    seq.fit(x, y, verbose=0)
    before = seq.get_weights()
    seq.pop()
    seq.add(layers.Dense(2))
    for a, b in zip(before[:4], seq.get_weights()[:4]):
        np.testing.assert_array_equal(a, b)


def test_add_weight_arguments_are_checked():
    lay = MyDense(2)
    with pytest.raises(ValueError, match=r"every dimension of shape must be a positive integer. Received: "
                                         r"shape=\(3, -1\)"):
        lay.add_weight(shape=(3, -1))
    with pytest.raises(ValueError, match="Unknown initializer 'nope'"):
        lay.add_weight(shape=(3,), initializer="nope")
    with pytest.raises(TypeError, match="initializer must be a name"):
        lay.add_weight(shape=(3,), initializer=lambda s: np.zeros(s))
    with pytest.raises(ValueError, match="constraint is not supported"):
        lay.add_weight(shape=(3,), constraint="non_neg")
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        lay.add_weight(shape=(3,), dtype="int32")
    with pytest.raises(TypeError, match="trainable must be a bool"):
        lay.add_weight(shape=(3,), trainable=1)
    with pytest.raises(TypeError, match="add_weight is for layers that write their own call"):
        layers.Dense(2).add_weight(shape=(3,))


def test_add_weight_after_the_layer_was_called_is_refused():
    lay = MyDense(2)
    lay(dnnx.Input((3,)))
    with pytest.raises(ValueError, match="has already been called"):
        lay.add_weight(shape=(2,), name="late")


def test_weights_used_outside_ops_are_refused_naming_the_line():
    class Baked(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), name="scale")

        def call(self, x):
            return x * np.asarray(self.w)

    with pytest.raises(TypeError, match=r"while tracing Baked.call .*line \d+.*np.asarray\(self.w\).*variable "
                                        r"'baked/scale' is used as a NumPy array inside a traced call"):
        Baked()(dnnx.Input((3,)))

    class Unused(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), name="spare")

        def call(self, x):
            return ops.relu(x)

    with pytest.raises(ValueError, match="Unused.call did not use weight 'unused/spare'"):
        Unused()(dnnx.Input((3,)))

    class Tied(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], shape[-1]), name="kernel")

        def call(self, x):
            return ops.matmul(x, self.w) * self.w

    with pytest.raises(ValueError, match="weight 'tied/kernel' is already read by another op node"):
        Tied()(dnnx.Input((3, 3)))

    class Left(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(2, shape[1]), name="kernel")

        def call(self, x):
            return ops.matmul(self.w, x)

    with pytest.raises(ValueError, match="weight @ tensor"):
        Left()(dnnx.Input((3, 4)))


# -- Keras 3 (JAX) as the oracle -----------------------------------------------------------------
def build_with(keras, kops, d=5):
    inp = keras.Input(shape=(d,))
    cls = my_dense_class(keras, kops)
    h = cls(4)(cls(8)(inp))
    return keras.Model(inp, keras.layers.Dense(1)(h))


def test_my_dense_matches_keras():
    keras = _keras()
    x, y = data()
    theirs = build_with(keras, keras.ops)
    ours = build_with(dnnx, ops)
    assert [tuple(v.shape) for v in theirs.weights] == [w.shape for w in ours.get_weights()]
    ours.set_weights([np.asarray(v.value) for v in theirs.weights])
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0)),
                               rtol=1e-5, atol=1e-6)
    ours.compile(optimizer=dnnx.optimizers.SGD(learning_rate=0.05), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    ours.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for p, v in zip(ours.get_weights(), theirs.weights):
        np.testing.assert_allclose(p, np.asarray(v.value), rtol=1e-4, atol=1e-5)
