"""Custom metrics (``metrics.Metric`` subclasses) in compile, as in Keras.

``BatchMaxError`` keeps two state variables (``add_variable``): the sum of each batch's
largest absolute error and the number of batches; ``result()`` is their ratio, the mean
over the batches of an epoch of the worst error in each batch. It depends on how the data
are cut into batches, so it only agrees with Keras if it is updated exactly as Keras does:
once per training step, with that step's outputs, reset at each epoch.
``WeightedAbsoluteError`` honours ``sample_weight`` (given to ``weighted_metrics``).

dnnx runs the epoch in C++ and records each step's outputs; the metrics are updated from
them after the epoch, so training has no Python per step. The classes are made by a
function of the library and its ops (``keras``, ``keras.ops``; or ``dnnx`` with NumPy) so
the same metric code runs under Keras 3; the tests check both give the same logs.

    python examples/custom_metric.py [epochs]
"""

import sys

import numpy as np


def metric_classes(keras, ops):
    """``(BatchMaxError, WeightedAbsoluteError)`` written against ``keras`` and ``ops``."""

    @keras.saving.register_keras_serializable(package="examples")
    class BatchMaxError(keras.metrics.Metric):
        def __init__(self, name="batch_max_error", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")
            self.batches = self.add_variable(shape=(), initializer="zeros", name="batches")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(ops.max(ops.abs(y_true - y_pred)))
            self.batches.assign_add(1.0)

        def result(self):
            return self.total / ops.maximum(self.batches, 1.0)

    @keras.saving.register_keras_serializable(package="examples")
    class WeightedAbsoluteError(keras.metrics.Metric):
        def __init__(self, name="weighted_abs_error", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")
            self.weight = self.add_variable(shape=(), initializer="zeros", name="weight")

        def update_state(self, y_true, y_pred, sample_weight=None):
            err = ops.mean(ops.abs(y_true - y_pred), axis=-1)
            w = ops.ones_like(err) if sample_weight is None else ops.reshape(sample_weight, err.shape)
            self.total.assign_add(ops.sum(err * w))
            self.weight.assign_add(ops.sum(w))

        def result(self):
            return self.total / ops.maximum(self.weight, 1e-7)

    return BatchMaxError, WeightedAbsoluteError


def data(n=512, d=6, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (np.sin(x[:, :1]) + 0.5 * x[:, 1:2] ** 2 + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)
    sw = rng.uniform(0.5, 2.0, n).astype(np.float32)
    return x, y, sw


def build_model(keras, d=6):
    return keras.Sequential([keras.Input(shape=(d,)), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dense(1)])


def main(epochs=10, verbose=0):
    import dnnx
    dnnx.utils.set_random_seed(0)
    BatchMaxError, WeightedAbsoluteError = metric_classes(dnnx, np)
    x, y, sw = data()
    model = build_model(dnnx)
    model.compile(optimizer="adam", loss="mse", metrics=[BatchMaxError()],
                  weighted_metrics=[WeightedAbsoluteError()])
    history = model.fit(x, y, sample_weight=sw, batch_size=32, epochs=epochs, verbose=verbose)
    logs = model.evaluate(x, y, sample_weight=sw, return_dict=True, verbose=0)
    print(f"last epoch batch_max_error: {history.history['batch_max_error'][-1]:.4f}; "
          f"evaluate: {logs}")
    return history, logs


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
