"""What ``fit`` and ``evaluate`` do differently after ``dnnx.distributed.init()``.

The trainer asks ``fit_session`` for a ``FitSession`` (None when distributed mode is off)
and calls it at a few points; everything distributed lives here:

- start: the ranks agree on the model and the fit arguments (a clear error on every rank
  when they do not), exchange their shard sizes, and take rank 0's weights, optimizer
  state and step count;
- each step (inside the C++ step, through the gradient hook): the trainable part of the
  gradient arena is scaled by this rank's share of the step's samples and summed over the
  ranks in place, in buckets of layers in reverse layer order, started during backward
  where that pays (``_gradient_sync.py``); moving statistics of BatchNormalization layers
  are averaged the same way;
- each epoch: ranks with fewer batches than the longest shard join the remaining steps
  with a zero contribution (Join); the logs are merged from the metric states (sums over
  ranks, then the ratios); a stop is agreed (any rank asks: every rank stops) and the
  weights are checked to be bitwise identical on every rank.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from typing import Callable, Dict, List, Optional

import numpy as np

from .. import callbacks as _callbacks
from ._comm import Communicator
from ._gradient_sync import GradientSync

_GOLDEN = 0x9E3779B97F4A7C15  # rank r shuffles and draws dropout masks from seed + r * golden
_RANK0_ONLY = (_callbacks.ModelCheckpoint, _callbacks.CSVLogger, _callbacks.ProgbarLogger)
_QUIET = (_callbacks.EarlyStopping, _callbacks.ReduceLROnPlateau, _callbacks.LearningRateScheduler)


def active() -> Optional[Communicator]:
    from . import communicator
    return communicator()


def gradient_sync(net, comm: Communicator, stats=(), kernel_ranges=()) -> GradientSync:
    """The step's gradient average for ``net``, with the bucket size and overlap ``init`` set."""
    from . import settings
    opts = settings()
    return GradientSync(net, comm, opts["bucket_mb"], opts["overlap"], stats, kernel_ranges)


def _plain(v):
    return json.loads(json.dumps(v, sort_keys=True, default=lambda o: type(o).__name__))


def fingerprint(model) -> Dict:
    """What every rank must agree on about the model (values comparable across processes)."""
    net = model._net
    shapes = [list(v.shape) for v in net.params()]
    return {
        "layers": [type(layer).__name__ for layer in model._graph.layers],
        "parameters": int(sum(int(np.prod(s)) for s in shapes)),
        "weight shapes": shapes,
        "dtype": str(model.dtype),
        "trainable": [bool(t) for t in net.param_trainable()] + [bool(t) for t in net.layer_trainable()],
        "optimizer": _plain(model.optimizer.spec()),
        "metrics": list(model.metrics_names),
        # host-stage preprocessing (lookups, discretization) keeps its state outside the arena:
        # the ranks must have adapted it alike
        "preprocessing": hashlib.sha256(json.dumps(
            [_plain(n.layer.get_config()) for n in getattr(model._graph, "host_nodes", [])],
            sort_keys=True).encode()).hexdigest()[:16],
    }


def _short(v) -> str:
    s = json.dumps(v)
    return s if len(s) <= 160 else s[:157] + "..."


def _check_agreement(everyone: List[Dict], keys: List[str], what: str) -> None:
    for key in keys:
        for r, e in enumerate(everyone[1:], start=1):
            if e[key] != everyone[0][key]:
                raise ValueError(
                    f"dnnx.distributed: the ranks disagree on the {what} ({key}): rank 0 has {_short(everyone[0][key])}, "
                    f"rank {r} has {_short(e[key])}. Every rank must build and compile the same model and call "
                    f"fit/evaluate with the same arguments (only the data differ)")


