"""dnnx.matmul against numpy.matmul (OpenBLAS/MKL), side by side, as GFLOP/s and ratio.

Each framework runs in its own subprocess (so thread pools and caches do not interfere),
the two alternate round by round, and every figure is the median over rounds of the
median per-call time inside a round. Run from an environment where dnnx is installed:

    python bench/bench_matmul.py                  # 1 thread and all threads, float32
    python bench/bench_matmul.py --threads 1 --dtype float64 --rounds 5

Threads: numpy via OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS (and
threadpoolctl when installed), dnnx via DNNX_NUM_THREADS. OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE are removed from the benchmark subprocesses' environment only (they
make OpenBLAS pick slower code paths on some machines).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# (label, m, n, k, op): op "NN" = a @ b, "NT" = a @ w.T (w stored (n, k)), "TN" = x.T @ b
# (x stored (k, m)) -- the dense forward, input-gradient and weight-gradient products.
SQUARE = [(f"square {s}", s, s, s, "NN") for s in (64, 128, 256, 512, 1024, 2048)]
MLP = [
    ("fwd 128x784 @ 784x512", 128, 512, 784, "NN"),
    ("fwd 128x512 @ 512x256", 128, 256, 512, "NN"),
    ("fwd 128x256 @ 256x10", 128, 10, 256, "NN"),
    ("dX 128x512 @ (784x512)^T", 128, 784, 512, "NT"),
    ("dX 128x256 @ (512x256)^T", 128, 512, 256, "NT"),
    ("dX 128x10 @ (256x10)^T", 128, 256, 10, "NT"),
    ("dW (128x784)^T @ 128x512", 784, 512, 128, "TN"),
    ("dW (128x512)^T @ 128x256", 512, 256, 128, "TN"),
    ("dW (128x256)^T @ 128x10", 256, 10, 128, "TN"),
]
BATCH = [(f"batch {b} @ 784x512", b, 512, 784, "NN") for b in (1, 8, 32)]
SHAPES = MLP + BATCH + SQUARE


def select(patterns: list[str] | None) -> list[tuple]:
    """The shapes whose label contains any of the given substrings (all without any)."""
    if not patterns:
        return SHAPES
    chosen = [s for s in SHAPES if any(p in s[0] for p in patterns)]
    if not chosen:
        raise SystemExit(f"--shapes {patterns} matches none of: {[s[0] for s in SHAPES]}")
    return chosen


def worker(framework: str, threads: int, dtype: str, min_time: float, shapes: list[tuple]) -> None:
    import numpy as np

    if framework == "numpy":
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(threads)
        except ImportError:
            pass  # the *_NUM_THREADS variables set by the parent apply
        fn = np.matmul
    else:
        import dnnx

        dnnx.set_num_threads(threads)
        fn = dnnx.matmul
    rng = np.random.default_rng(0)
    results = {}
    for label, m, n, k, op in shapes:
        a = rng.standard_normal((k, m) if op == "TN" else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if op == "NT" else (k, n)).astype(dtype)
        a = a.T if op == "TN" else a  # transposed views: no copy in either framework
        b = b.T if op == "NT" else b
        out = np.empty((m, n), dtype)
        fn(a, b, out=out)
        t0 = time.perf_counter()
        fn(a, b, out=out)
        once = max(time.perf_counter() - t0, 1e-7)
        number = max(1, int(2e-3 / once))  # calls per sample: each sample lasts >= ~2 ms
        samples = []
        deadline = time.perf_counter() + min_time
        while len(samples) < 5 or (time.perf_counter() < deadline and len(samples) < 50):
            t0 = time.perf_counter()
            for _ in range(number):
                fn(a, b, out=out)
            samples.append((time.perf_counter() - t0) / number)
        results[label] = statistics.median(samples)
    print(json.dumps(results))


def run_worker(framework: str, threads: int, dtype: str, min_time: float, patterns: list[str] | None) -> dict:
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    t = str(threads)
    if framework == "numpy":
        env.update(OPENBLAS_NUM_THREADS=t, OMP_NUM_THREADS=t, MKL_NUM_THREADS=t)
    else:
        env.update(DNNX_NUM_THREADS=t)
    cmd = [sys.executable, __file__, "--worker", framework, "--threads", t, "--dtype", dtype,
           "--min-time", str(min_time)] + (["--shapes", *patterns] if patterns else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="*", help="thread counts (default: 1 and all usable CPUs)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds per framework")
    p.add_argument("--min-time", type=float, default=0.05, help="seconds of samples per shape and round")
    p.add_argument("--shapes", nargs="*", help="only shapes whose label contains one of these, e.g. 'square 64' fwd")
    p.add_argument("--worker", choices=["numpy", "dnnx"], help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.threads[0], args.dtype, args.min_time, select(args.shapes))
        return
    ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    thread_counts = args.threads or sorted({1, ncpu})
    shapes = select(args.shapes)
    for threads in thread_counts:
        times = {"numpy": [], "dnnx": []}
        for r in range(args.rounds):
            order = ("numpy", "dnnx") if r % 2 == 0 else ("dnnx", "numpy")
            for fw in order:
                times[fw].append(run_worker(fw, threads, args.dtype, args.min_time, args.shapes))
        print(f"\n{args.dtype}, {threads} thread(s), median of {args.rounds} alternating rounds")
        print(f"{'shape':<28} {'op':>3} {'numpy GF/s':>11} {'dnnx GF/s':>10} {'dnnx/numpy':>11}")
        ratios = []
        for label, m, n, k, op in shapes:
            flops = 2.0 * m * n * k
            t_np = statistics.median(t[label] for t in times["numpy"])
            t_dx = statistics.median(t[label] for t in times["dnnx"])
            ratios.append(t_np / t_dx)
            print(f"{label:<28} {op:>3} {flops / t_np * 1e-9:>11.1f} {flops / t_dx * 1e-9:>10.1f} "
                  f"{t_np / t_dx:>11.2f}")
        print(f"{'min ratio':<28} {'':>3} {'':>11} {'':>10} {min(ratios):>11.2f}")


if __name__ == "__main__":
    main()
