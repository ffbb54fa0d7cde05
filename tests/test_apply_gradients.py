"""optimizer.apply_gradients (Keras's custom training step) and trainable_weights."""

import numpy as np
import pytest

import dnnx
from dnnx import layers


def model_pair():
    out = []
    for _ in range(2):
        dnnx.utils.set_random_seed(3)
        inp = dnnx.Input(shape=(5,))
        h = layers.Dense(8, activation="tanh")(inp)
        h = layers.BatchNormalization()(h)
        o = layers.Dense(2)(layers.Add()([h, layers.Dense(8)(h)]))
        m = dnnx.Model(inp, o)
        m.compile(optimizer=dnnx.optimizers.Adam(learning_rate=0.01, clipnorm=1.0), loss="mse")
        out.append(m)
    return out


def test_apply_gradients_equals_a_training_step():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 5)), rng.normal(size=(16, 2))
    a, b = model_pair()
    a.train_on_batch(x, y)
    _, grads = b.compute_gradients(x, y)
    flags = b._trainable_flags()
    b.optimizer.apply_gradients(zip([g for g, t in zip(grads, flags) if t], b.trainable_weights))
    # bitwise the same step (the training step also moved BatchNormalization's statistics)
    for wa, wb, t in zip(a.get_weights(), b.get_weights(), flags):
        if t:
            np.testing.assert_array_equal(wa, wb)
    assert a.optimizer.iterations == b.optimizer.iterations == 1


def test_apply_gradients_custom_loop_decreases_loss_and_respects_frozen():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 5)), rng.normal(size=(32, 2))
    m, _ = model_pair()
    m.layers[1].trainable = False  # the first Dense
    frozen = [w.copy() for w in m.layers[1].get_weights()]
    assert len(m.trainable_weights) + len(m.non_trainable_weights) == len(m.weights)
    losses = []
    for _ in range(30):
        loss, grads = m.compute_gradients(x, y)
        losses.append(loss)
        m.optimizer.apply_gradients(zip(grads, m.weights))
    assert losses[-1] < 0.7 * losses[0]
    for w0, w1 in zip(frozen, m.layers[1].get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_apply_gradients_errors():
    m, other = model_pair()
    g = [np.zeros_like(w) for w in m.weights]
    with pytest.raises(ValueError, match="is not one of the model's weights"):
        m.optimizer.apply_gradients(zip(g, other.weights))
    with pytest.raises(ValueError, match="must have shape"):
        m.optimizer.apply_gradients([(np.zeros(3), m.weights[0])])
    with pytest.raises(ValueError, match="not compiled into a built model"):
        dnnx.optimizers.SGD().apply_gradients([])
