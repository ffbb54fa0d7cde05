"""Each step's gradient average over the ranks: buckets of layers, reverse layer order,
started during backward (overlap) or after it.

The trainable part of the gradient arena is cut into buckets of adjacent layers, from the
last layer backwards (the order backward finishes them), each at least ``bucket_mb``
(PyTorch DDP's ``bucket_cap_mb``, Horovod's fusion threshold). With ``overlap``, the
core calls back as each layer's gradient is final and a bucket's non-blocking allreduce
(``Communicator.iallreduce`` on the zero-copy arena view) starts as soon as its layers are
all final, while backward computes the earlier layers; the gradient hook (after backward,
before the update) waits for all of them. Without ``overlap`` the hook starts every bucket
at once and waits. The buckets are started in the same order on every rank, each is scaled
by this rank's share of the step's samples first, and the sum is elementwise: overlap
changes no bit. With two ranks (a + b) no bucket size does either; with more, MPI may pick
its reduction order by message size, so bucket sizes may differ in the last bits (every
rank still gets the same bits: the epoch-end checksum checks).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from ._comm import Communicator

# The bucket size: DDP's default is 25 MB for models of 10^7..10^9 weights; dnnx's MLPs
# hold 10^4..10^7, so 1 MB gives a few buckets for a large MLP (4 MB of float32 gradients:
# 4 buckets, as DDP's 25 MB gives ResNet-50) and one for a small one, where one message is
# cheapest.
DEFAULT_BUCKET_MB = 1.0
# Whether buckets start during backward. Measured on one 2-core machine (README, "Overlap"):
# the same samples/s as after backward within the noise, the callbacks ~1% of a step; on
# by default as it never measured worse, gives the same bits and pays where the transfer
# runs on a network card while the cores compute.
DEFAULT_OVERLAP = True


class Bucket:
    """Layers whose gradients are adjacent in the arena: [lo, hi), last layer first."""

    __slots__ = ("lo", "hi", "layers", "kernels")

    def __init__(self, lo: int, hi: int, layer: int):
        self.lo, self.hi, self.layers = lo, hi, [layer]
        self.kernels: List[Tuple[int, int]] = []  # (lo, hi) ranges of penalized weights inside


def plan_buckets(ranges: Sequence[Tuple[int, int]], itemsize: int, bucket_mb: float) -> List[Bucket]:
    """Buckets over the layers' gradient ranges (offset, size), in reverse layer order: a
    bucket takes layers until it holds ``bucket_mb`` megabytes (10^6 bytes), or until the
    next layer's range is not adjacent."""
    cap = bucket_mb * 1e6
    buckets: List[Bucket] = []
    for layer in sorted((i for i, (_, n) in enumerate(ranges) if n > 0), key=lambda i: -ranges[i][0]):
        off, n = ranges[layer]
        last = buckets[-1] if buckets else None
        if last is not None and last.lo == off + n and (last.hi - last.lo) * itemsize < cap:
            last.lo = off
            last.layers.append(layer)
        else:
            buckets.append(Bucket(off, off + n, layer))
    return buckets


class GradientSync:
    """The gradient hook (and, with overlap, the per-layer callback) of one network.

    ``start_epoch(shares, penalty)`` gives each step's share of this rank (its samples over
    the step's samples over all ranks) and, optionally, a coefficient c per step: c times
    the penalized weights (``kernel_ranges``) are taken off this rank's gradient before the
    sum (a loss whose penalty each rank counted, divided by its own weight: scikit-learn's).
    ``stats`` are arrays averaged the same way after the gradients (BatchNormalization's
    moving statistics)."""

    def __init__(self, net, comm: Communicator, bucket_mb: float, overlap: bool, stats: Sequence[np.ndarray] = (),
                 kernel_ranges: Sequence[Tuple[int, int]] = ()):
        self.net, self.comm, self.overlap = net, comm, bool(overlap)
        self._grads = net.grad_arena()
        self._params = net.param_arena()
        self._dtype = self._grads.dtype.type
        self.buckets = plan_buckets(net.layer_grad_ranges(), self._grads.itemsize, bucket_mb)
        self._bucket_of = {layer: b for b, bk in enumerate(self.buckets) for layer in bk.layers}
        for bk in self.buckets:
            bk.kernels = [(max(lo, bk.lo), min(hi, bk.hi)) for lo, hi in kernel_ranges if lo < bk.hi and hi > bk.lo]
        self._stats = list(stats)
        self._stats_buf = np.zeros(sum(v.size for v in self._stats), dtype=self._grads.dtype)
        self._zeros = np.zeros(self._grads.size, dtype=self._grads.dtype)
        self.shares = np.ones(0)
        self.penalty: Optional[np.ndarray] = None
        self.step = 0
        self._new_step()

    def _new_step(self) -> None:
        self._left = [len(bk.layers) for bk in self.buckets]
        self._next = 0
        self._handles: List = []

    def start_epoch(self, shares: np.ndarray, penalty: Optional[np.ndarray] = None) -> None:
        self.shares, self.penalty, self.step = shares, penalty, 0
        self._new_step()

    def attach(self) -> None:
        self.net.set_gradient_hook(self.hook)
        # One bucket has nothing to overlap with (it is complete when backward is): no callbacks.
        self.net.set_layer_gradient_callback(self.on_layer if self.overlaps else None)

    @property
    def overlaps(self) -> bool:
        """Whether buckets start during backward: overlap asked for, and more than one bucket."""
        return self.overlap and len(self.buckets) > 1

    def detach(self) -> None:
        self.net.set_gradient_hook(None)
        self.net.set_layer_gradient_callback(None)

    # -- the step ----------------------------------------------------------------------------
    def _start(self, grads: np.ndarray, b: int) -> None:
        bk = self.buckets[b]
        g = grads[bk.lo:bk.hi]
        share = self.shares[self.step]
        if share != 1.0:
            np.multiply(g, self._dtype(share), out=g)
        c = 0.0 if self.penalty is None else float(self.penalty[self.step])
        if c != 0.0:
            for lo, hi in bk.kernels:
                g[lo - bk.lo:hi - bk.lo] -= self._dtype(c) * self._params[lo:hi]
        self._handles.append(self.comm.iallreduce(g))
        self._next = b + 1

    def on_layer(self, layer: int) -> None:
        """A layer's gradient is final (called from backward): start every bucket now complete."""
        b = self._bucket_of.get(layer)
        if b is None:
            return
        self._left[b] -= 1
        started = False
        while self._next < len(self.buckets) and self._left[self._next] == 0:
            self._start(self._grads, self._next)
            started = True
        if not started and self._handles:
            self.comm.test_all(self._handles)  # MPI moves non-blocking collectives on inside its calls

    def hook(self, grads: np.ndarray) -> None:
        """After backward, before the update: the rest of the buckets, then wait for all."""
        for b in range(self._next, len(self.buckets)):
            self._start(grads, b)
        self.comm.wait_all(self._handles)
        if self._stats:
            buf = self._stats_buf
            np.concatenate([v.ravel() for v in self._stats], out=buf)
            buf *= self._dtype(self.shares[self.step])
            self.comm.allreduce(buf)
            k = 0
            for v in self._stats:
                v.ravel()[...] = buf[k:k + v.size]
                k += v.size
        self.step += 1
        self._new_step()

    def join_step(self, lr: float) -> None:
        """A step this rank has no samples for: a zero contribution, the same update."""
        g = self._zeros
        g[...] = 0
        self.hook(g)
        self.net.apply_gradients(g, float(lr))
