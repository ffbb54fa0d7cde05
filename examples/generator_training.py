"""Generator-fed training, written as a Keras 3 script: a ``PyDataset`` that augments the
bundled 8x8 digits batch by batch (pixel noise keyed by the batch index), a Python
generator for validation with ``validation_steps``, ``steps_per_epoch``, callbacks, then
``evaluate`` and ``predict`` on generators.

The program takes the library as an argument, so the very same code runs on Keras
(``run(keras, ...)``; tests/test_generator_example.py compares the two) and on dnnx:

    python examples/generator_training.py [epochs]
"""

import sys

import numpy as np

import dnnx


def load(test_fraction=0.25):
    x, y = dnnx.datasets.load_digits()
    return dnnx.datasets.train_test_split((x / 16.0).astype(np.float32), y, test_fraction, seed=0)


def make_dataset(keras, x, y, batch_size=64, noise=0.05):
    class NoisyDigits(keras.utils.PyDataset):
        """Batch i of (x, y) with Gaussian pixel noise drawn from seed i (the same every epoch)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.epochs_seen = 0

        def __len__(self):
            return -(-len(x) // batch_size)

        def __getitem__(self, i):
            s = slice(i * batch_size, (i + 1) * batch_size)
            jitter = np.random.default_rng(i).normal(0.0, noise, x[s].shape).astype(np.float32)
            return x[s] + jitter, y[s]

        def on_epoch_end(self):
            self.epochs_seen += 1

    return NoisyDigits()


def batches(x, y, batch_size=128):
    """A plain Python generator of (x, y) batches, endlessly."""
    while True:
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]


def build(keras, n_features=64, n_classes=10):
    return keras.Sequential([
        keras.Input(shape=(n_features,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(n_classes, activation="softmax"),
    ])


def run(keras, epochs=10, steps_per_epoch=None, shuffle=True, weights=None, learning_rate=0.05, verbose=0,
        callbacks=()):
    x_train, x_test, y_train, y_test = load()
    model = build(keras)
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train = make_dataset(keras, x_train, y_train)
    history = model.fit(train, epochs=epochs, steps_per_epoch=steps_per_epoch, shuffle=shuffle,
                        validation_data=batches(x_test, y_test), validation_steps=2, verbose=verbose,
                        callbacks=list(callbacks))
    result = model.evaluate(batches(x_test, y_test), steps=4, return_dict=True, verbose=0)
    probs = model.predict(((xb,) for xb, _ in batches(x_test, y_test)), steps=4, verbose=0)
    return model, history.history, result, probs


def main(epochs=10, verbose=0):
    dnnx.utils.set_random_seed(0)
    stop = dnnx.callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    return run(dnnx, epochs=epochs, verbose=verbose, callbacks=[stop])


if __name__ == "__main__":
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    model, history, result, probs = main(epochs, verbose=2)
    print(f"predicted {len(probs)} test digits")
    print(f"test accuracy: {result['accuracy']:.4f}")
