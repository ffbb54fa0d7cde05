"""dnnx's thread pool (cpp/src/common/thread_pool.cpp), which runs every parallel loop.

cpp/tests/pool_check.cpp is compiled with the pool alone, under ThreadSanitizer and under
AddressSanitizer + UndefinedBehaviorSanitizer, and run: each item exactly once, exceptions,
nested loops, concurrent callers, 20000 tiny jobs, sleeping workers woken, and (ASan run
only: TSan cannot follow a threaded fork) a forked child. From Python: a forked child of a
process whose pool has run keeps computing, on threads, the same bits as its parent.
Set DNNX_SKIP_SANITIZE=1 to skip the compiled checks.
"""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import dnnx

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "cpp" / "tests" / "pool_check.cpp", ROOT / "cpp" / "src" / "common" / "thread_pool.cpp",
           ROOT / "cpp" / "src" / "common" / "parallel.cpp"]


def _compiler():
    return shutil.which("c++") or shutil.which("g++")


@pytest.mark.sanitize
@pytest.mark.skipif(os.environ.get("DNNX_SKIP_SANITIZE") == "1", reason="DNNX_SKIP_SANITIZE=1")
@pytest.mark.skipif(_compiler() is None, reason="needs a C++ compiler")
@pytest.mark.parametrize("sanitizer", ["thread", "address,undefined"])
def test_pool_under_sanitizers(sanitizer, tmp_path):
    exe = tmp_path / "pool_check"
    cmd = [_compiler(), "-std=c++17", "-O1", "-g", f"-fsanitize={sanitizer}", "-fno-omit-frame-pointer",
           "-fno-sanitize-recover=all", f"-I{ROOT / 'cpp' / 'include'}", *map(str, SOURCES), "-o", str(exe), "-pthread"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0 and ("tsan" in out.stderr or "asan" in out.stderr) and "cannot find" in out.stderr:
        pytest.skip(f"the compiler has no {sanitizer} sanitizer runtime")
    assert out.returncode == 0, out.stderr[-3000:]
    args = ["--no-fork"] if sanitizer == "thread" else []
    env = dict(os.environ, TSAN_OPTIONS="halt_on_error=1", ASAN_OPTIONS="detect_leaks=1:halt_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    run = subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, env=env)
    report = run.stdout[-2000:] + run.stderr[-6000:]
    assert run.returncode == 0, report
    assert "pool_check ok" in run.stdout, report
    assert "WARNING: ThreadSanitizer" not in run.stderr and "ERROR: AddressSanitizer" not in run.stderr, report


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_computes_on_threads():
    code = textwrap.dedent("""
        import os, sys, numpy as np, dnnx
        dnnx.set_num_threads(2)
        rng = np.random.default_rng(0)
        a = rng.standard_normal((256, 384)).astype(np.float32)
        b = rng.standard_normal((384, 320)).astype(np.float32)
        m = dnnx.Sequential([dnnx.Input(shape=(384,)), dnnx.layers.Dense(256, activation="relu"),
                             dnnx.layers.Dense(3)], seed=0)
        parent = (dnnx.matmul(a, b), m.predict(a, verbose=0))  # the parent's pool has run
        tasks = lambda: len(os.listdir("/proc/self/task")) if os.path.isdir("/proc/self/task") else -1
        pid = os.fork()
        if pid == 0:
            before = tasks()
            ok = all(np.array_equal(dnnx.matmul(a, b), parent[0]) and
                     np.array_equal(m.predict(a, verbose=0), parent[1]) for _ in range(20))
            grew = before < 0 or tasks() > before  # the child started its own workers
            os._exit(0 if ok and grew else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0"], out.stdout + out.stderr[-2000:]


def test_results_do_not_depend_on_the_thread_count_or_on_concurrent_callers():
    import threading
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 517)).astype(np.float32)
    b = rng.standard_normal((517, 290)).astype(np.float32)
    n0 = dnnx.get_num_threads()
    try:
        dnnx.set_num_threads(1)
        want = dnnx.matmul(a, b)
        dnnx.set_num_threads(2)
        results, errors = [], []

        def work():
            try:
                for _ in range(20):
                    results.append(dnnx.matmul(a, b))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
        threads = [threading.Thread(target=work) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        dnnx.set_num_threads(n0)
    assert not errors
    assert len(results) == 60
    for r in results:
        np.testing.assert_array_equal(r, want)
