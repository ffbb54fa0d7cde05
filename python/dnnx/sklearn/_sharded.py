"""The estimators' sharded mode: after ``dnnx.distributed.init()``, ``fit`` / ``partial_fit``
on every rank, each with its own rows, train one model (synchronous data parallelism).

- Start: the ranks agree on the estimator (parameters, call, features, outputs; a clear
  error on every rank otherwise), on ``classes_`` (the union of every rank's labels: a rank
  whose shard lacks a class still trains it) and on the seed; rank 0's weights, optimizer
  state and step count are broadcast.
- Steps: ``batch_size`` rows per rank (``'auto'``: min(200, the largest shard)); each
  epoch's order is a permutation of this rank's rows drawn from (seed, epoch, rank), so
  each step's rows, and their sample-weight sums S_r, are known before it starts. The
  gradients are averaged in the C++ step (``dnnx.distributed``'s bucketed allreduce),
  weighted by S_r / sum_r S_r; the core's penalty, which each rank's loss counts once
  (scikit-learn's objective divides it by the batch's weight), is taken off all but once:
  the step is that of one process on the union of the step's rows. Ranks whose shard ran
  out join the remaining steps with a zero contribution.
- Per epoch: the loss of the union (the per-step losses combined, the penalty once), and a
  validation score merged from sums (accuracy: weighted hits over weights; R^2: two
  passes, the union's mean first). Every rank computes the same numbers, so ``tol`` /
  ``n_iter_no_change`` / early stopping decide alike. Only rank 0 prints.
- ``lbfgs``: every rank runs scipy's L-BFGS-B on the union's loss and gradient (each
  evaluation sums the ranks' unnormalized sums, the penalty once): the same iterates.
"""

from __future__ import annotations

import json
import math
import zlib
from typing import Optional

import numpy as np

from ..distributed._training import _GOLDEN, gradient_sync


def session_for(est) -> Optional["ShardedFit"]:
    """The sharded fit of this call, or None when ``dnnx.distributed`` is not initialized."""
    from ..distributed import communicator
    comm = communicator()
    return None if comm is None else ShardedFit(comm)


def _plain(v):
    return json.loads(json.dumps(v, sort_keys=True, default=lambda o: type(o).__name__))


def _kernel_ranges(net):
    arena = net.param_arena()
    base = arena.__array_interface__["data"][0]
    out = []
    for name, p in zip(net.param_names(), net.params()):
        if name.endswith("/kernel"):
            start = (p.__array_interface__["data"][0] - base) // arena.itemsize
            out.append((start, start + p.size))
    return out


