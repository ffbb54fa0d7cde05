"""What the benchmarks say about the machine they ran on (imported by the bench/ scripts,
which run as ``python bench/<script>.py``, so bench/ is on sys.path)."""

from __future__ import annotations

import platform


def cpu_name() -> str:
    """The CPU model as /proc/cpuinfo names it (e.g. "AMD EPYC"), else platform's guess."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
