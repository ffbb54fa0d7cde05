"""The communicator over MPI (mpi4py): one rank per process started by ``mpiexec``.

Buffers go to MPI zero-copy (mpi4py takes NumPy arrays through the buffer protocol);
``allreduce`` and ``iallreduce`` work in place (``MPI_IN_PLACE``).
"""

from __future__ import annotations

import json
from typing import Any, List

import numpy as np

from ._comm import Communicator, _check_buffer, _check_op

_INSTALL = ('pip install "dnnx[mpi]" (it brings mpi4py and the mpich wheel, an MPI library: no system MPI '
            'needed), then start the ranks with mpiexec -n N python script.py')


def load_mpi():
    """``mpi4py.MPI``, or a RuntimeError saying what is missing and how to install it."""
    try:
        from mpi4py import MPI  # noqa: N812 (mpi4py's name)
    except ImportError as e:
        raise RuntimeError(f"dnnx.distributed needs mpi4py and an MPI library, and mpi4py could not be imported "
                           f"({e}). {_INSTALL}") from None
    except RuntimeError as e:  # mpi4py found no libmpi to load
        raise RuntimeError(f"dnnx.distributed: mpi4py found no MPI library ({e}). {_INSTALL}") from None
    return MPI


class MPICommunicator(Communicator):
    """A communicator over an ``mpi4py`` communicator (default ``MPI.COMM_WORLD``)."""

    def __init__(self, comm=None):
        self._MPI = load_mpi()
        self._comm = self._MPI.COMM_WORLD if comm is None else comm
        self._ops = {"sum": self._MPI.SUM, "max": self._MPI.MAX, "min": self._MPI.MIN}

    @property
    def rank(self) -> int:
        return self._comm.Get_rank()

    @property
    def size(self) -> int:
        return self._comm.Get_size()

    @property
    def mpi_comm(self):
        """The underlying ``mpi4py`` communicator."""
        return self._comm

    def local_size(self) -> int:
        """How many ranks share this rank's node (shared memory)."""
        node = self._comm.Split_type(self._MPI.COMM_TYPE_SHARED)
        try:
            return node.Get_size()
        finally:
            node.Free()

    def allreduce(self, buf: np.ndarray, op: str = "sum") -> None:
        _check_buffer(buf, "allreduce")
        self._comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._ops[_check_op(op, "allreduce")])

    def iallreduce(self, buf: np.ndarray, op: str = "sum"):
        _check_buffer(buf, "iallreduce")
        return self._comm.Iallreduce(self._MPI.IN_PLACE, buf, op=self._ops[_check_op(op, "iallreduce")])

    def wait_all(self, handles: List) -> None:
        if handles:
            self._MPI.Request.Waitall(handles)

    def test_all(self, handles: List) -> None:
        if handles:
            self._MPI.Request.Testall(handles)

    def broadcast(self, buf: np.ndarray, root: int = 0) -> None:
        _check_buffer(buf, "broadcast")
        self._comm.Bcast(buf, root=root)

    def allgather(self, value: Any) -> List[Any]:
        # JSON text over the wire: peers exchange plain data, never pickled objects.
        data = np.frombuffer(json.dumps(value).encode(), dtype=np.uint8)
        sizes = np.empty(self.size, dtype=np.int64)
        self._comm.Allgather(np.array([data.size], dtype=np.int64), sizes)
        out = np.empty(int(sizes.sum()), dtype=np.uint8)
        self._comm.Allgatherv(data, [out, sizes.tolist()])
        ends = np.cumsum(sizes)
        return [json.loads(out[e - s:e].tobytes().decode()) for s, e in zip(sizes, ends)]

    def barrier(self) -> None:
        self._comm.Barrier()

    def abort(self, code: int = 1) -> None:
        self._comm.Abort(code)

    def __repr__(self) -> str:
        return f"MPICommunicator(rank={self.rank}, size={self.size})"