class ShardedFit:
    def __init__(self, comm):
        self.comm, self.rank, self.size = comm, comm.rank, comm.size

    # -- agreement ------------------------------------------------------------------------
    def agree(self, what: str, mine, name: str) -> list:
        """Every rank's ``mine`` (JSON-able); a ValueError on every rank when they differ."""
        everyone = self.comm.allgather(_plain(mine))
        for r, e in enumerate(everyone[1:], start=1):
            if e != everyone[0]:
                keys = [k for k in e if e.get(k) != everyone[0].get(k)] if isinstance(e, dict) else []
                detail = ", ".join(f"{k}: rank 0 has {everyone[0].get(k)!r}, rank {r} has {e.get(k)!r}"
                                   for k in keys) or f"rank 0 has {everyone[0]!r}, rank {r} has {e!r}"
                raise ValueError(f"dnnx.distributed: the ranks disagree on the {what} ({detail}). Every rank must "
                                 f"call {name} with the same estimator parameters (only the rows differ)")
        return everyone

    def checked(self, fn):
        """fn() on every rank; when it raises on one, every rank raises (no rank waits alone)."""
        try:
            out, err = fn(), None
        except Exception as e:  # re-raised below, on every rank
            out, err = None, e
        everyone = self.comm.allgather(None if err is None else f"{type(err).__name__}: {err}")
        if err is not None:
            raise err
        for r, msg in enumerate(everyone):
            if msg is not None:
                raise ValueError(f"dnnx.distributed: rank {r} failed: {msg}")
        return out

    def union_labels(self, y: np.ndarray) -> np.ndarray:
        """The labels of every rank's y (1-D y: sorted unique values; an indicator matrix:
        itself, the ranks agreeing on its width)."""
        if y.ndim == 2:
            self.agree("label columns", int(y.shape[1]), "fit")
            return y
        mine = np.unique(y).tolist()
        labels = sorted({v for part in self.comm.allgather(mine) for v in part}, key=lambda v: (str(type(v)), v))
        kind = np.asarray(y).dtype.kind
        return np.asarray(labels, dtype=y.dtype if kind in "biuf" else None)

    def seed(self, seed: int) -> int:
        return int(self.comm.allgather(int(seed))[0])

    def total(self, *values) -> np.ndarray:
        buf = np.array(values, dtype=np.float64)
        self.comm.allreduce(buf)
        return buf

    def class_counts(self, y: np.ndarray, classes: np.ndarray) -> np.ndarray:
        counts = np.array([(y == c).sum() for c in classes], dtype=np.float64)
        self.comm.allreduce(counts)
        return counts

    # -- the fit ----------------------------------------------------------------------------
    def start(self, est, data) -> None:
        """Rank 0's state on every rank; the batch size, shards and step sync."""
        net = est._net
        self.net = net
        self.shards = [int(n) for n in self.comm.allgather(int(data.n))]
        self.n_total = sum(self.shards)
        if min(self.shards) == 0:
            raise ValueError(f"dnnx.distributed: every rank needs at least one row; the shards hold {self.shards}")
        self.comm.broadcast(net.param_arena())
        for slot in net.optimizer_state():
            self.comm.broadcast(slot)
        net.iterations = int(self.comm.allgather(int(net.iterations))[0])
        net.params_changed()
        seed, counter = net.get_rng_state()
        self._seed, self._counter = int(seed), int(counter)
        net.set_rng_state((self._seed + self.rank * _GOLDEN) % 2**64, self._counter)
        self._steps_done = 0
        self.alpha = float(est.alpha)
        self._kernels = _kernel_ranges(net)
        self.sync = gradient_sync(net, self.comm, kernel_ranges=self._kernels if self.alpha > 0 else ())

    def batch_size(self, batch_size) -> int:
        from ._solvers import batch_size_for
        return batch_size_for(batch_size, max(self.shards))

    def _penalty(self) -> float:
        """The core's penalty at the current weights: alpha/2 ||W||^2 over the kernels."""
        w = self.net.param_arena()
        return 0.5 * self.alpha * sum(float(np.dot(w[lo:hi].astype(np.float64), w[lo:hi].astype(np.float64)))
                                      for lo, hi in self._kernels)

    def run_epoch(self, data, batch_size: int, shuffle: bool, epoch: int, lr: float) -> float:
        """One epoch on every rank; returns the union's mean batch loss (every rank the same)."""
        net, n = self.net, data.n
        steps = max(math.ceil(s / batch_size) for s in self.shards)
        order = np.random.default_rng([self._seed, int(epoch), self.rank]).permutation(n) if shuffle else None
        idx = [slice(s * batch_size, min(n, (s + 1) * batch_size)) if order is None
               else order[s * batch_size:(s + 1) * batch_size] for s in range(math.ceil(n / batch_size))]
        # rows and weight sums of every rank's steps
        table = np.zeros((2, self.size, steps))
        for s, i in enumerate(idx):
            rows = (i.stop - i.start) if isinstance(i, slice) else len(i)
            table[0, self.rank, s] = rows
            table[1, self.rank, s] = rows if data.sw is None else float(np.sum(data.sw[i], dtype=np.float64))
        self.comm.allreduce(table)
        rows, weights = table[0].sum(axis=0), table[1].sum(axis=0)
        contributing = (table[1] > 0).sum(axis=0)
        mine = table[1, self.rank]
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(weights > 0, mine / weights, 0.0)
            extra = np.where(weights > 0, (contributing - 1) / weights, 0.0)  # penalties counted too often, / S
        penalty = np.where(mine > 0, self.alpha * extra / np.maximum(contributing, 1), 0.0) if self.alpha > 0 else None
        self.sync.start_epoch(share, penalty)
        self.sync.attach()
        dtype = np.dtype(net.dtype)
        local, correction = 0.0, 0.0
        try:
            for s in range(steps):
                if self.alpha > 0 and contributing[s] > 1:
                    correction += rows[s] / self.n_total * extra[s] * self._penalty()
                if s < len(idx):
                    i = idx[s]
                    y = np.ascontiguousarray(data.y[i])
                    sw = None if data.sw is None else np.ascontiguousarray(data.sw[i])
                    loss = float(net.train_batch(data.rows(i, dtype), y, sw, lr)["loss"])
                    if weights[s] > 0:
                        local += rows[s] / self.n_total * mine[s] * loss / weights[s]
                else:
                    self.sync.join_step(lr)
        finally:
            self.sync.detach()
        self._steps_done += steps
        return float(self.total(local)[0]) - correction + data.offset

    def score(self, est, X, y, sw) -> float:
        """The validation score of the union of every rank's validation rows."""
        from sklearn.base import is_classifier
        from sklearn.metrics import accuracy_score
        y_pred = est._predict(X, check_input=False)
        total = float(len(y)) if sw is None else float(np.sum(sw, dtype=np.float64))
        if is_classifier(est):
            hits, weight = self.total(accuracy_score(y, y_pred, normalize=False, sample_weight=sw), total)
            return float(hits / weight) if weight > 0 else 0.0
        yt = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        yp = np.asarray(y_pred, dtype=np.float64).reshape(len(y), -1)
        w = (np.ones(len(y)) if sw is None else np.asarray(sw, dtype=np.float64))[:, None]
        first = self.total(float(not np.isfinite(yp).all()), total, *(w * yt).sum(axis=0))
        if first[0] > 0:
            return np.nan
        mean = first[2:] / first[1]
        sums = self.total(*(w * (yt - yp) ** 2).sum(axis=0), *(w * (yt - mean) ** 2).sum(axis=0))
        k = yt.shape[1]
        num, den = sums[:k], sums[k:]
        scores = np.ones(k)  # scikit-learn's force_finite: 0/0 -> 1, x/0 -> 0
        ok = den != 0
        scores[ok] = 1 - num[ok] / den[ok]
        scores[(num != 0) & ~ok] = 0.0
        return float(np.mean(scores))

    def lbfgs_sums(self, total: float, grad: np.ndarray, counted: bool, mask: np.ndarray):
        """The union's unnormalized loss and gradient (float64): the ranks' sums, the penalty once."""
        buf = np.concatenate([[total, 1.0 if counted else 0.0], grad])
        self.comm.allreduce(buf)
        extra = max(buf[1] - 1, 0.0)
        total, grad = float(buf[0]), buf[2:]
        if extra and self.alpha > 0:
            w = self.net.param_arena()[mask].astype(np.float64)
            total -= extra * 0.5 * self.alpha * float(w @ w)
            grad[mask] -= extra * self.alpha * w
        return total, grad

    def finish(self, check: bool = True) -> None:
        """The random stream continues as one; ``check``: every rank must hold the same weights."""
        net = self.net
        self.sync.detach()
        net.set_rng_state(self._seed, self._counter + self._steps_done)
        if not check:
            return
        crc = zlib.crc32(net.param_arena().tobytes())
        crcs = self.comm.allgather(int(crc))
        if len(set(crcs)) > 1:
            raise RuntimeError(f"dnnx.distributed: the weights differ across ranks after fit (checksums {crcs})")
