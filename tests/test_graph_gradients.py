"""Central finite differences (float64) against model.compute_gradients on graphs: fan-out,
every merge, shared layers, frozen layers, Embedding with repeated IDs, several outputs."""

import numpy as np
import pytest

import dnnx
from dnnx import layers
from finite_differences import check_gradients

RNG = np.random.default_rng(11)


def check(model, x, y, sw=None, samples=10, h=1e-6, tol=1e-6):
    return check_gradients(model, x, y, sw, samples, h, tol, RNG)[1]


def normal(*shape):
    return RNG.standard_normal(shape)


def compiled(inputs, outputs, loss="mse", **kw):
    m = dnnx.Model(inputs, outputs, seed=5, dtype="float64")
    m.compile(optimizer="sgd", loss=loss, **kw)
    return m


def test_fan_out_and_residual():
    inp = dnnx.Input(shape=(4,), dtype="float64")
    h = layers.Dense(5, activation="tanh")(inp)
    a = layers.Dense(5, activation="sigmoid")(h)   # h feeds three consumers
    b = layers.Dense(5)(h)
    out = layers.Dense(2)(layers.Add()([h, a, b]))
    check(compiled(inp, out), normal(7, 4), normal(7, 2))


@pytest.mark.parametrize("merge", [layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum,
                                   layers.Concatenate])
def test_every_merge(merge):
    a = dnnx.Input(shape=(3,), dtype="float64")
    b = dnnx.Input(shape=(3,), dtype="float64")
    ha = layers.Dense(4, activation="tanh")(a)
    hb = layers.Dense(4)(b)
    out = layers.Dense(2)(merge()([ha, hb]))
    check(compiled([a, b], out), [normal(6, 3), normal(6, 3)], normal(6, 2), sw=RNG.uniform(0.5, 2, 6))


def test_shared_layer_called_twice():
    a = dnnx.Input(shape=(3,), dtype="float64")
    b = dnnx.Input(shape=(3,), dtype="float64")
    tower = layers.Dense(4, activation="tanh")
    out = layers.Dense(1)(layers.Multiply()([tower(a), tower(b)]))
    check(compiled([a, b], out), [normal(5, 3), normal(5, 3)], normal(5, 1))


def test_frozen_layer_gets_zero_gradient():
    inp = dnnx.Input(shape=(3,), dtype="float64")
    frozen = layers.Dense(4, activation="tanh", trainable=False)
    out = layers.Dense(2)(layers.Dense(4, activation="tanh")(frozen(inp)))
    m = compiled(inp, out)
    x, y = normal(6, 3), normal(6, 2)
    _, grads = m.compute_gradients(x, y)
    np.testing.assert_array_equal(grads[0], 0)
    np.testing.assert_array_equal(grads[1], 0)
    frozen.trainable = True
    check(m, x, y)


def test_embedding_with_repeated_ids_and_pooling():
    ids = dnnx.Input(shape=(3,), dtype="int64")
    num = dnnx.Input(shape=(2,), dtype="float64")
    emb = layers.Embedding(6, 4, embeddings_regularizer=dnnx.regularizers.L2(0.01))
    e = emb(ids)
    pooled = layers.GlobalAveragePooling1D()(e)
    flat = layers.Flatten()(layers.Reshape((4, 3))(layers.Identity()(e)))
    h = layers.Concatenate()([num, pooled, flat])
    out = layers.Dense(2, activation="tanh")(h)
    m = compiled([ids, num], out)
    x = [np.array([[1, 1, 2], [2, 3, 1], [1, 1, 1], [5, 0, 2]]), normal(4, 2)]
    grads = check(m, x, normal(4, 2), samples=24)
    np.testing.assert_allclose(grads[0][4], 2 * 0.01 * m.get_weights()[0][4], rtol=1e-12)  # ID 4 unseen: L2 only


def test_multi_output_weighted_objective():
    inp = dnnx.Input(shape=(3,), dtype="float64")
    h = layers.Dense(4, activation="tanh")(inp)
    r = layers.Dense(2, name="r")(h)
    c = layers.Dense(3, activation="softmax", name="c")(h)
    m = dnnx.Model(inp, [r, c], seed=2)
    m.compile(optimizer="sgd", loss=["mae", "sparse_categorical_crossentropy"], loss_weights=[0.3, 1.7])
    check(m, normal(6, 3), [normal(6, 2), RNG.integers(0, 3, 6)])


def test_last_axis_layers_on_3d_tensors():
    """Dense, normalizations, softmax and Concatenate applied per step of (batch, steps, features)."""
    ids = dnnx.Input(shape=(3,), dtype="int64")
    e = layers.Embedding(7, 4)(ids)
    h = layers.Dense(5, activation="tanh")(e)
    h = layers.Concatenate()([h, e])
    h = layers.LayerNormalization()(layers.Activation("softmax")(h))
    h = layers.BatchNormalization()(layers.Dense(3)(h))
    out = layers.Dense(2)(layers.Flatten()(h))
    m = compiled(ids, out)
    for p in m.get_layer("layer_normalization").weights + m.get_layer("batch_normalization").weights[:2]:
        p[...] += RNG.uniform(0.1, 0.5, p.shape)
    check(m, np.array([[1, 2, 3], [4, 4, 0], [6, 1, 1], [2, 5, 0], [3, 3, 3]]), normal(5, 2), samples=16)


def test_output_that_also_feeds_another_layer():
    """A softmax output with cross-entropy that another layer also reads (no fusion there)."""
    inp = dnnx.Input(shape=(3,), dtype="float64")
    h = layers.Dense(4, activation="softmax", name="h")(inp)
    o = layers.Dense(2, name="o")(h)
    m = dnnx.Model(inp, [h, o], seed=1)
    m.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[1.0, 0.5])
    check(m, normal(5, 3), [RNG.integers(0, 4, 5), normal(5, 2)])
