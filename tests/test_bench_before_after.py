"""Keeps bench/before_after.py runnable: a --quick run with this interpreter on both sides.

The same build on both sides must give bitwise-equal weights; no speed assertions.
"""

import subprocess
import sys
from pathlib import Path

import pytest

import dnnx

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.skipif(not hasattr(dnnx, "Sequential"), reason="dnnx has no training API")
def test_quick_run():
    cmd = [sys.executable, str(BENCH / "before_after.py"), "--quick", "--before", sys.executable,
           "--threads", "1", "--quiet", "--markdown"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for h in [
        "weights bitwise equal: yes",
        "active kernel ",
        "== dnnx before/after ==",
        "train 784-512-256-10 b32",
        "train 784-512-256-10 b512",
        "small 40-100-100-10 b128",
        "tabular 30-64-32-1 b256",
        "predict 784-512-256-10 b1 ",
        "memory: training peak - baseline",
        'import: python -c "import numpy, dnnx"',
        "after/before",
        "## Markdown",
        "| threads | workload |",
    ]:
        assert h in text, f"missing {h!r} in:\n{text}"
    assert "n/a train" not in text and "n/a predict" not in text, text
