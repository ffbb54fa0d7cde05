"""Keeps bench/compare.py runnable: a --quick run on tiny sizes, no speed assertions.

torch and scikit-learn are optional (they join the run when installed); the NumPy worker
always runs; the dnnx rows must all train and predict.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def worker():
    sys.path.insert(0, str(BENCH))
    try:
        import _compare_worker
    finally:
        sys.path.remove(str(BENCH))
    return _compare_worker


def installed(name):
    return importlib.util.find_spec(name) is not None


def test_gemm_flop_count(worker):
    # forward + dW for all three layers, dX for layers 2 and 3 only
    per_sample = 2 * (784 * 512 + 512 * 256 + 256 * 10) * 3 - 2 * 784 * 512
    assert worker.gemm_flops_per_sample([784, 512, 256, 10]) == per_sample == 2_407_424


@pytest.mark.parametrize("sizes", [[20, 16, 3], [20, 16, 8, 1]])
def test_numpy_baseline_learns(worker, sizes):
    """The hand-written NumPy MLP is a fair baseline only if it actually trains."""
    if sizes[-1] == 1:
        x, y = worker.make_tabular(600, sizes[0])
    else:
        x, y = worker.make_blobs(600, sizes[0], sizes[-1], spread=1.0)
    model = worker.NumpyMLP(sizes)
    rng = np.random.default_rng(0)
    losses = [model.fit_epoch(x, y, 64, rng, track_loss=True) for _ in range(15)]
    assert losses[-1] < 0.6 * losses[0]
    assert worker._accuracy(model.predict(x), y) > 0.8


def run_quick(tmp_path, *args):
    out = tmp_path / "quick.json"
    cmd = [sys.executable, str(BENCH / "compare.py"), "--quick", "--threads", "1", "--quiet",
           "--json", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())["raw"]


def test_quick_run(tmp_path):
    # torch gets its own, smaller run below: its import dominates the cost of every worker
    frameworks = ["dnnx", "numpy"] + (["sklearn"] if installed("sklearn") else [])
    text, raw = run_quick(tmp_path, "--frameworks", ",".join(frameworks), "--markdown")
    headers = [
        "== training 784-512-256-10, Adam, sparse CE ==",
        "== training 40-100-100-10",
        "== training tabular 30-64-32-1, sigmoid + BCE ==",
        "== inference latency, 784-512-256-10 ==",
        "== float32 GEMM probe ==",
        "== training GEMM throughput ==",
        "== peak training memory ==",
        "== import time ==",
        "## Markdown",
        "dnnx/numpy",
    ]
    if installed("sklearn"):
        headers.append("== scikit-learn digits fit ==")
    for h in headers:
        assert h in text, f"missing {h!r} in:\n{text}"

    ok = {(r["section"], r["framework"]) for r in raw if r.get("status") == "ok"}
    for section in ("train", "small", "tabular", "predict", "gemm"):
        assert (section, "numpy") in ok, section
    # "unavailable" is fine (e.g. the digits task without scikit-learn); an error is not
    errors = [r.get("reason") for r in raw if r.get("framework") == "dnnx" and r.get("status") == "error"]
    assert not errors, errors
    for section in ("train", "small", "tabular", "predict"):
        assert (section, "dnnx") in ok, section


def test_quick_run_torch(tmp_path):
    pytest.importorskip("torch")
    text, raw = run_quick(tmp_path, "--frameworks", "dnnx,torch,torch-fused", "--only", "train,predict")
    assert "torch-fused" in text and "== inference latency, 784-512-256-10 ==" in text
    ok = {(r["section"], r["framework"]) for r in raw if r.get("status") == "ok"}
    assert {("train", "torch"), ("train", "torch-fused"), ("predict", "torch")} <= ok
