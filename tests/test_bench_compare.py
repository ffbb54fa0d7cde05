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


def run_quick(tmp_path, *args, timeout=120):
    out = tmp_path / "quick.json"
    cmd = [sys.executable, str(BENCH / "compare.py"), "--quick", "--threads", "1", "--quiet",
           "--json", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
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
        "== float32 GEMM, dnnx.matmul vs numpy.matmul ==",
        "== training GEMM throughput, 784-512-256-10 ==",
        "== training 784-512-256-10, Adam, sparse CE: spread ==",
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


def test_every_table_names_the_cpu_and_isa(tmp_path):
    text, _ = run_quick(tmp_path, "--frameworks", "dnnx,numpy", "--only", "small,memory,import")
    titles = [i for i, line in enumerate(text.splitlines()) if line.startswith("== ")]
    lines = text.splitlines()
    assert len(titles) >= 4
    for i in titles:  # the line under every title: CPU model, ISA and dnnx's kernel
        assert lines[i + 1].startswith("[") and "dnnx kernel" in lines[i + 1], lines[i + 1]
        assert any(isa in lines[i + 1] for isa in ("AVX-512", "AVX2", "no AVX2")), lines[i + 1]
    # every ratio reads the same way: above 1 means dnnx is better (memory: X's / dnnx's)
    assert "numpy/dnnx" in text and "X/dnnx time" in text


def test_probe_measures_the_machine(worker):
    sys.path.insert(0, str(BENCH))
    try:
        import compare
    finally:
        sys.path.remove(str(BENCH))
    probe = compare.Probe()
    if probe.exe is None:
        pytest.skip(probe.error)
    g1, isa = probe.fma_gflops(1)
    assert isa in ("avx512", "avx2", "scalar") and g1 > 1.0
    small, big = probe.read_us(64 << 10, 1), probe.read_us(4 << 20, 1)
    assert 0 < small < big  # reading 64x the bytes takes longer


def test_quick_run_jax_keras_ort(tmp_path):
    fws = [f for f, mod in (("jax", "jax"), ("jax-scan", "jax"), ("keras-jax", "keras"), ("ort", "onnxruntime"))
           if installed(mod) and (mod != "onnxruntime" or installed("onnx"))]
    if not fws:
        pytest.skip("none of jax, keras, onnxruntime is installed")
    text, raw = run_quick(tmp_path, "--frameworks", ",".join(["dnnx"] + fws), "--only", "small,predict",
                          timeout=600)  # JAX and Keras take seconds to import in every worker
    ok = {(r["section"], r["framework"]) for r in raw if r.get("status") == "ok"}
    errors = [(r["framework"], r.get("reason")) for r in raw if r.get("status") == "error"]
    assert not errors, errors
    sys.path.insert(0, str(BENCH))
    try:
        import compare
    finally:
        sys.path.remove(str(BENCH))
    for fw in fws:
        for section in ("small", "predict"):
            assert ((section, fw) in ok) == (fw in compare.SECTION_FWS[section]), (section, fw)
        assert f"dnnx/{fw}" in text
