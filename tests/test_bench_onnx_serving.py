"""Keeps bench/onnx_serving.py runnable: one tiny round, no speed assertions."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "onnx_serving.py"


def test_onnx_serving_quick_run():
    out = subprocess.run([sys.executable, str(BENCH), "--rounds", "1", "--min-time", "0.01", "--nets", "30-64-32-1",
                          "--batches", "1", "--threads", "1", "--markdown"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| 30-64-32-1 ")]
    assert len(rows) == 1 and rows[0].split("|")[6].strip().endswith("x"), out.stdout
    assert out.stdout.startswith("CPU: ")
