"""A custom residual-block layer (a ``layers.Layer`` subclass) in a residual MLP on the
bundled 8x8 digits.

``ResidualBlock`` is written the Keras way: sublayers made in ``__init__``, the computation
in ``call(x, training=None)``, constructor arguments in ``get_config``, and registered
with ``register_keras_serializable`` so a saved model loads back. dnnx traces ``call()``
once on symbolic tensors: the blocks' Dense, LayerNormalization, Dropout and Add become
nodes of the model's C++ graph, so training still runs whole epochs in C++.

The classes are made by a function of the library so the same code runs under Keras 3
(``residual_block_class(keras)``); the tests check both give the same outputs.

    python examples/residual_block_layer.py [epochs]
"""

import sys


def residual_block_class(keras):
    """``ResidualBlock`` written against ``keras`` (dnnx or Keras 3)."""

    @keras.saving.register_keras_serializable(package="examples")
    class ResidualBlock(keras.layers.Layer):
        """``x + Dense(Dropout(Dense(LayerNorm(x), relu)))`` (pre-norm, width ``units``)."""

        def __init__(self, units, dropout=0.1, **kwargs):
            super().__init__(**kwargs)
            self.units, self.dropout = units, dropout
            self.norm = keras.layers.LayerNormalization()
            self.up = keras.layers.Dense(2 * units, activation="relu")
            self.drop = keras.layers.Dropout(dropout)
            self.down = keras.layers.Dense(units)
            self.add = keras.layers.Add()

        def call(self, x, training=None):
            h = self.up(self.norm(x))
            h = self.down(self.drop(h, training=training))
            return self.add([x, h])

        def get_config(self):
            return {**super().get_config(), "units": self.units, "dropout": self.dropout}

    return ResidualBlock


def build_model(keras, n_features=64, n_classes=10, width=64, blocks=2, dropout=0.1):
    ResidualBlock = residual_block_class(keras)
    inputs = keras.Input(shape=(n_features,))
    x = keras.layers.Dense(width)(inputs)
    for _ in range(blocks):
        x = ResidualBlock(width, dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def main(epochs=20, verbose=0):
    import dnnx
    dnnx.utils.set_random_seed(0)
    x, y = dnnx.datasets.load_digits()
    x = x / 16.0
    model = build_model(dnnx)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1500], y[:1500], batch_size=32, epochs=epochs, verbose=verbose)
    acc = model.evaluate(x[1500:], y[1500:], return_dict=True, verbose=0)["accuracy"]
    print(f"held-out accuracy: {acc:.4f}")
    return model, acc


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
