"""Training speed of a traced subclassed model against its functional twin.

The subclassed model (a ``Model`` subclass holding a stem, residual-block ``Layer``
subclasses and a head as attributes, with ``call()``) is traced once into the C++ graph;
the twin is the same network written with the functional API, given the same weights.
Each round times one epoch of ``fit`` for each model, alternating which goes first; the
ratio subclassed/functional is reported as median [min, max] over rounds, with both
models' median epoch times, the CPU and the load average. A second race does the same
for an MLP of ``add_weight`` layers (``relu(x @ w + b)`` in dnnx.ops: the op nodes own the
weights) against the same MLP of Dense layers. Usage:

    python bench/bench_subclassed.py [--rounds 7] [--samples 16384] [--width 256] [--blocks 3]
                                     [--batch-size 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

import dnnx
from dnnx import layers

from _machine import cpu_name


class Block(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.norm = layers.LayerNormalization()
        self.up = layers.Dense(2 * units, activation="relu")
        self.drop = layers.Dropout(0.1)
        self.down = layers.Dense(units)
        self.add = layers.Add()

    def call(self, x, training=None):
        return self.add([x, self.down(self.drop(self.up(self.norm(x)), training=training))])


class ResidualMLP(dnnx.Model):
    def __init__(self, width, blocks, classes, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Dense(width)
        self.blocks = [Block(width) for _ in range(blocks)]
        self.head = layers.Dense(classes, activation="softmax")

    def call(self, x, training=None):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x, training=training)
        return self.head(x)


class MyDense(layers.Layer):
    """The Keras guide's custom Dense: its weights from add_weight, its call in dnnx.ops."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="kernel")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")

    def call(self, x):
        return dnnx.ops.relu(dnnx.ops.matmul(x, self.w) + self.b)


def weights_pair(features, width, blocks, classes):
    """(add_weight MLP, Dense MLP) of the same shape and weights."""
    inp = dnnx.Input(shape=(features,))
    x = inp
    for _ in range(blocks):
        x = MyDense(width)(x)
    custom = dnnx.Model(inp, layers.Dense(classes, activation="softmax")(x), seed=0)
    inp = dnnx.Input(shape=(features,))
    x = inp
    for _ in range(blocks):
        x = layers.Dense(width, activation="relu")(x)
    twin = dnnx.Model(inp, layers.Dense(classes, activation="softmax")(x))
    twin.set_weights(custom.get_weights())
    return custom, twin


def race(models: dict, x, y, a) -> tuple:
    """Median epoch times per model and the first/second ratio per round (alternating order)."""
    for m in models.values():
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        m.fit(x, y, batch_size=a.batch_size, epochs=1, verbose=0)  # warm-up: workspace, packing
    first, second = list(models)
    times = {k: [] for k in models}
    ratios = []
    for r in range(a.rounds):
        order = list(models) if r % 2 == 0 else list(reversed(list(models)))
        t = {}
        for k in order:
            t0 = time.perf_counter()
            models[k].fit(x, y, batch_size=a.batch_size, epochs=1, verbose=0)
            t[k] = time.perf_counter() - t0
            times[k].append(t[k])
        ratios.append(t[first] / t[second])
    return {k: statistics.median(v) for k, v in times.items()}, ratios


def functional_twin(features, width, blocks, classes):
    inp = dnnx.Input(shape=(features,))
    x = layers.Dense(width)(inp)
    for _ in range(blocks):
        h = layers.Dense(2 * width, activation="relu")(layers.LayerNormalization()(x))
        x = layers.Add()([x, layers.Dense(width)(layers.Dropout(0.1)(h))])
    return dnnx.Model(inp, layers.Dense(classes, activation="softmax")(x))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--samples", type=int, default=16384)
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if a.rounds < 1 or a.samples < 1:
        ap.error("--rounds and --samples must be >= 1")
    dnnx.set_num_threads(a.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.samples, a.features)).astype(np.float32)
    y = rng.integers(0, a.classes, a.samples)
    sub = ResidualMLP(a.width, a.blocks, a.classes, seed=0)
    sub.build((None, a.features))
    twin = functional_twin(a.features, a.width, a.blocks, a.classes)
    twin.set_weights(sub.get_weights())
    times, ratios = race({"subclassed": sub, "functional": twin}, x, y, a)
    custom, dense = weights_pair(a.features, a.width, a.blocks, a.classes)
    wtimes, wratios = race({"add_weight": custom, "dense": dense}, x, y, a)
    print(f"CPU: {cpu_name()}; threads {a.threads}; load average {os.getloadavg()[0]:.2f} "
          f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{a.samples} samples x {a.features} features, {a.blocks} residual blocks of width {a.width}, "
          f"batch {a.batch_size}, {a.rounds} rounds (alternating order)")
    print(f"epoch s  subclassed {times['subclassed']:.4f}  functional {times['functional']:.4f}")
    print(f"ratio subclassed/functional  median {statistics.median(ratios):.3f}  "
          f"[{min(ratios):.3f}, {max(ratios):.3f}]")
    print(f"MLP of {a.blocks} add_weight layers (relu(x @ w + b) in dnnx.ops) vs {a.blocks} Dense layers, width "
          f"{a.width}")
    print(f"epoch s  add_weight {wtimes['add_weight']:.4f}  dense {wtimes['dense']:.4f}")
    print(f"ratio add_weight/dense  median {statistics.median(wratios):.3f}  "
          f"[{min(wratios):.3f}, {max(wratios):.3f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
