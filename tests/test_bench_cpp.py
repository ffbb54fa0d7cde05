"""The C++ benchmarks build and produce sane rows (figures are reported, never asserted).

One CMake build of bench/ (bench_gemm and bench_train, Release) into a temporary folder;
skipped when cmake or a C++ compiler is missing.
"""

import csv
import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    if not shutil.which("cmake"):
        pytest.skip("cmake is not installed")
    build = tmp_path_factory.mktemp("bench-build")
    cfg = subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DDNNX_BUILD_BENCH=ON",
                          "-DDNNX_BUILD_PYTHON=OFF", "-DCMAKE_BUILD_TYPE=Release"],
                         capture_output=True, text=True)
    if cfg.returncode != 0:
        pytest.skip(f"cmake configure failed: {cfg.stderr[-500:]}")
    jobs = str(os.cpu_count() or 2)
    b = subprocess.run(["cmake", "--build", str(build), "-j", jobs, "--target", "bench_train", "bench_gemm"],
                       capture_output=True, text=True)
    assert b.returncode == 0, b.stdout[-3000:] + b.stderr[-3000:]
    return build / "bench"


def rows(text):
    """CSV rows; bench_gemm's leading '#' lines (CPU, ISA, FMA peak) are comments."""
    return list(csv.DictReader(io.StringIO("\n".join(l for l in text.splitlines() if not l.startswith("#")))))


def test_bench_train_trains(bench_dir):
    env = dict(os.environ, DNNX_NUM_THREADS="2")
    p = subprocess.run([str(bench_dir / "bench_train"), "--sizes", "20,32,3", "--n", "600", "--batches", "32,64",
                        "--epochs", "4"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    rs = rows(p.stdout)
    assert [(r["batch"], r["epoch"]) for r in rs] == [(b, str(e)) for b in ("32", "64") for e in range(1, 5)]
    assert all(r["threads"] == "2" and r["sizes"] == "20-32-3" for r in rs)
    assert all(float(r["seconds"]) > 0 and float(r["samples_per_s"]) > 0 for r in rs)
    losses = [float(r["loss"]) for r in rs if r["batch"] == "32"]
    assert losses[-1] < losses[0]  # it really trains: Adam on separable blobs


def test_bench_train_binary_float64_and_bad_args(bench_dir):
    p = subprocess.run([str(bench_dir / "bench_train"), "--sizes", "8,16,1", "--n", "300", "--batches", "50",
                        "--epochs", "1", "--dtype", "f64"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    (r,) = rows(p.stdout)
    assert r["dtype"] == "f64" and 0 < float(r["loss"]) < 5
    for bad in (["--dtype", "f16"], ["--sizes", "8"], ["--n", "x"], ["--bogus"]):
        q = subprocess.run([str(bench_dir / "bench_train"), *bad], capture_output=True, text=True, timeout=60)
        assert q.returncode == 2 and "bench_train" in q.stderr + "usage", (bad, q.stderr)


def test_bench_gemm_runs(bench_dir):
    p = subprocess.run([str(bench_dir / "bench_gemm"), "--kernels", "ref", "--shapes", "square", "--dtypes", "f32",
                        "--reps", "1", "--max-square", "64"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "FMA peak" in p.stdout
    rs = rows(p.stdout)
    assert rs and all(float(r["gflops"]) > 0 for r in rs)
