"""``dnnx bench --builtin``: a short training-speed comparison that needs nothing but NumPy
(an installed dnnx has no bench/ folder): the same MLP (30-256-128-1, ReLU, sigmoid +
binary cross-entropy, plain SGD) trained for the same epochs by dnnx and by a NumPy
implementation, median of 3 alternating runs in this process. For the full comparison
(PyTorch, JAX, scikit-learn, onnxruntime, separate processes) run bench/compare.py.
"""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np

SIZES = (30, 256, 128, 1)
ROWS, BATCH, EPOCHS, LR = 16384, 256, 2, 0.01


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ROWS, SIZES[0])).astype(np.float32)
    y = (x[:, :5].sum(1) + 0.3 * rng.standard_normal(ROWS) > 0).astype(np.float32).reshape(-1, 1)
    return x, y


def _numpy_fit(x, y, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    ws = [rng.uniform(-1, 1, (a, b)).astype(np.float32) * np.float32(np.sqrt(6 / (a + b)))
          for a, b in zip(SIZES[:-1], SIZES[1:])]
    bs = [np.zeros(b, np.float32) for b in SIZES[1:]]
    for _ in range(EPOCHS):
        perm = rng.permutation(len(x))
        for s in range(0, len(x), BATCH):
            idx = perm[s:s + BATCH]
            acts = [x[idx]]
            for i, (w, b) in enumerate(zip(ws, bs)):
                z = acts[-1] @ w + b
                acts.append(np.maximum(z, 0) if i < len(ws) - 1 else 1 / (1 + np.exp(-z)))
            g = (acts[-1] - y[idx]) / len(idx)
            for i in range(len(ws) - 1, -1, -1):
                gw, gb = acts[i].T @ g, g.sum(0)
                if i:
                    g = (g @ ws[i].T) * (acts[i] > 0)
                ws[i] -= LR * gw
                bs[i] -= LR * gb


def _dnnx_fit(x, y, seed: int = 0) -> None:
    import dnnx
    from dnnx import layers
    model = dnnx.Sequential([dnnx.Input(shape=(SIZES[0],))] + [layers.Dense(w, activation="relu") for w in SIZES[1:-1]]
                            + [layers.Dense(1, activation="sigmoid")], seed=seed)
    model.compile(optimizer=dnnx.optimizers.SGD(LR), loss="binary_crossentropy")
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0)


def builtin_comparison(repeats: int = 3) -> dict:
    import dnnx
    x, y = _data()
    times = {"dnnx": [], "numpy": []}
    for _ in range(repeats):
        for name, f in (("dnnx", _dnnx_fit), ("numpy", _numpy_fit)):
            t = time.perf_counter()
            f(x, y)
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"CPU: {platform.processor() or platform.machine()}; dnnx threads: {dnnx.get_num_threads()}")
    print(f"MLP {'-'.join(map(str, SIZES))}, SGD, batch {BATCH}, {EPOCHS} epochs of {ROWS:,} rows; median of "
          f"{repeats} runs (spread min-max)")
    for k, v in times.items():
        print(f"  {k:6s} {med[k]:.3f} s ({min(v):.3f}-{max(v):.3f}), {EPOCHS * ROWS / med[k]:,.0f} samples/s")
    print(f"  dnnx is {med['numpy'] / med['dnnx']:.1f}x NumPy")
    return med
