"""``model.losses``: the add_loss values of the last ``model(x)`` call and the weight
regularization losses, against Keras 3 on JAX."""


import numpy as np

import dnnx
from dnnx import layers, ops
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(29)


class Penalty(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.through = layers.Identity()

    def call(self, h):
        self.add_loss(0.1 * ops.mean(ops.square(h)))
        self.add_loss(ops.sum(h) * 0.01)
        return self.through(h)


def _dnnx_model(seed=2):
    i = dnnx.Input(shape=(3,))
    # the l1 bias starts at ones, away from the kink: at exactly 0 JAX's subgradient of |w| is +1,
    # dnnx's (like PyTorch's and Keras-on-TensorFlow's) is 0, and the trained weights would part
    h = layers.Dense(4, kernel_regularizer=dnnx.regularizers.l2(0.01), bias_regularizer="l1",
                     bias_initializer="ones", name="d")(i)
    o = layers.Dense(2, kernel_regularizer=dnnx.regularizers.l1_l2(l1=0.02, l2=0.03), name="o")(Penalty()(h))
    m = dnnx.Model(i, o, seed=seed)
    m.add_loss(ops.mean(ops.abs(o)) * 0.5)
    return m


def _keras_model(keras, weights):
    class KPenalty(keras.layers.Layer):
        def call(self, h):
            self.add_loss(0.1 * keras.ops.mean(keras.ops.square(h)))
            self.add_loss(keras.ops.sum(h) * 0.01)
            return h

    class AbsMean(keras.layers.Layer):  # Keras's functional Model has no add_loss: the model's own term
        def call(self, o):
            self.add_loss(keras.ops.mean(keras.ops.abs(o)) * 0.5)
            return o

    i = keras.Input(shape=(3,))
    h = keras.layers.Dense(4, kernel_regularizer=keras.regularizers.l2(0.01), bias_regularizer="l1", name="d")(i)
    o = keras.layers.Dense(2, kernel_regularizer=keras.regularizers.l1_l2(l1=0.02, l2=0.03), name="o")(KPenalty()(h))
    km = keras.Model(i, AbsMean()(o))
    km.set_weights(weights)
    return km


def _values(ls):
    return np.array([float(np.asarray(v)) for v in ls])


def test_model_losses_match_keras_before_and_after_a_call_and_after_fit():
    keras = _keras()
    m = _dnnx_model()
    km = _keras_model(keras, m.get_weights())
    x = RNG.standard_normal((11, 3)).astype(np.float32)
    y = RNG.standard_normal((11, 2)).astype(np.float32)
    # before any call: the three regularized weights (d/kernel, d/bias, o/kernel)
    assert len(m.losses) == 3 and all(v.shape == () and v.dtype == np.float32 for v in m.losses)
    np.testing.assert_allclose(_values(m.losses), _values(km.losses), rtol=1e-6)
    # a direct call: its add_loss values on all of x (layer terms, then the model's), then the penalties
    m(x)
    km(x)
    assert len(m.losses) == len(km.losses) == 6
    dv, kv = _values(m.losses), _values(km.losses)
    np.testing.assert_allclose(np.sort(dv[:3]), np.sort(kv[:3]), rtol=1e-5)  # the same terms (Keras's order differs)
    np.testing.assert_allclose(dv[3:], kv[3:], rtol=1e-6)
    # dnnx's order: the model's own add_loss terms, then its layers' in order
    w = m.get_weights()
    h = x @ w[0] + w[1]
    ref = [0.5 * np.mean(np.abs(m.predict(x, verbose=0))), 0.1 * np.mean(h ** 2), 0.01 * np.sum(h)]
    np.testing.assert_allclose(dv[:3], ref, rtol=1e-5)
    # fit (and predict, evaluate) leave no call values behind; the penalties follow the weights
    m.compile(optimizer=dnnx.optimizers.SGD(0.05), loss="mse")
    km.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    km.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert len(m.losses) == len(km.losses) == 3
    w = m.get_weights()
    ref = [0.01 * np.sum(w[0] ** 2), np.sum(np.abs(w[1])) * 0.01, 0.02 * np.abs(w[2]).sum() + 0.03 * (w[2] ** 2).sum()]
    np.testing.assert_allclose(_values(m.losses), ref, rtol=1e-6)
    # the trained weights, and so the penalties, agree with Keras's to float32 noise
    np.testing.assert_allclose(np.concatenate([v.ravel() for v in w]),
                               np.concatenate([np.asarray(v.value).ravel() for v in km.weights]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_values(m.losses), _values(km.losses), rtol=1e-5)
    m(x)
    m.predict(x, verbose=0)
    assert len(m.losses) == 3


def test_frozen_layers_have_no_regularization_loss_and_subclassed_models_list_theirs():
    m = _dnnx_model()
    m.get_layer("d").trainable = False
    w = m.get_layer("o").get_weights()[0]
    np.testing.assert_allclose(_values(m.losses), [0.02 * np.abs(w).sum() + 0.03 * (w ** 2).sum()], rtol=1e-6)

    class Sub(dnnx.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.emb = layers.Embedding(7, 3, embeddings_regularizer="l2")
            self.out = layers.Dense(1)

        def call(self, ids):
            e = self.emb(ids)
            self.add_loss(ops.mean(ops.square(e)))
            return self.out(ops.reshape(e, (-1, 6)))

    s = Sub(seed=1)
    ids = RNG.integers(0, 7, (5, 2))
    assert s.losses == []  # not built yet
    s(ids)
    e = s.emb.get_weights()[0]
    np.testing.assert_allclose(_values(s.losses), [np.mean(e[ids] ** 2), 0.01 * (e ** 2).sum()], rtol=1e-5)
