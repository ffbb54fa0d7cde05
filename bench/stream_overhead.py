"""What feeding fit batch by batch costs: the whole-epoch C++ path (arrays) against the
per-batch path (a Python generator of the same batches, one C++ step per batch).

Each measurement runs in its own process, the two paths alternating, for --rounds rounds;
the ratio generator/arrays is reported per batch size as median [min, max] over rounds,
with the CPU named. Usage:

    python bench/stream_overhead.py [--rounds 5] [--threads 2] [--samples 8192]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from _machine import cpu_name

WORKER = r"""
import json, sys, time
import numpy as np
import dnnx
from dnnx import layers
mode, bs, n, threads, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
dnnx.set_num_threads(threads)
rng = np.random.default_rng(0)
x = rng.standard_normal((n, 784)).astype(np.float32)
y = rng.integers(0, 10, n)
m = dnnx.Sequential([dnnx.Input(shape=(784,)), layers.Dense(256, activation="relu"),
                     layers.Dense(10, activation="softmax")], seed=0)
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
yf = y.astype(np.float32).reshape(-1, 1)

def gen():
    for i in range(0, n, bs):
        yield x[i:i + bs], yf[i:i + bs]

def epoch():
    if mode == "arrays":
        m.fit(x, yf, batch_size=bs, epochs=1, shuffle=False, verbose=0)
    else:
        m.fit(gen(), epochs=1, verbose=0)

epoch()  # warm-up (workspace, packing)
t = []
for _ in range(epochs):
    t0 = time.perf_counter(); epoch(); t.append(time.perf_counter() - t0)
print(json.dumps({"mode": mode, "bs": bs, "epoch_s": min(t)}))
"""


def run(mode: str, bs: int, n: int, threads: int, epochs: int) -> float:
    out = subprocess.run([sys.executable, "-c", WORKER, mode, str(bs), str(n), str(threads), str(epochs)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["epoch_s"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs per process (the fastest is kept)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512])
    a = p.parse_args(argv)
    print(f"CPU: {cpu_name()}; threads={a.threads}; MLP 784-256-10, {a.samples} samples, "
          f"{a.rounds} rounds (separate processes, alternating)")
    print(f"{'batch':>6} {'arrays ms/epoch':>16} {'generator ms/epoch':>19} {'ratio gen/arrays':>26}"
          f" {'extra us/step':>14}")
    for bs in a.batch_sizes:
        ta, tg, ratios = [], [], []
        for _ in range(a.rounds):
            t_arr = run("arrays", bs, a.samples, a.threads, a.epochs)
            t_gen = run("generator", bs, a.samples, a.threads, a.epochs)
            ta.append(t_arr)
            tg.append(t_gen)
            ratios.append(t_gen / t_arr)
        steps = -(-a.samples // bs)
        extra = (statistics.median(tg) - statistics.median(ta)) / steps * 1e6
        print(f"{bs:>6} {statistics.median(ta) * 1e3:>16.1f} {statistics.median(tg) * 1e3:>19.1f} "
              f"{statistics.median(ratios):>10.3f} [{min(ratios):.3f}, {max(ratios):.3f}] {extra:>14.1f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    sys.exit(main())