def _offset(view: np.ndarray, base: np.ndarray) -> int:
    return (view.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // base.itemsize


def _weights_crc(net) -> int:
    crc = zlib.crc32(net.param_arena().tobytes())
    for slot in net.optimizer_state():
        crc = zlib.crc32(slot.tobytes(), crc)
    return crc


class FitSession:
    """One distributed ``fit``: see the module docstring for what happens when."""

    def __init__(self, model, comm: Communicator, n_train: int, n_val: Optional[int], batch_size: int,
                 fit_args: Dict):
        self.model, self.comm = model, comm
        self.rank, self.size = comm.rank, comm.size
        net = model._net
        seed, counter = net.get_rng_state()
        mine = dict(fingerprint(model), fit=_plain(fit_args), n_train=int(n_train),
                    n_val=None if n_val is None else int(n_val), iterations=int(net.iterations),
                    seed=str(seed), counter=int(counter), log_state=int(net.log_state().size))
        everyone = comm.allgather(mine)
        _check_agreement(everyone, ["layers", "parameters", "weight shapes", "dtype", "trainable", "optimizer",
                                    "metrics", "preprocessing"], "model")
        _check_agreement([e["fit"] for e in everyone], sorted(mine["fit"]), "fit arguments")
        self.shards = [e["n_train"] for e in everyone]
        if sum(self.shards) == 0:
            raise ValueError("fit: x is empty on every rank")
        self.n_local = int(n_train)
        self.steps = max(math.ceil(n / batch_size) for n in self.shards)
        self.local_steps = math.ceil(self.n_local / batch_size)
        # This rank's share of each step's samples: the gradient average is weighted by samples.
        per_rank = np.array([[min(max(n - s * batch_size, 0), batch_size) for s in range(self.steps)]
                             for n in self.shards], dtype=np.float64)
        self._share = per_rank[self.rank] / per_rank.sum(axis=0)
        self._state_size = everyone[0]["log_state"]
        # Rank 0's weights, optimizer state, step count and random stream.
        comm.broadcast(net.param_arena())
        for slot in net.optimizer_state():
            comm.broadcast(slot)
        net.iterations = everyone[0]["iterations"]
        net.params_changed()
        self._seed, self._counter = int(everyone[0]["seed"]), everyone[0]["counter"]
        net.set_rng_state((self._seed + self.rank * _GOLDEN) % 2**64, self._counter)
        self._epochs = 0
        # BatchNormalization's moving statistics are the non-trainable tensors of trainable
        # BatchNormalization layers: averaged after the gradients.
        views, trainable = net.params(), net.param_trainable()
        stats: List[np.ndarray] = []
        for layer in model._graph.core_layers:
            first, n = model._slices[id(layer)]
            if type(layer).__name__ == "BatchNormalization" and layer.trainable:
                stats += [views[i] for i in range(first, first + n) if not trainable[i]]
        self.sync = gradient_sync(net, comm, stats)
        self.stop_requested = False
        self._quieted: List = []
        del views

    # -- callbacks and output -------------------------------------------------------------
    def verbose(self, verbose: int) -> int:
        return verbose if self.rank == 0 else 0

    def callbacks(self, cbs: List) -> List:
        """Rank 0 keeps every callback; other ranks drop those that write files or print
        progress, and dnnx's other callbacks do not print there (restored by close)."""
        if self.rank == 0:
            return cbs
        for c in cbs:
            if isinstance(c, _QUIET) and getattr(c, "verbose", 0):
                self._quieted.append((c, c.verbose))
                c.verbose = 0
        return [c for c in cbs if not isinstance(c, _RANK0_ONLY)]

    def train_epoch(self, cx, cy, sw, batch_size: int, shuffle: bool, epoch: int, lrs: np.ndarray,
                    on_batch: Optional[Callable], every: int) -> Dict[str, float]:
        """The local epoch (C++, the hook averaging every step), then the Join steps, then the
        logs merged over ranks."""
        net = self.model._net
        wrapped = None
        if on_batch is not None:
            def wrapped(batch, logs):
                # A stop asked for inside an epoch is agreed at its end (end_epoch): a rank
                # leaving early would leave the others waiting in the next allreduce.
                if on_batch(batch, logs):
                    self.stop_requested = True
                return False
        sync = self.sync
        sync.start_epoch(self._share)
        sync.attach()
        try:
            if self.n_local > 0:
                net.train_epoch(cx, cy, sw, batch_size, shuffle, epoch, lrs[:self.local_steps], wrapped, every)
                state = net.log_state()
            else:
                state = np.zeros(self._state_size)
            if sync.step != self.local_steps:
                raise RuntimeError(f"internal error: {sync.step} gradient hooks for {self.local_steps} steps")
            for s in range(self.local_steps, self.steps):  # Join: a zero contribution, the same update
                sync.join_step(lrs[s])
        finally:
            sync.detach()
        self._epochs += 1
        return merge_logs(net, self.comm, state)

    def end_epoch(self, stop: bool) -> bool:
        """The agreed stop decision; checks that every rank holds the same weights."""
        everyone = self.comm.allgather([bool(stop or self.stop_requested), _weights_crc(self.model._net)])
        crcs = [e[1] for e in everyone]
        if len(set(crcs)) > 1:
            raise RuntimeError(f"dnnx.distributed: the weights differ across ranks after epoch {self._epochs} "
                               f"(checksums {crcs}); the allreduce gave different results on different ranks")
        self.stop_requested = False
        return any(e[0] for e in everyone)

    def close(self) -> None:
        net = self.model._net
        self.sync.detach()
        net.set_rng_state(self._seed, self._counter + self._epochs * self.steps)
        for c, v in self._quieted:
            c.verbose = v
        self._quieted = []


def merge_logs(net, comm: Communicator, state: np.ndarray) -> Dict[str, float]:
    """Sum the metric states over ranks; the logs of the union of every rank's data."""
    state = np.ascontiguousarray(state, dtype=np.float64)
    comm.allreduce(state)
    return dict(net.logs_from_state(state))


def _merged_evaluate(net, comm, cx, cy, sw, batch_size, n, state_size) -> Dict[str, float]:
    if n > 0:
        net.evaluate(cx, cy, sw, batch_size)
        state = net.log_state()
    else:
        state = np.zeros(state_size)
    return merge_logs(net, comm, state)


def verbose(verbose: int) -> int:
    """Progress is shown on rank 0 only."""
    comm = active()
    return verbose if comm is None or comm.rank == 0 else 0


def fit_session(model, n_train: int, n_val: Optional[int], batch_size: int, fit_args: Dict) -> Optional[FitSession]:
    """The session for this fit, or None when ``dnnx.distributed`` is not initialized."""
    comm = active()
    return None if comm is None else FitSession(model, comm, n_train, n_val, batch_size, fit_args)


def evaluate(model, cx, cy, sw, batch_size: int, n: int) -> Optional[Dict[str, float]]:
    """``evaluate`` merged over ranks, or None when ``dnnx.distributed`` is not initialized."""
    comm = active()
    if comm is None:
        return None
    net = model._net
    mine = dict(fingerprint(model), log_state=int(net.log_state().size))
    everyone = comm.allgather(mine)
    _check_agreement(everyone, ["layers", "parameters", "weight shapes", "dtype", "metrics", "preprocessing"], "model")
    return _merged_evaluate(net, comm, cx, cy, sw, batch_size, n, mine["log_state"])
