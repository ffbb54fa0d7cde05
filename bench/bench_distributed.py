"""Data-parallel training throughput: samples/s of ``fit`` on 1..N MPI ranks, and how much of
each step the gradient allreduce takes.

Run one configuration per launch (ranks alternate with threads in separate processes):

    mpiexec -n 2 python bench/bench_distributed.py --threads 1
    mpiexec -n 2 python bench/bench_distributed.py --threads 1 --overlap off   # buckets after backward
    python bench/bench_distributed.py --threads 2          # 1 rank (dnnx.distributed on MPI too)

Each rank trains its own shard of ``--samples`` rows (per rank: weak scaling, the global
batch grows with the ranks) of an MLP ``--width`` wide and ``--depth`` hidden layers deep;
rank 0 prints one JSON line per round: global samples/s, the seconds spent in allreduce
(the gradient hook's and the metric merges', waiting for the slower rank included), the
gradient bytes per step, and the median time of one allreduce of that size alone (the ranks
lined up by a barrier first: the transfer itself). ``--overlap`` and ``--bucket-mb`` are
``dnnx.distributed.init``'s (default: its defaults).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

import dnnx
from dnnx import distributed as dist, layers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16384, help="rows per rank")
    ap.add_argument("--features", type=int, default=784)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128, help="per rank")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="dnnx threads per rank")
    ap.add_argument("--overlap", choices=["on", "off"], default=None,
                    help="start the bucket allreduces during backward (default: dnnx.distributed's)")
    ap.add_argument("--bucket-mb", type=float, default=None, help="bucket size (default: dnnx.distributed's)")
    args = ap.parse_args()

    dnnx.set_num_threads(args.threads)
    comm = Timed(dist.MPICommunicator())
    rank, size = dist.init(comm, threads=None, bucket_mb=args.bucket_mb,
                           overlap=None if args.overlap is None else args.overlap == "on")
    rng = np.random.default_rng(rank)
    x = rng.normal(size=(args.samples, args.features)).astype(np.float32)
    y = rng.integers(0, args.classes, size=args.samples)
    for r in range(args.rounds):
        dnnx.utils.set_random_seed(r)
        model = dnnx.Sequential([dnnx.Input(shape=(args.features,))]
                                + [layers.Dense(args.width, activation="relu") for _ in range(args.depth)]
                                + [layers.Dense(args.classes, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x[:args.batch_size], y[:args.batch_size], batch_size=args.batch_size, epochs=1, verbose=0)  # warm
        comm.seconds = 0.0
        comm.barrier()
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
        comm.barrier()
        wall = time.perf_counter() - t0
        steps = args.epochs * -(-args.samples // args.batch_size)
        params = model.count_params()
        alone = allreduce_alone_ms(comm.inner, params)  # every rank: a collective
        if rank == 0:
            print(json.dumps({
                "ranks": size, "threads": args.threads, "round": r, "params": params,
                "overlap": dist.settings()["overlap"], "bucket_mb": dist.settings()["bucket_mb"],
                "grad_bytes_per_step": params * 4, "batch_per_rank": args.batch_size,
                "samples_per_s": size * args.samples * args.epochs / wall, "wall_s": wall,
                "allreduce_s": comm.seconds, "allreduce_fraction": comm.seconds / wall,
                "allreduce_ms_per_step": 1e3 * comm.seconds / steps,
                "allreduce_alone_ms": alone,
                "cpu": dnnx.config.config_dict()["cpu_brand"] or platform.machine()}), flush=True)


def allreduce_alone_ms(comm, n: int, reps: int = 30) -> float:
    """Median milliseconds of one in-place allreduce of n float32, the ranks in step first."""
    buf = np.ones(n, dtype=np.float32)
    times = []
    for _ in range(reps):
        comm.barrier()
        t = time.perf_counter()
        comm.allreduce(buf)
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


class Timed(dist.Communicator):
    """MPI, counting the seconds spent in allreduce (and in starting and waiting for iallreduce)."""

    def __init__(self, inner):
        self.inner, self.seconds = inner, 0.0

    rank = property(lambda self: self.inner.rank)
    size = property(lambda self: self.inner.size)

    def allreduce(self, buf, op="sum"):
        t = time.perf_counter()
        self.inner.allreduce(buf, op)
        self.seconds += time.perf_counter() - t

    def iallreduce(self, buf, op="sum"):
        t = time.perf_counter()
        h = self.inner.iallreduce(buf, op)
        self.seconds += time.perf_counter() - t
        return h

    def wait_all(self, handles):
        t = time.perf_counter()
        self.inner.wait_all(handles)
        self.seconds += time.perf_counter() - t

    def test_all(self, handles):
        t = time.perf_counter()
        self.inner.test_all(handles)
        self.seconds += time.perf_counter() - t

    def broadcast(self, buf, root=0):
        self.inner.broadcast(buf, root)

    def allgather(self, value):
        return self.inner.allgather(value)

    def barrier(self):
        self.inner.barrier()

    def abort(self, code=1):
        self.inner.abort(code)


if __name__ == "__main__":
    main()
