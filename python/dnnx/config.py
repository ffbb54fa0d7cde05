"""Threads, kernels and build configuration."""

from __future__ import annotations

import os

from . import _core
from ._validation import checks_finite as get_check_finite  # noqa: F401  (public here)


def set_check_finite(enabled: bool) -> None:
    """Check inputs, targets and sample weights for NaN/inf before every fit, evaluate and
    predict call (``ValueError`` naming the array and the first bad element). Off by default:
    NaN/inf then propagate as in Keras (a NaN loss, which ``callbacks.TerminateOnNaN`` stops
    on; NaN rows out of predict). The check costs one pass over the data per call."""
    from . import _validation
    _validation.set_check_finite(enabled)


def set_num_threads(n: int) -> None:
    """Set how many threads dnnx uses (``n >= 1``). Affects dnnx alone."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int >= 1; received {n!r}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1; received {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Number of threads dnnx uses (default: ``DNNX_NUM_THREADS`` or the usable CPUs)."""
    return _core.get_num_threads()


def config_dict() -> dict:
    """The facts ``show_config`` prints, as a dict."""
    info = dict(_core.build_info())
    info["available_kernels"] = list(_core.available_kernels())
    info["active_kernel"] = _core.active_kernel()
    info["num_threads"] = _core.get_num_threads()
    info["DNNX_KERNEL"] = os.environ.get("DNNX_KERNEL", "")
    info["DNNX_NUM_THREADS"] = os.environ.get("DNNX_NUM_THREADS", "")
    return info


def show_config(file=None) -> None:
    """Print version, compiler and flags, CPU features, kernels, threads and threading."""
    info = config_dict()
    rows = [
        ("dnnx version", info["version"]),
        ("compiler", info["compiler"]),
        ("build flags", info["build_flags"]),
        ("threading", info["threading"]),
        ("CPU", f"{info['cpu_vendor']} {info['cpu_brand']}".strip()),
        ("CPU features", info["cpu_features"]),
        ("kernels available", ", ".join(info["available_kernels"])),
        ("kernel in use", info["active_kernel"]),
        ("threads", str(info["num_threads"])),
        ("DNNX_KERNEL", info["DNNX_KERNEL"] or "(unset)"),
        ("DNNX_NUM_THREADS", info["DNNX_NUM_THREADS"] or "(unset)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}} : {v}", file=file)
