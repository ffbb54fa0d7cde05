"""dnnx.sklearn.MLPClassifier against sklearn.neural_network.MLPClassifier on the bundled digits.

    python bench/sklearn_compare.py                       # 5 rounds, 1 thread, adam + lbfgs
    python bench/sklearn_compare.py --rounds 7 --threads 2 --configs adam

Both estimators get the same settings (scikit-learn's defaults plus random_state = the
round, max_iter 200; 'lbfgs' sets solver='lbfgs') on the same float32 arrays:
``dnnx.datasets.load_digits()`` scaled to [0, 1], a fixed 75/25 split. Each fit runs in its
own process (one framework per process, cold start excluded: the timed region is ``fit``),
frameworks alternating within a round. Reported: the median fit time over rounds with its
spread (min-max), the ratio of medians, median test accuracy and epochs (n_iter_).
Threads: numpy/OpenBLAS via OPENBLAS_NUM_THREADS/OMP_NUM_THREADS (+ threadpoolctl), dnnx
via DNNX_NUM_THREADS; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed for the workers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from _machine import cpu_name

MARK = "@@RESULT "
CONFIGS = {"adam": {}, "lbfgs": {"solver": "lbfgs"}, "sgd": {"solver": "sgd", "learning_rate_init": 0.01}}


def worker(framework: str, config: str, seed: int) -> None:
    import warnings

    import numpy as np

    import dnnx

    x, y = dnnx.datasets.load_digits()
    x = (x / 16.0).astype(np.float32)
    perm = np.random.default_rng(0).permutation(len(y))
    te, tr = perm[: len(y) // 4], perm[len(y) // 4:]
    if framework == "dnnx":
        from dnnx.sklearn import MLPClassifier
    else:
        from sklearn.neural_network import MLPClassifier
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))
    except ImportError:
        limits = None
    est = MLPClassifier(random_state=seed, max_iter=200, **CONFIGS[config])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, for both
        t0 = time.perf_counter()
        est.fit(x[tr], y[tr])
        fit_s = time.perf_counter() - t0
    acc = float(est.score(x[te], y[te]))
    del limits
    print(MARK + json.dumps({"fit_s": fit_s, "accuracy": acc, "n_iter": int(est.n_iter_)}), flush=True)


def run(framework: str, config: str, seed: int, threads: int) -> dict:
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    t = str(threads)
    env.update(OPENBLAS_NUM_THREADS=t, OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, DNNX_NUM_THREADS=t)
    out = subprocess.run([sys.executable, __file__, "--worker", framework, config, str(seed)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(next(line for line in out.splitlines() if line.startswith(MARK))[len(MARK):])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configs", default="adam,lbfgs", help="comma-separated: " + ", ".join(CONFIGS))
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.worker[0], a.worker[1], int(a.worker[2]))
        return
    import dnnx
    import sklearn

    print(f"CPU: {cpu_name()}; threads: {a.threads}; rounds: {a.rounds}; dnnx {dnnx.__version__} "
          f"(kernel {dnnx._core.active_kernel()}), scikit-learn {sklearn.__version__}")
    print("digits (dnnx.datasets.load_digits, /16, float32), 75/25 split, MLPClassifier(random_state=round, "
          "max_iter=200, <config>)")
    print(f"{'config':<7} {'framework':<8} {'fit s (median)':>15} {'spread (min-max)':>18} {'accuracy':>9} "
          f"{'epochs':>7}")
    for config in a.configs.split(","):
        res = {"dnnx": [], "sklearn": []}
        for r in range(a.rounds):
            order = ("dnnx", "sklearn") if r % 2 == 0 else ("sklearn", "dnnx")
            for fw in order:
                res[fw].append(run(fw, config, r, a.threads))
        med = {}
        for fw in ("dnnx", "sklearn"):
            times = [m["fit_s"] for m in res[fw]]
            med[fw] = statistics.median(times)
            print(f"{config:<7} {fw:<8} {med[fw]:>15.3f} {min(times):>8.3f}-{max(times):<9.3f} "
                  f"{statistics.median(m['accuracy'] for m in res[fw]):>9.4f} "
                  f"{statistics.median(m['n_iter'] for m in res[fw]):>7.0f}")
        per_round = sorted(s["fit_s"] / d["fit_s"] for s, d in zip(res["sklearn"], res["dnnx"]))
        print(f"{config:<7} sklearn/dnnx fit time: {med['sklearn'] / med['dnnx']:.1f}x (ratio of medians; "
              f"per-round ratios {per_round[0]:.1f}-{per_round[-1]:.1f}x)")


if __name__ == "__main__":
    main()
