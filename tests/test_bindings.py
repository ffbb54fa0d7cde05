"""The binding layer: stubs in sync, views keep their owner alive, threaded predict."""

import ast
import gc
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import dnnx
from dnnx import _core, layers


def _stub_names():
    path = os.path.join(os.path.dirname(dnnx.__file__), "_core.pyi")
    with open(path) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names, tree


def test_stubs_match_core():
    names, tree = _stub_names()
    public = {n for n in dir(_core) if not n.startswith("_")} | {"__version__"}
    assert names == public, f"in stubs only: {names - public}; in _core only: {public - names}"
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            cls = getattr(_core, node.name)
            stub_methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            real = {n for n in dir(cls) if not n.startswith("_")} | {"__init__"}
            assert stub_methods == real, f"{node.name}: stubs only {stub_methods - real}, real only {real - stub_methods}"


def test_py_typed_shipped():
    assert os.path.exists(os.path.join(os.path.dirname(dnnx.__file__), "py.typed"))


def test_view_outlives_model():
    m = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(2)])
    m.build()
    k = m.layers[0].kernel
    expected = k.copy()
    del m
    gc.collect()
    np.testing.assert_array_equal(k, expected)  # the view keeps the network alive
    k[...] = 1.0


@pytest.mark.parametrize("hold_views", [False, True])
def test_threaded_predict_is_safe(hold_views):
    m = dnnx.Sequential([dnnx.Input(shape=(32,)), layers.Dense(64, activation="relu"), layers.Dense(8)], seed=0)
    m.build()
    # With weight views alive, every predict refreshes the packed weights: concurrent calls
    # then race refreshes against multiplications, which must still give exact results.
    views = m.weights if hold_views else None
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((n, 32)).astype(np.float32) for n in (1, 7, 64, 300)]
    expected = [m.predict(x) for x in xs]
    errors = []

    def work(i):
        try:
            for _ in range(30):
                j = (i + _) % len(xs)
                np.testing.assert_array_equal(m.predict(xs[j]), expected[j])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    del views


def test_dnnx_kernel_env_forces_and_rejects():
    env = dict(os.environ, DNNX_KERNEL="ref")
    out = subprocess.run([sys.executable, "-c", "import dnnx; print(dnnx._core.active_kernel())"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ref"
    env["DNNX_KERNEL"] = "sse9"
    out = subprocess.run([sys.executable, "-c", "import dnnx; dnnx.matmul([[1.0]], [[1.0]])"],
                         env=env, capture_output=True, text=True, timeout=60)
    # exit status 1: a Python exception at import (a crash would be a negative status)
    assert out.returncode == 1 and "sse9" in out.stderr, (out.returncode, out.stderr[-2000:])


def test_dnnx_num_threads_env():
    env = dict(os.environ, DNNX_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", "import dnnx; print(dnnx.get_num_threads())"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "1"


def test_no_iostreams_in_the_core():
    """Where libstdc++ is linked statically into _core (seen on a GCC 13 host), its stream
    and locale machinery is never initialised and any std::ostringstream crashes; the core
    formats strings with std::to_string and concatenation instead."""
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cpp")
    if not os.path.isdir(root):
        pytest.skip("source tree not available")
    offenders = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith((".cpp", ".hpp", ".inc", ".h")):
                with open(os.path.join(d, f)) as fh:
                    text = fh.read()
                if any(s in text for s in ("<sstream>", "<iostream>", "<fstream>", "std::cout", "std::cerr")):
                    offenders.append(f)
    assert not offenders, offenders
