"""bench/stream_overhead.py runs and reports the generator/arrays ratio per batch size."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_stream_overhead_bench_smoke():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "stream_overhead.py"), "--rounds", "1",
                          "--samples", "256", "--epochs", "1", "--batch-sizes", "64", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("CPU: ") and "ratio gen/arrays" in lines[1]
    cols = lines[2].split()
    assert cols[0] == "64" and float(cols[1]) > 0 and float(cols[2]) > 0 and float(cols[3]) > 0
