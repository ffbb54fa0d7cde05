"""Network-core overhead benchmark (issue 6): training step time against the sum of its
GEMMs, the 40-100-100-10 epoch, predict latency, and step-time variants (clipnorm, L2,
dropout). Best-of-N wall times; check `uptime` first on a shared machine.

    python bench/nn_overhead.py [step] [tiny] [predict] [variants]
"""
import os
import sys
import time

import numpy as np
import dnnx
from dnnx import layers, optimizers
from dnnx import _core

def best(f, n=7, inner=1):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        for _ in range(inner): f()
        ts.append((time.perf_counter() - t) / inner)
    return min(ts)

def mlp(dims, opt="adam"):
    dnnx.utils.set_random_seed(0)
    m = dnnx.Sequential([dnnx.Input(shape=(dims[0],))] +
                        [layers.Dense(d, activation="relu") for d in dims[1:-1]] +
                        [layers.Dense(dims[-1], activation="softmax")])
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    return m

def gemm_sum(dims, bs, reps=5):
    # forward NN, dW TN, dX NT (not for first layer), per Dense layer
    rng = np.random.default_rng(0)
    tot = 0.0
    for i in range(len(dims) - 1):
        a, b = dims[i], dims[i + 1]
        x = rng.standard_normal((bs, a), dtype=np.float32)
        w = rng.standard_normal((a, b), dtype=np.float32)
        dy = rng.standard_normal((bs, b), dtype=np.float32)
        y = np.empty((bs, b), np.float32); dw = np.empty((a, b), np.float32); dx = np.empty((bs, a), np.float32)
        tot += best(lambda: _core.gemm(x, w, y), reps, 20)
        tot += best(lambda: _core.gemm(x, dy, dw, trans_a=True), reps, 20)
        if i > 0: tot += best(lambda: _core.gemm(dy, w, dx, trans_b=True), reps, 20)
    return tot

def main():
    what = sys.argv[1:] or ["step", "tiny", "predict", "variants"]
    print("uptime:", os.popen("uptime").read().strip())
    rng = np.random.default_rng(0)
    for nt in (1, 2):
        dnnx.set_num_threads(nt)
        if "step" in what:
            dims = [784, 512, 256, 10]
            for bs in (32, 128, 512):
                n = bs * (64 if bs < 512 else 16)
                x = rng.standard_normal((n, 784), dtype=np.float32); y = rng.integers(0, 10, n)
                m = mlp(dims)
                m.fit(x, y, batch_size=bs, epochs=1, verbose=0)
                t = best(lambda: m.fit(x, y, batch_size=bs, epochs=1, verbose=0, shuffle=False), 5) / (n // bs)
                g = gemm_sum(dims, bs)
                print(f"threads={nt} 784-512-256-10 adam bs={bs}: step {t*1e6:8.1f} us, gemms {g*1e6:8.1f} us, overhead {(t-g)*1e6:7.1f} us")
        if "tiny" in what:
            x = rng.standard_normal((4000, 40), dtype=np.float32); y = rng.integers(0, 10, 4000)
            m = mlp([40, 100, 100, 10])
            m.fit(x, y, batch_size=128, epochs=1, verbose=0)
            t = best(lambda: m.fit(x, y, batch_size=128, epochs=1, verbose=0), 15)
            print(f"threads={nt} 40-100-100-10 bs=128 epoch: {t*1e3:.2f} ms")
        if "predict" in what:
            m = mlp([784, 512, 256, 10])
            x = rng.standard_normal((256, 784), dtype=np.float32)
            for b in (1, 32, 256):
                xb = x[:b]
                m.predict_on_batch(xb)
                t = best(lambda: m.predict_on_batch(xb), 9, max(1, 200 // b))
                print(f"threads={nt} predict_on_batch bs={b}: {t*1e6:8.1f} us")
    if "variants" in what:
        dnnx.set_num_threads(1)
        x = rng.standard_normal((32 * 64, 784), dtype=np.float32); y = rng.integers(0, 10, 32 * 64)
        for kw, reg, drop in (({}, None, 0), ({"clipnorm": 1.0}, None, 0),
                              ({}, dnnx.regularizers.L2(1e-4), 0), ({}, None, 0.2)):
            dnnx.utils.set_random_seed(0)
            ls = [dnnx.Input(shape=(784,)), layers.Dense(512, activation="relu", kernel_regularizer=reg)]
            ls += [layers.Dropout(drop)] if drop else []
            ls += [layers.Dense(256, activation="relu", kernel_regularizer=reg)]
            ls += [layers.Dropout(drop)] if drop else []
            ls += [layers.Dense(10, activation="softmax")]
            m = dnnx.Sequential(ls)
            m.compile(optimizer=optimizers.Adam(**kw), loss="sparse_categorical_crossentropy")
            m.fit(x, y, batch_size=32, epochs=1, verbose=0)
            t = best(lambda: m.fit(x, y, batch_size=32, epochs=1, verbose=0), 5) / 64
            print(f"threads=1 bs=32 adam{kw} reg={reg} dropout={drop}: step {t*1e6:8.1f} us")
    print("uptime:", os.popen("uptime").read().strip())


if __name__ == "__main__":
    main()
