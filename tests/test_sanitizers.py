"""The C++ core under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer).

CMake builds the three core libraries and cpp/tests/sanitize_check.cpp with
-DDNNX_SANITIZE=ON (once: build/sanitize is reused while it is up to date), then runs the
program: layers, losses, optimizers, graphs, hooks, concurrent predicts, invalid specs,
GEMMs of awkward shapes, allocation failures inside parallel regions and 5000 fit/predict
rounds (20000 predicts; the leak check). Any report fails.
Set DNNX_SKIP_SANITIZE=1 to skip (it needs a C++ compiler with the sanitizer runtimes).
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "sanitize"


def _toolchain_ok() -> bool:
    return shutil.which("cmake") is not None and (shutil.which("c++") or shutil.which("g++")) is not None


@pytest.mark.sanitize
@pytest.mark.skipif(os.environ.get("DNNX_SKIP_SANITIZE") == "1", reason="DNNX_SKIP_SANITIZE=1")
@pytest.mark.skipif(not _toolchain_ok(), reason="needs cmake and a C++ compiler")
def test_core_is_clean_under_asan_ubsan_lsan():
    configure = ["cmake", "-S", str(ROOT), "-B", str(BUILD), "-DDNNX_SANITIZE=ON", "-DDNNX_BUILD_PYTHON=OFF",
                 "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -g1"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"] if not (BUILD / "CMakeCache.txt").exists() else []
    out = subprocess.run(configure, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    out = subprocess.run(["cmake", "--build", str(BUILD), "--target", "dnnx_sanitize_check", "-j", jobs],
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0 and "sanitize" in (out.stderr + out.stdout) and "cannot find" in (out.stderr + out.stdout):
        pytest.skip("the compiler has no sanitizer runtimes")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    exe = next(p for p in BUILD.rglob("dnnx_sanitize_check") if p.is_file() and os.access(p, os.X_OK))
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1", DNNX_NUM_THREADS="2")
    run = subprocess.run([str(exe), "5000"], capture_output=True, text=True, timeout=600, env=env)
    report = run.stdout[-4000:] + run.stderr[-8000:]
    assert run.returncode == 0, report
    assert "sanitize_check ok (5000 fit/predict rounds)" in run.stdout, report
    assert "ERROR: AddressSanitizer" not in run.stderr and "runtime error" not in run.stderr, report
