"""Data given batch by batch: Python generators, any iterable of ``(x, y[, sample_weight])``
batches (a torch ``DataLoader``, a ``tf.data.Dataset`` through iteration) and
``dnnx.utils.PyDataset`` (Keras 3's ``keras.utils.PyDataset``).

``fit``/``evaluate``/``predict`` run one C++ step per batch on such data (the per-batch
form of the whole-epoch path, see ``_trainer``). How epochs are cut from the stream follows
Keras 3's ``EpochIterator``:

* without ``steps_per_epoch`` an epoch is one pass: to exhaustion for an iterator, ``len()``
  batches for a PyDataset or a sized iterable; every epoch starts a new pass (a generator,
  once exhausted, has nothing more to give: an epoch that gets no batch at all warns
  "Your input ran out of data" and stops training);
* with ``steps_per_epoch`` the stream goes on across epochs: each epoch takes the next
  ``steps_per_epoch`` batches; when a sized source reaches its end the epoch stops there
  (with Keras's warning) and the next epoch starts a new pass; an iterator that runs out
  ends its epoch with the warning.
"""

from __future__ import annotations

import concurrent.futures
import warnings
from typing import Iterator, Optional

import numpy as np

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or generator can "
           "generate at least `steps_per_epoch * epochs` batches. You may need to use the `.repeat()` function "
           "when building your dataset.")


