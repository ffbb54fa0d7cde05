"""``n_jobs``: dnnx's thread count for the duration of one fit or predict (joblib's meaning)."""

from __future__ import annotations

import contextlib
import os
from numbers import Integral

from .. import config


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve(n_jobs) -> int:
    """``None``: keep dnnx's setting; ``n >= 1``: n threads; ``-1``: every usable CPU, ``-2``: all but one, ..."""
    if n_jobs is None:
        return config.get_num_threads()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None or a non-zero int (-1: every CPU); received n_jobs={n_jobs!r}")
    n = int(n_jobs)
    return n if n > 0 else max(1, usable_cpus() + 1 + n)


@contextlib.contextmanager
def threads(n_jobs):
    before = config.get_num_threads()
    n = resolve(n_jobs)
    if n != before:
        config.set_num_threads(n)
    try:
        yield n
    finally:
        if n != before:
            config.set_num_threads(before)
