"""The communicator interface data-parallel training runs on, and its single-process stand-in.

A communicator is what ``fit`` needs from the processes it trains with: this process's
``rank`` among ``size`` processes, an in-place ``allreduce`` (and its non-blocking form
``iallreduce`` / ``wait_all``) and ``broadcast`` of NumPy buffers (gradients, parameters, metric states) and an ``allgather`` of small JSON-able
values (shard sizes, model fingerprints, errors). ``MPICommunicator`` (``_mpi.py``) is the
real one; ``SingleProcessCommunicator`` is the one-process world (every collective is the
identity), so every code path of distributed training runs without MPI.
"""

from __future__ import annotations

import json
from typing import Any, List

import numpy as np

_OPS = ("sum", "max", "min")


def _check_buffer(buf, what: str) -> np.ndarray:
    if not isinstance(buf, np.ndarray):
        raise TypeError(f"{what}: buf must be a NumPy array; received {type(buf).__name__}")
    if not buf.flags.c_contiguous or not buf.flags.writeable:
        raise ValueError(f"{what}: buf must be a writable C-contiguous array (it is reduced in place)")
    return buf


def _check_op(op: str, what: str) -> str:
    if op not in _OPS:
        raise ValueError(f"{what}: op must be one of {list(_OPS)}; received {op!r}")
    return op


class Communicator:
    """What data-parallel training needs from a group of processes (override every method)."""

    @property
    def rank(self) -> int:
        raise NotImplementedError

    @property
    def size(self) -> int:
        raise NotImplementedError

    def allreduce(self, buf: np.ndarray, op: str = "sum") -> None:
        """Reduce ``buf`` elementwise over all ranks, in place; every rank gets the same bits."""
        raise NotImplementedError

    def iallreduce(self, buf: np.ndarray, op: str = "sum"):
        """Start ``allreduce(buf, op)``; returns a handle for ``wait_all`` (``buf`` must not be
        touched until then). This default reduces at once (a communicator without
        non-blocking collectives still works; it only does not overlap)."""
        self.allreduce(buf, op)
        return None

    def wait_all(self, handles: List) -> None:
        """Complete every ``iallreduce`` handle."""

    def test_all(self, handles: List) -> None:
        """Let pending ``iallreduce`` calls progress (MPI moves them on only inside its calls)."""

    def broadcast(self, buf: np.ndarray, root: int = 0) -> None:
        """Overwrite ``buf`` on every rank with root's ``buf``."""
        raise NotImplementedError

    def allgather(self, value: Any) -> List[Any]:
        """Every rank's ``value`` (JSON-able: numbers, strings, lists, dicts), in rank order."""
        raise NotImplementedError

    def barrier(self) -> None:
        raise NotImplementedError

    def abort(self, code: int = 1) -> None:
        """End every process of the group (used when one rank fails and the others would wait)."""
        raise NotImplementedError


class SingleProcessCommunicator(Communicator):
    """A world of one process: collectives return their input (after the same checks)."""

    @property
    def rank(self) -> int:
        return 0

    @property
    def size(self) -> int:
        return 1

    def allreduce(self, buf: np.ndarray, op: str = "sum") -> None:
        _check_buffer(buf, "allreduce")
        _check_op(op, "allreduce")

    def broadcast(self, buf: np.ndarray, root: int = 0) -> None:
        _check_buffer(buf, "broadcast")
        if root != 0:
            raise ValueError(f"broadcast: root must be a rank in [0, 1); received {root!r}")

    def allgather(self, value: Any) -> List[Any]:
        return [json.loads(json.dumps(value))]  # the same round trip as the MPI one

    def barrier(self) -> None:
        pass

    def abort(self, code: int = 1) -> None:
        raise SystemExit(code)

    def __repr__(self) -> str:
        return "SingleProcessCommunicator(rank=0, size=1)"
