"""Command line: ``python -m dnnx demo``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _demo(args: argparse.Namespace) -> int:
    import dnnx

    dnnx.show_config()
    print()
    rng = np.random.default_rng(0)
    print("dnnx.matmul vs numpy.matmul (float64 reference):")
    for dtype in (np.float32, np.float64):
        for m, k, n in [(1, 784, 512), (128, 784, 512), (257, 129, 67), (512, 512, 512)]:
            a = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal((k, n)).astype(dtype)
            t = time.perf_counter()
            c = dnnx.matmul(a, b)
            dt = time.perf_counter() - t
            ref = a.astype(np.float64) @ b.astype(np.float64)
            err = float(np.max(np.abs(c - ref)) / max(1e-30, float(np.max(np.abs(ref)))))
            print(f"  {np.dtype(dtype).name:8s} ({m}x{k})@({k}x{n})  max rel err {err:.2e}  "
                  f"{2e-9 * m * n * k / dt:7.2f} GFLOP/s")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="dnnx", description="dnnx command line")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train a model on bundled data and report what it achieved")
    p.set_defaults(func=_demo)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
