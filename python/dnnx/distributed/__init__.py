"""Synchronous data-parallel training on MPI (``mpiexec -n N python train.py``).

::

    rank, size = dnnx.distributed.init()          # MPI through mpi4py (pip install "dnnx[mpi]")
    x_shard, y_shard = dnnx.distributed.shard(x), dnnx.distributed.shard(y)
    model.fit(x_shard, y_shard, batch_size=64, epochs=10)   # on every rank

After ``init()``, ``fit`` on every rank trains one model: rank 0's weights and optimizer
state are broadcast at the start, each step's gradients are averaged over the ranks
(weighted by each rank's batch size) inside the C++ step, through the gradient hook, so
every rank holds bitwise-identical weights after every step (checked at every epoch end).
Logs, validation and ``evaluate`` are merged over ranks from the metric states; callbacks
see the same logs and so decide the same; only rank 0 prints and writes files. Ranks with
fewer samples join the remaining steps of an epoch with a zero contribution (Join).

``init(communicator)`` takes any ``Communicator``; ``SingleProcessCommunicator`` is the
one-process world that runs every code path without MPI.
"""

from __future__ import annotations

import os
import sys
from typing import Optional, Tuple

import numpy as np

from ._comm import Communicator, SingleProcessCommunicator
from ._gradient_sync import DEFAULT_BUCKET_MB, DEFAULT_OVERLAP
from ._mpi import MPICommunicator

__all__ = ["Communicator", "MPICommunicator", "SingleProcessCommunicator", "communicator", "init",
           "is_initialized", "rank", "settings", "shard", "shutdown", "size"]

_active: Optional[Communicator] = None
_previous_excepthook = None
_settings = {"bucket_mb": DEFAULT_BUCKET_MB, "overlap": DEFAULT_OVERLAP}


def init(communicator: Optional[Communicator] = None, threads: str = "auto",
         abort_on_exception: bool = True, bucket_mb: Optional[float] = None,
         overlap: Optional[bool] = None) -> Tuple[int, int]:
    """Join the group of processes that trains together; returns ``(rank, size)``.

    ``communicator``: default MPI's world through mpi4py (a RuntimeError saying how to
    install it when mpi4py or an MPI library is missing). ``threads="auto"`` (unless
    ``DNNX_NUM_THREADS`` is set): a rank the launcher bound to some cores uses them all;
    unbound ranks sharing a node split its CPUs (oversubscribed threads wait on each
    other); ``None`` leaves the thread count alone. ``abort_on_exception``: an
    uncaught exception on one rank aborts every rank (the others would otherwise wait in
    a collective forever), as ``python -m mpi4py`` does. ``bucket_mb``: the gradient
    allreduce runs in buckets of layers of at least this many megabytes, from the last layer
    backwards (default ``DEFAULT_BUCKET_MB``; 0: one bucket per layer, ``inf``: one for
    all). ``overlap``: start each bucket during backward as soon as its layers' gradients are
    final (default ``DEFAULT_OVERLAP``); either way the result is the same bits.
    """
    global _active, _previous_excepthook
    if bucket_mb is not None and (isinstance(bucket_mb, bool) or not isinstance(bucket_mb, (int, float))
                                  or not bucket_mb >= 0):
        raise ValueError(f"init: bucket_mb must be a number >= 0 (megabytes); received {bucket_mb!r}")
    if overlap is not None and not isinstance(overlap, bool):
        raise TypeError(f"init: overlap must be a bool; received {overlap!r}")
    if communicator is None:
        communicator = MPICommunicator()
    elif not isinstance(communicator, Communicator):
        raise TypeError(f"init: communicator must be a dnnx.distributed.Communicator; received "
                        f"{type(communicator).__name__}")
    if threads not in ("auto", None):
        raise ValueError(f"init: threads must be 'auto' or None; received {threads!r}")
    _active = communicator
    _settings["bucket_mb"] = DEFAULT_BUCKET_MB if bucket_mb is None else float(bucket_mb)
    _settings["overlap"] = DEFAULT_OVERLAP if overlap is None else overlap
    if threads == "auto" and not os.environ.get("DNNX_NUM_THREADS") and hasattr(communicator, "local_size"):
        _share_cpus(communicator.local_size())
    if abort_on_exception and communicator.size > 1 and _previous_excepthook is None:
        _previous_excepthook = sys.excepthook

        def hook(kind, value, tb):
            _previous_excepthook(kind, value, tb)
            sys.stderr.flush()
            communicator.abort(1)
        sys.excepthook = hook
    return communicator.rank, communicator.size


def _share_cpus(local: int) -> None:
    """Threads per rank: the CPUs this rank is bound to (mpiexec -bind-to ...), or, unbound,
    the node's CPUs divided among its ranks."""
    from ..config import set_num_threads
    total = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    if usable < total:  # bound by the launcher to its own cores: use them all
        set_num_threads(usable)
    elif local > 1:
        set_num_threads(max(1, usable // local))


def shutdown() -> None:
    """Leave distributed mode: ``fit`` trains this process alone again."""
    global _active, _previous_excepthook
    _active = None
    if _previous_excepthook is not None:
        sys.excepthook = _previous_excepthook
        _previous_excepthook = None


def settings() -> dict:
    """The gradient allreduce's settings: ``{"bucket_mb": ..., "overlap": ...}``."""
    return dict(_settings)


def is_initialized() -> bool:
    return _active is not None


def communicator() -> Optional[Communicator]:
    """The communicator ``init`` set, or None."""
    return _active


def rank() -> int:
    """This process's rank (0 without ``init``)."""
    return 0 if _active is None else _active.rank


def size() -> int:
    """How many processes train together (1 without ``init``)."""
    return 1 if _active is None else _active.size


def shard(data, rank: Optional[int] = None, size: Optional[int] = None):
    """This rank's contiguous block of ``data`` (an array, or a list/dict of arrays sliced
    alike), as ``np.array_split`` cuts ``len(data)`` rows into ``size`` blocks: sizes differ
    by at most one and every row lands on exactly one rank."""
    r = globals()["rank"]() if rank is None else rank
    p = globals()["size"]() if size is None else size
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
        raise ValueError(f"shard: size must be an int >= 1; received {p!r}")
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or not 0 <= r < p:
        raise ValueError(f"shard: rank must be an int in [0, {p}); received {r!r}")
    if isinstance(data, dict):
        return {k: shard(v, r, p) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(shard(v, r, p) for v in data)
    a = data if hasattr(data, "shape") else np.asarray(data)
    if a.ndim == 0:
        raise ValueError("shard: data must have a first axis of samples; received a scalar")
    n = a.shape[0]
    lo = r * (n // p) + min(r, n % p)
    hi = lo + n // p + (1 if r < n % p else 0)
    return a[lo:hi]
