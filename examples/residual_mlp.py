"""A residual MLP (pre-norm blocks with skip connections) on the bundled 8x8 digits.

Each block computes ``x + Dense(Dropout(Dense(LayerNorm(x), relu)))``: the residual MLP of
"Revisiting Deep Learning Models for Tabular Data" (Gorishniy et al., 2021), written with
the functional API exactly as in Keras.

    python examples/residual_mlp.py [epochs]
"""

import sys

import dnnx
from dnnx import layers


def build_model(n_features=64, n_classes=10, width=128, blocks=3, dropout=0.1):
    inputs = dnnx.Input(shape=(n_features,), name="pixels")
    x = layers.Dense(width, name="stem")(inputs)
    for i in range(blocks):
        h = layers.LayerNormalization(name=f"block{i}_norm")(x)
        h = layers.Dense(2 * width, activation="relu", name=f"block{i}_up")(h)
        h = layers.Dropout(dropout, name=f"block{i}_dropout")(h)
        h = layers.Dense(width, name=f"block{i}_down")(h)
        x = layers.Add(name=f"block{i}_add")([x, h])
    x = layers.LayerNormalization(name="head_norm")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="digit")(x)
    return dnnx.Model(inputs, outputs, name="residual_mlp")


def main(epochs=30, verbose=0):
    dnnx.utils.set_random_seed(0)
    x, y = dnnx.datasets.load_digits()
    x_train, x_test, y_train, y_test = dnnx.datasets.train_test_split(x / 16.0, y, test_fraction=0.25, seed=0)
    model = build_model()
    model.compile(optimizer=dnnx.optimizers.AdamW(learning_rate=1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=epochs, validation_split=0.1, verbose=verbose)
    result = model.evaluate(x_test, y_test, return_dict=True, verbose=0)
    return model, (x_test, y_test), result


if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    model, _, result = main(epochs, verbose=2)
    model.summary()
    print(f"test accuracy: {result['accuracy']:.4f}")
