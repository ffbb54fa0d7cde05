"""bench/bench_subclassed.py runs on tiny sizes and reports its ratio (not timed here)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_bench_subclassed_smoke():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "bench_subclassed.py"), "--rounds", "2",
                          "--samples", "64", "--features", "8", "--width", "8", "--blocks", "2",
                          "--batch-size", "16", "--threads", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("CPU: ") and "load average" in lines[0]
    assert lines[2].startswith("epoch s  subclassed ")
    cols = lines[3].split()
    assert cols[:3] == ["ratio", "subclassed/functional", "median"] and float(cols[3]) > 0
    assert lines[4].startswith("MLP of 2 add_weight layers") and lines[5].startswith("epoch s  add_weight ")
    cols = lines[6].split()
    assert cols[:3] == ["ratio", "add_weight/dense", "median"] and float(cols[3]) > 0
