"""A Keras 3 script with a custom loss written in ops and an activity penalty added with
add_loss, run under dnnx: both are traced once into the C++ graph, so fit still runs whole
epochs in C++.

Keras original: the loss function is the same code with ``keras.ops``; the penalty is a
small layer whose ``call`` does ``self.add_loss(...)`` (dnnx: ``model.add_loss(tensor)`` on
the functional model). tests/test_custom_losses.py runs this model against Keras 3 on JAX
with the same weights and compares outputs and training curves.
"""

import numpy as np

import dnnx
from dnnx import layers, ops


def tilted_mse(y_true, y_pred, o=ops):
    """Squared error, plus a small L1 pull of the predictions towards 0 (per sample)."""
    return o.mean(o.square(y_true - y_pred), axis=-1) + 0.1 * o.mean(o.abs(y_pred), axis=-1)


def build(seed=0):
    x = dnnx.Input(shape=(8,), name="features")
    h = layers.Dense(16, activation="relu", name="hidden")(x)
    y = layers.Dense(3, name="out")(h)
    model = dnnx.Model(x, y, seed=seed)
    model.add_loss(1e-2 * ops.mean(ops.square(h)))  # activity penalty on the hidden layer
    model.compile(optimizer=dnnx.optimizers.SGD(learning_rate=0.05), loss=tilted_mse, metrics=["mae"])
    return model


def data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    w = rng.standard_normal((8, 3)).astype(np.float32)
    y = np.tanh(x @ w) + 0.05 * rng.standard_normal((n, 3)).astype(np.float32)
    return x, y


def main():
    x, y = data()
    model = build()
    history = model.fit(x, y, batch_size=32, epochs=10, verbose=0)
    first, last = history.history["loss"][0], history.history["loss"][-1]
    print(f"loss {first:.4f} -> {last:.4f}; mae {history.history['mae'][-1]:.4f}")
    return history


if __name__ == "__main__":
    main()
