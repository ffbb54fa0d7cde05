"""Training speed of a model written with dnnx.ops against its layer-only twin.

The ops model computes what the layers model does, but with the activation, a scale and a
residual as separate op nodes (``ops.relu(dense(x)) * 1.0 + h``) instead of Dense's fused
epilogue: it measures what an op node costs inside a C++ epoch. Runs alternate (ops,
layers, ops, ...) so that machine load hits both alike; prints the best epoch time of each
and their ratio.

    python bench/ops_vs_layers.py [--rounds 5] [--n 20000] [--width 256]
"""

import argparse
import time

import numpy as np

import dnnx
from dnnx import layers, ops


def models(width: int, features: int, classes: int):
    x = dnnx.Input(shape=(features,))
    h = layers.Dense(width, activation="relu")(x)
    a = layers.Dense(width, activation="relu")(h)
    out = layers.Dense(classes, activation="softmax")(layers.Add()([a, h]))
    twin = dnnx.Model(x, out, seed=0)

    x = dnnx.Input(shape=(features,))
    h = ops.relu(layers.Dense(width)(x))
    a = ops.relu(layers.Dense(width)(h)) * 1.0
    out = ops.softmax(layers.Dense(classes)(a + h))
    with_ops = dnnx.Model(x, out, seed=0)
    return with_ops, twin


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--width", type=int, default=256)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.n, 64)).astype(np.float32)
    y = rng.integers(0, 10, a.n)
    with_ops, twin = models(a.width, 64, 10)
    for m in (with_ops, twin):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=128, epochs=1, verbose=0)  # warm-up
    best = {"ops": float("inf"), "layers": float("inf")}
    for _ in range(a.rounds):
        for name, m in (("ops", with_ops), ("layers", twin)):
            t = time.perf_counter()
            m.fit(x, y, batch_size=128, epochs=1, verbose=0)
            best[name] = min(best[name], time.perf_counter() - t)
    print(f"n={a.n} width={a.width} batch=128 threads={dnnx.get_num_threads()} rounds={a.rounds}")
    print(f"epoch (best): ops {best['ops'] * 1e3:.1f} ms, layers {best['layers'] * 1e3:.1f} ms, "
          f"ops/layers = {best['ops'] / best['layers']:.3f}")


if __name__ == "__main__":
    main()