class PyDataset:
    """Base class for batch datasets (Keras 3 ``keras.utils.PyDataset`` semantics).

    Subclasses implement ``__getitem__(index)`` (batch ``index``: ``x``, ``(x,)``, ``(x, y)``
    or ``(x, y, sample_weight)``) and ``__len__`` (the number of batches; a dataset without
    ``__len__`` is infinite and needs ``steps_per_epoch``). ``on_epoch_begin`` and
    ``on_epoch_end`` are called around every epoch. With ``workers > 1`` batches are
    fetched ahead by that many threads (in order, at most ``max_queue_size`` ahead);
    ``use_multiprocessing`` is not supported.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
            raise ValueError(f"PyDataset: workers must be a non-negative integer. Received: workers={workers!r}")
        if isinstance(max_queue_size, bool) or not isinstance(max_queue_size, (int, np.integer)) \
                or max_queue_size < 1:
            raise ValueError(f"PyDataset: max_queue_size must be a positive integer. Received: "
                             f"max_queue_size={max_queue_size!r}")
        if use_multiprocessing:
            raise ValueError("PyDataset: use_multiprocessing=True is not supported by dnnx; use workers=N "
                             "(threads) instead")
        self._workers = int(workers)
        self._use_multiprocessing = False
        self._max_queue_size = int(max_queue_size)

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)  # a subclass that did not call super().__init__()

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__(index)")

    @property
    def num_batches(self) -> Optional[int]:
        """``len(self)``, or None for an infinite dataset (no ``__len__``)."""
        if type(self).__len__ is PyDataset.__len__:
            return None
        return len(self)

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} has no __len__: it is infinite (pass steps_per_epoch)")

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


def is_batch_source(x) -> bool:
    """Whether ``x`` is given batch by batch (not arrays, lists/tuples/dicts of arrays or
    array-likes such as a DataFrame or a torch tensor)."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(x, "__array__"):
        return False
    if isinstance(x, PyDataset):
        return True
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def unpack(batch, what: str):
    """``(x, y, sample_weight)`` from one batch (Keras's unpack_x_y_sample_weight)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if len(batch) == 1:
        return batch[0], None, None
    if len(batch) == 2:
        return batch[0], batch[1], None
    if len(batch) == 3:
        return batch
    raise ValueError(f"{what}: each batch must be x, (x,), (x, y) or (x, y, sample_weight); received a tuple of "
                     f"{len(batch)} elements")


def to_numpy(value):
    """Arrays from a batch's x, y or weights (torch tensors and the like go through
    ``np.asarray``; lists and dicts keep their structure)."""
    if value is None or isinstance(value, np.ndarray):
        return value
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_numpy(v) for v in value]
    detach = getattr(value, "detach", None)  # torch: a tensor that requires grad
    if callable(detach) and hasattr(value, "numpy"):
        value = detach().cpu().numpy()
    elif hasattr(value, "numpy") and callable(value.numpy):  # tf / jax arrays
        value = value.numpy()
    return np.asarray(value)


class _PyDatasetPass:
    """One pass over a PyDataset: its batches in (shuffled) index order, fetched ahead by
    ``workers`` threads when asked."""

    def __init__(self, ds: PyDataset, order):
        self._ds = ds
        self._order = iter(order)
        workers = ds.workers
        self._pool = concurrent.futures.ThreadPoolExecutor(workers) if workers > 1 else None
        self._ahead = []
        if self._pool is not None:
            for _ in range(ds.max_queue_size):
                if not self._submit():
                    break

    def _submit(self) -> bool:
        i = next(self._order, None)
        if i is None:
            return False
        self._ahead.append(self._pool.submit(self._ds.__getitem__, i))
        return True

    def __iter__(self):
        return self

    def __next__(self):
        if self._pool is None:
            i = next(self._order, None)
            if i is None:
                raise StopIteration
            return self._ds[i]
        if not self._ahead:
            self.close()
            raise StopIteration
        fut = self._ahead.pop(0)
        self._submit()
        return fut.result()

    def close(self) -> None:
        if self._pool is not None:
            for f in self._ahead:
                f.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None
            self._ahead = []


class BatchStream:
    """Epochs of batches from one source (see the module docstring for how they are cut)."""

    def __init__(self, source, steps: Optional[int], what: str, shuffle: bool = False, seed: int = 0):
        self.source = source
        self.what = what
        self.steps = steps
        self._shuffle = bool(shuffle) and isinstance(source, PyDataset)
        self._seed = seed
        self._passes = 0
        self.num_batches: Optional[int] = None
        if isinstance(source, PyDataset):
            self.num_batches = source.num_batches
            if self.num_batches is None and steps is None:
                raise ValueError(f"{what}: the PyDataset {type(source).__name__} has no __len__ (it is infinite); "
                                 f"pass steps")
        elif iter(source) is not source and hasattr(source, "__len__"):
            self.num_batches = len(source)  # e.g. a torch DataLoader
        self._it: Optional[Iterator] = None
        self._seen = 0

    @property
    def steps_hint(self) -> Optional[int]:
        """Batches per epoch when known up front (the progress bar's total)."""
        return self.steps or self.num_batches

    def _new_pass(self):
        self.close()
        self._passes += 1
        src = self.source
        if isinstance(src, PyDataset):
            if self.num_batches is None:
                import itertools
                return _PyDatasetPass(src, itertools.count())
            order = np.arange(self.num_batches)
            if self._shuffle:  # Keras shuffles a PyDataset's batch order every pass
                order = np.random.default_rng([self._seed, self._passes]).permutation(self.num_batches)
            return _PyDatasetPass(src, (int(i) for i in order))
        return iter(src)  # an iterator (a generator) is its own, single, pass

    def epoch(self):
        """The batches of the next epoch (a generator). Sets ``ran_out`` when the data ran out
        before the epoch's steps were done."""
        self.ran_out = False
        src = self.source
        if isinstance(src, PyDataset):
            src.on_epoch_begin()
        try:
            steps = self.steps or self.num_batches
            if not steps:  # an iterator: one pass to its end
                self._it = self._new_pass()
                yield from self._it
                self._it = None
                return
            if self._it is None or self.steps is None:
                self._it = self._new_pass()
                self._seen = 0
            for _ in range(steps):
                if self.num_batches and self._seen >= self.num_batches:
                    if self.steps:
                        self._warn()
                    break
                try:
                    batch = next(self._it)
                except StopIteration:
                    if self.num_batches is None:
                        self.num_batches = self._seen
                    self._warn()
                    self._it = None
                    return
                self._seen += 1
                yield batch
            if self.num_batches and self._seen >= self.num_batches:
                self._it = None
        finally:
            if not (self.steps or self.num_batches):
                self._it = None
            if isinstance(src, PyDataset):
                src.on_epoch_end()

    def _warn(self) -> None:
        self.ran_out = True
        warnings.warn(RAN_OUT, UserWarning, stacklevel=4)

    def close(self) -> None:
        if isinstance(self._it, _PyDatasetPass):
            self._it.close()
        self._it = None
