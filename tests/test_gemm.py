"""The GEMM engine (_core.gemm / gemm_packed): every kernel against float64 NumPy and the
serial reference, at the edges of each kernel's register tile and cache blocks."""

import os
import subprocess
import sys

import numpy as np
import pytest

import dnnx
from dnnx import _core
from conftest import rel_err, tol

DTYPES = [np.float32, np.float64]
DT_NAME = {np.float32: "float32", np.float64: "float64"}
ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid",
               "hard_sigmoid", "softplus", "softsign"]


def rng(seed=0):
    return np.random.default_rng(seed)


def operands(m, n, k, dtype, ta=False, tb=False, seed=0):
    r = rng(seed)
    a = r.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = r.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    return a, b


def ref64(a, b, ta, tb):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64.T if ta else a64) @ (b64.T if tb else b64)


def run_gemm(a, b, m, n, dtype, **kw):
    c = np.full((m, n), np.nan, dtype)
    _core.gemm(a, b, c, **kw)
    return c


def edge_shapes(kernel, dtype):
    """(m, n, k) at 1, MR-1, MR, MR+1, NR+-1, KC+-1, MC+-1 and primes for this kernel."""
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    MR, NR, MC, KC = bs["MR"], bs["NR"], bs["MC"], bs["KC"]
    shapes = {(1, 1, 1), (MR - 1, NR - 1, 7), (MR, NR, 13), (MR + 1, NR + 1, 29),
              (1, NR + 1, KC - 1), (MR + 1, 1, KC + 1), (2 * MR + 1, 3 * NR - 1, 2 * KC + 3),
              (MC - 1, NR + 3, 17), (MC + 1, 2 * NR + 1, 31), (97, 101, 103), (1, 512, 784),
              (8, 512, 784), (37, 10, 256),
              # n <= NR/2 may use a narrower kernel: its edges too
              (MR + 1, NR // 2, 19), (MR - 1, NR // 2 - 1, 19), (2 * MR + 1, NR // 2 + 1, 19),
              # n >= 1024 may use a longer k-block (KC_wide): its edges too
              (MR + 1, 1024, bs["KC_wide"] + 1), (2, 1031, 2 * bs["KC_wide"] + 3)}
    return sorted(s for s in shapes if min(s) >= 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_edges_all_kernels(kernel, dtype):
    for m, n, k in edge_shapes(kernel, dtype):
        a, b = operands(m, n, k, dtype, seed=m * 7 + n)
        c = run_gemm(a, b, m, n, dtype)
        assert rel_err(c, ref64(a, b, False, False)) <= tol(dtype, k), (kernel, m, n, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_transposes(kernel, dtype, ta, tb):
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    for m, n, k in [(bs["MR"] + 1, bs["NR"] + 3, 37), (3, 129, 300), (150, 40, bs["KC"] + 1)]:
        a, b = operands(m, n, k, dtype, ta, tb)
        c = run_gemm(a, b, m, n, dtype, trans_a=ta, trans_b=tb)
        assert rel_err(c, ref64(a, b, ta, tb)) <= tol(dtype, k), (m, n, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fused_epilogue(kernel, dtype, activation):
    m, n, k = 23, 37, 45
    a, b = operands(m, n, k, dtype, seed=3)
    r = rng(4)
    bias = r.standard_normal(n).astype(dtype)
    c0 = r.standard_normal((m, n)).astype(dtype)
    kw = dict(alpha=0.5, beta=-0.75, bias=bias, activation=activation)
    c, pre = c0.copy(), np.full((m, n), np.nan, dtype)
    _core.gemm(a, b, c, preact=pre, **kw)
    c_ref, pre_ref = c0.copy(), np.full((m, n), np.nan, dtype)
    _core.gemm(a, b, c_ref, preact=pre_ref, reference=True, **kw)
    z64 = 0.5 * ref64(a, b, False, False) - 0.75 * c0.astype(np.float64) + bias
    assert rel_err(pre, z64) <= tol(dtype, k)
    assert rel_err(c, c_ref) <= tol(dtype, k) * 4, activation
    # Without preact storage the result is the same.
    c2 = c0.copy()
    _core.gemm(a, b, c2, **kw)
    np.testing.assert_array_equal(c2, c)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_bias_at_block_edges(kernel, dtype):
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    m, n, k = 2 * bs["MR"] + 1, 2 * bs["NR"] + 1, 2 * bs["KC"] + 1  # several k-blocks, edge tiles
    a, b = operands(m, n, k, dtype, seed=5)
    bias = rng(6).standard_normal(n).astype(dtype)
    pre = np.empty((m, n), dtype)
    c = run_gemm(a, b, m, n, dtype, bias=bias, activation="relu", preact=pre)
    z = ref64(a, b, False, False) + bias
    assert rel_err(pre, z) <= tol(dtype, k)
    assert rel_err(c, np.maximum(z, 0)) <= tol(dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_beta(kernel, dtype):
    m, n, k = 19, 33, 21
    a, b = operands(m, n, k, dtype, seed=7)
    c0 = rng(8).standard_normal((m, n)).astype(dtype)
    for alpha, beta in [(1.0, 1.0), (-2.0, 0.5), (0.25, -1.0), (3.0, 0.0)]:
        c = c0.copy()
        _core.gemm(a, b, c, alpha=alpha, beta=beta)
        assert rel_err(c, alpha * ref64(a, b, False, False) + beta * c0) <= tol(dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_overwrites_nan(kernel, dtype):
    for m, n, k in [(7, 9, 5), (64, 64, 64), (130, 70, 300)]:
        a, b = operands(m, n, k, dtype)
        c = run_gemm(a, b, m, n, dtype)  # c starts as NaN
        assert not np.isnan(c).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_k_zero_and_alpha_zero(kernel, dtype):
    m, n = 5, 6
    bias = np.arange(n, dtype=dtype) - 2
    c0 = rng(9).standard_normal((m, n)).astype(dtype)
    c = c0.copy()
    _core.gemm(np.empty((m, 0), dtype), np.empty((0, n), dtype), c, beta=2.0, bias=bias, activation="relu")
    np.testing.assert_allclose(c, np.maximum(2.0 * c0 + bias, 0), rtol=1e-6)
    c = np.full((m, n), np.nan, dtype)
    _core.gemm(np.empty((m, 0), dtype), np.empty((0, n), dtype), c, bias=bias)
    np.testing.assert_array_equal(c, np.broadcast_to(bias, (m, n)))
    a = np.full((m, 3), np.nan, dtype)  # alpha == 0: A and B are not read (BLAS)
    c = c0.copy()
    _core.gemm(a, np.ones((3, n), dtype), c, alpha=0.0, beta=1.0)
    np.testing.assert_array_equal(c, c0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tb", [False, True])
def test_packed_b(kernel, dtype, tb):
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    for m, n, k in [(1, 10, 3), (bs["MR"] + 1, bs["NR"] + 1, bs["KC"] + 1), (64, 300, 784), (33, 10, 256),
                    (bs["MR"] + 3, 1030, bs["KC_wide"] + 5)]:
        a, b = operands(m, n, k, dtype, tb=tb, seed=n)
        p = _core.PackedB(b, trans_b=tb)
        assert (p.k, p.n, p.dtype, p.kernel) == (k, n, DT_NAME[dtype], kernel)
        bias = rng(1).standard_normal(n).astype(dtype)
        c = np.full((m, n), np.nan, dtype)
        _core.gemm_packed(a, p, c, bias=bias, activation="relu")
        assert rel_err(c, np.maximum(ref64(a, b, False, tb) + bias, 0)) <= tol(dtype, k)
        # Bitwise the same as the unpacked product.
        c2 = run_gemm(a, b, m, n, dtype, trans_b=tb, bias=bias, activation="relu")
        np.testing.assert_array_equal(c, c2)
        at = np.ascontiguousarray(a.T)  # transposed A against the packed B
        c3 = np.full((m, n), np.nan, dtype)
        _core.gemm_packed(at, p, c3, trans_a=True)
        assert rel_err(c3, ref64(a, b, False, tb)) <= tol(dtype, k)


def test_packed_b_survives_kernel_switch():
    kernels = _core.available_kernels()
    before = _core.active_kernel()
    a, b = operands(20, 40, 50, np.float32)
    try:
        _core.set_kernel(kernels[-1])
        p = _core.PackedB(b)
        _core.set_kernel("ref")
        c = np.empty((20, 40), np.float32)
        _core.gemm_packed(a, p, c)  # runs with the kernel that packed it, never misreads
        assert p.kernel == kernels[-1]
        assert rel_err(c, ref64(a, b, False, False)) <= tol(np.float32, 50)
    finally:
        _core.set_kernel(before)


@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_invariance(kernel, dtype, threads):
    # Shapes big enough for 2 threads, splitting rows (m large), columns (m small), with
    # packed and in-place operands, several k-blocks and the fused epilogue; 128^3 (4.2
    # MFLOP) is the smallest size class that two threads share (kMinFlopsPerThread).
    for m, n, k, ta, tb in [(128, 128, 128, False, False), (128, 512, 784, False, False), (8, 512, 784, False, False),
                            (128, 784, 512, False, True), (784, 130, 128, True, False),
                            (301, 203, 517, True, True), (61, 1100, 1100, False, False)]:
        a, b = operands(m, n, k, dtype, ta, tb)
        bias = rng(2).standard_normal(n).astype(dtype)
        outs = []
        for nt in (1, 2):
            dnnx.set_num_threads(nt)
            pre = np.empty((m, n), dtype)
            c = run_gemm(a, b, m, n, dtype, trans_a=ta, trans_b=tb, bias=bias, activation="gelu", preact=pre)
            outs.append((c, pre))
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        np.testing.assert_array_equal(outs[0][1], outs[1][1])
        p = _core.PackedB(b, trans_b=tb)
        packed = []
        for nt in (1, 2):
            dnnx.set_num_threads(nt)
            c = np.empty((m, n), dtype)
            _core.gemm_packed(a, p, c, trans_a=ta)
            packed.append(c)
        np.testing.assert_array_equal(packed[0], packed[1])


def _run_python(code, env_kernel):
    env = dict(os.environ)
    env["DNNX_KERNEL"] = env_kernel
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_dnnx_kernel_env_forces_each_kernel():
    code = ("import numpy as np, dnnx; from dnnx import _core; a = np.ones((9, 20), np.float32); "
            "print(_core.active_kernel(), float(dnnx.matmul(a, a.T)[0, 0]))")
    for name in _core.available_kernels():
        r = _run_python(code, name)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [name, "20.0"]


def test_dnnx_kernel_env_invalid():
    r = _run_python("import dnnx", "avx9")
    assert r.returncode == 1  # a Python exception, not a crash (SIGILL would be negative)
    assert "ImportError" in r.stderr
    assert "unknown kernel 'avx9'" in r.stderr and "this CPU can run ref" in r.stderr


def test_dnnx_kernel_env_unsupported():
    missing = [k for k in _core.compiled_kernels() if k not in _core.available_kernels()]
    if not missing:
        pytest.skip("this CPU runs every compiled kernel")
    r = _run_python("import dnnx", missing[0])
    assert r.returncode == 1 and "ImportError" in r.stderr
    assert f"kernel '{missing[0]}' needs" in r.stderr and "this CPU has" in r.stderr


def test_kernel_lists_and_set_kernel():
    av = _core.available_kernels()
    assert av[0] == "ref" and set(av) <= set(_core.compiled_kernels())
    assert _core.active_kernel() in av
    with pytest.raises(ValueError, match=r"unknown kernel 'nope'; this build has ref"):
        _core.set_kernel("nope")
    with pytest.raises(ValueError, match=r"unknown kernel 'nope'"):
        _core.kernel_info("nope")
    for name in av:
        info = _core.kernel_info(name)
        for dt in ("float32", "float64"):
            bs = info[dt]
            assert bs["MC"] % bs["MR"] == 0 and bs["NC"] % bs["NR"] == 0


def test_errors():
    f32 = np.float32
    a, b, c = np.ones((3, 4), f32), np.ones((4, 5), f32), np.zeros((3, 5), f32)
    with pytest.raises(ValueError, match=r"op\(a\) is 3x4 but op\(b\) is 5x4"):
        _core.gemm(a, b, c, trans_b=True)
    with pytest.raises(ValueError, match=r"c must have shape \(3, 5\); received \(5, 3\)"):
        _core.gemm(a, b, np.zeros((5, 3), f32))
    with pytest.raises(TypeError, match=r"b must be float32; received float64"):
        _core.gemm(a, b.astype(np.float64), c)
    with pytest.raises(ValueError, match=r"a must be C-contiguous"):
        _core.gemm(np.ones((4, 3), f32).T, b, c)
    with pytest.raises(ValueError, match=r"a must be 2-D; received shape \(12,\)"):
        _core.gemm(np.ones(12, f32), b, c)
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\); received \(4,\)"):
        _core.gemm(a, b, c, bias=np.ones(4, f32))
    with pytest.raises(ValueError, match=r"preact must have the shape of c"):
        _core.gemm(a, b, c, preact=np.zeros((3, 4), f32))
    with pytest.raises(ValueError, match=r"activation 'softmax' cannot be fused"):
        _core.gemm(a, b, c, activation="softmax")
    with pytest.raises(ValueError, match=r"nosuch"):
        _core.gemm(a, b, c, activation="nosuch")
    with pytest.raises(ValueError, match=r"c must be writable"):
        ro = np.zeros((3, 5), f32)
        ro.flags.writeable = False
        _core.gemm(a, b, ro)
    p = _core.PackedB(b)
    with pytest.raises(TypeError, match=r"a must have the packed b's dtype float32; received float64"):
        _core.gemm_packed(a.astype(np.float64), p, c.astype(np.float64))
    with pytest.raises(ValueError, match=r"op\(a\) is 4x3 but the packed b is 4x5"):
        _core.gemm_packed(a, p, c, trans_a=True)
    with pytest.raises(ValueError, match=r"c must have shape \(3, 5\)"):
        _core.gemm_packed(a, p, np.zeros((3, 4), f32))


# ---------------------------------------------------------------------------------------
# Skinny products (m = 1..~8): the wide kernels (G adjacent NR panels at once) must give,
# element for element, the bits of the ordinary micro-kernel, so a row of a batch-1 product
# equals the same row inside a tall product, whatever the transposes, epilogue or threads.

def skinny_ns(bs):
    NR = bs["NR"]
    return sorted({1, 2, NR - 1, NR, 3 * NR + 1, 4 * NR - 1, 4 * NR, 4 * NR + 1, 5 * NR + 3, 8 * NR, 8 * NR + 7,
                   13 * NR + 5, 17})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_skinny_rows_bitwise_as_tall(kernel, dtype, ta, tb):
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    M = 2 * bs["MR"] + 3  # a tall product: every row goes through the ordinary micro-kernel
    # n >= 1024 with KC < k <= KC_wide: one k-block whatever m (m never picks the k-block).
    cases = [(n, k) for n in skinny_ns(bs) for k in (1, 7, bs["KC"] + 5)] + [(1030, bs["KC_wide"] - 3)]
    for n, k in cases:
        a, b = operands(M, n, k, dtype, ta, tb, seed=n + k)
        if n == 17:  # a NaN row: relu keeps NaN (not 0) in the skinny kernels as in the tall one
            a[(slice(None), 1) if ta else (1, slice(None))] = np.nan
        r = rng(n)
        bias = r.standard_normal(n).astype(dtype)
        c0 = r.standard_normal((M, n)).astype(dtype)
        kw = dict(trans_a=ta, trans_b=tb, alpha=0.75, beta=0.5, bias=bias, activation="relu")
        tall, tall_pre = c0.copy(), np.empty((M, n), dtype)
        _core.gemm(a, b, tall, preact=tall_pre, **kw)
        z = 0.75 * ref64(a, b, ta, tb) + 0.5 * c0 + bias
        ok = np.isfinite(z).all(axis=1)
        assert rel_err(tall_pre[ok], z[ok]) <= tol(dtype, k), (n, k)
        assert np.isnan(tall[~ok]).all()
        for m in range(1, 10):
            am = np.ascontiguousarray(a[:, :m] if ta else a[:m])
            c, pre = c0[:m].copy(), np.empty((m, n), dtype)
            _core.gemm(am, b, c, preact=pre, **kw)
            np.testing.assert_array_equal(pre, tall_pre[:m], err_msg=f"m={m} n={n} k={k}")
            np.testing.assert_array_equal(c, tall[:m], err_msg=f"m={m} n={n} k={k}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_aliasing_b_rows_packed_bitwise_as_in_place(kernel, dtype, threads):
    # Row-major B of 64-256 KiB whose rows are a multiple of 512 bytes apart is packed for a
    # tall product (in place its rows would share a few L1 sets); a few rows of A read the
    # same B in place. Every element must get the same bits either way, on 1 and 2 threads.
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    n = 1024 // np.dtype(dtype).itemsize * 2  # rows 2 KiB apart
    k = 200 * 1024 // (n * np.dtype(dtype).itemsize)  # B 200 KiB
    M = 145  # > 4 MR rows for every kernel; 2 M n k >= 7 MFLOP: two threads share it
    assert M > 4 * bs["MR"]
    a, b = operands(M, n, k, dtype, seed=11)
    bias = rng(12).standard_normal(n).astype(dtype)
    talls = []
    for nt in (1, 2):
        dnnx.set_num_threads(nt)
        talls.append(run_gemm(a, b, M, n, dtype, bias=bias, activation="relu"))
    np.testing.assert_array_equal(talls[0], talls[1])
    assert rel_err(talls[0], np.maximum(ref64(a, b, False, False) + bias, 0)) <= tol(dtype, k)
    for i0 in range(0, M, 3):
        rows = np.ascontiguousarray(a[i0:i0 + 3])
        c = run_gemm(rows, b, rows.shape[0], n, dtype, bias=bias, activation="relu")
        np.testing.assert_array_equal(c, talls[0][i0:i0 + 3], err_msg=f"rows {i0}..")


@pytest.mark.parametrize("dtype", DTYPES)
def test_skinny_misaligned_b(kernel, dtype):
    # Row-major B read in place starting at every offset within a 64-byte line (NumPy
    # aligns to 16 bytes; avx512 then reads 1-2 rows, avx2 1 row, by aligned vectors in a
    # shifted lane layout): rows bitwise those of a tall product, with every epilogue input.
    item = np.dtype(dtype).itemsize
    W = 64 // item
    k, M = 37, 30
    for n in (512, 528):  # whole panel groups; and an edge panel
        r = rng(n)
        b_ref = r.standard_normal((k, n)).astype(dtype)
        a = r.standard_normal((M, k)).astype(dtype)
        bias = r.standard_normal(n).astype(dtype)
        c0 = r.standard_normal((M, n)).astype(dtype)
        kw = dict(alpha=0.5, beta=-1.25, bias=bias, activation="relu")
        tall, tall_pre = c0.copy(), np.empty((M, n), dtype)
        _core.gemm(a, b_ref, tall, preact=tall_pre, **kw)
        assert rel_err(tall_pre, 0.5 * ref64(a, b_ref, False, False) - 1.25 * c0 + bias) <= tol(dtype, k)
        buf = np.empty(k * n + 2 * W, dtype)
        base = (-buf.ctypes.data % 64) // item
        for off in range(W):
            b = buf[base + off:base + off + k * n].reshape(k, n)
            b[...] = b_ref
            assert b.ctypes.data % 64 == off * item
            for m in (1, 2, 3):
                c, pre = c0[:m].copy(), np.empty((m, n), dtype)
                _core.gemm(np.ascontiguousarray(a[:m]), b, c, preact=pre, **kw)
                np.testing.assert_array_equal(pre, tall_pre[:m], err_msg=f"n={n} off={off} m={m}")
                np.testing.assert_array_equal(c, tall[:m], err_msg=f"n={n} off={off} m={m}")
            plain = np.empty((1, n), dtype)
            _core.gemm(np.ascontiguousarray(a[:1]), b, plain)
            assert rel_err(plain, ref64(a[:1], b_ref, False, False)) <= tol(dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["linear", "gelu", "tanh"])
def test_skinny_epilogues_and_packed(kernel, dtype, activation):
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    for n in skinny_ns(bs):
        k = 2 * bs["KC"] + 3  # several k-blocks: C carries the partial sums
        a, b = operands(9, n, k, dtype, seed=n)
        bias = rng(n).standard_normal(n).astype(dtype)
        p = _core.PackedB(b)
        for m in range(1, 10):
            am = np.ascontiguousarray(a[:m])
            c, pre = np.full((m, n), np.nan, dtype), np.full((m, n), np.nan, dtype)
            _core.gemm(am, b, c, bias=bias, activation=activation, preact=pre)
            z = ref64(am, b, False, False) + bias
            assert rel_err(pre, z) <= tol(dtype, k), (m, n)
            c_ref = np.full((m, n), np.nan, dtype)
            _core.gemm(am, b, c_ref, bias=bias, activation=activation, reference=True)
            assert rel_err(c, c_ref) <= tol(dtype, k) * 4, (m, n)
            cp = np.full((m, n), np.nan, dtype)
            _core.gemm_packed(am, p, cp, bias=bias, activation=activation)
            np.testing.assert_array_equal(cp, c, err_msg=f"packed m={m} n={n}")
            cpt = np.full((m, n), np.nan, dtype)  # transposed A against the packed B
            _core.gemm_packed(np.ascontiguousarray(am.T), p, cpt, trans_a=True, bias=bias, activation=activation)
            np.testing.assert_array_equal(cpt, c, err_msg=f"packed trans_a m={m} n={n}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_skinny_thread_count_invariance(kernel, dtype, threads):
    # Large weights (>= 2 x 512 KiB) split the columns of a skinny product across threads.
    for m, n, k, ta, tb in [(1, 512, 784, False, False), (3, 512, 784, True, False), (2, 256, 512, False, True),
                            (1, 1000, 300, False, False), (5, 777, 401, True, True), (1, 10, 256, False, False)]:
        a, b = operands(m, n, k, dtype, ta, tb, seed=m + n)
        bias = rng(3).standard_normal(n).astype(dtype)
        p = _core.PackedB(b, trans_b=tb)
        outs = []
        for nt in (1, 2):
            dnnx.set_num_threads(nt)
            c = run_gemm(a, b, m, n, dtype, trans_a=ta, trans_b=tb, bias=bias, activation="relu")
            cp = np.empty((m, n), dtype)
            _core.gemm_packed(a, p, cp, trans_a=ta, bias=bias, activation="relu")
            outs.append((c, cp))
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        np.testing.assert_array_equal(outs[0][1], outs[1][1])
        np.testing.assert_array_equal(outs[0][0], outs[0][1])
        assert rel_err(outs[0][0], np.maximum(ref64(a, b, ta, tb) + bias, 0)) <= tol(dtype, k)


# ---------------------------------------------------------------------------------------
# Narrow n (weight gradients against a few classes with op(A) = A^T, the class-output
# forward with op(A) = A): column-vector tiles (A = A packed by a transposing copy first),
# bitwise the same as the blocked path (checked against rows of a product whose n is too
# wide for it, and against rows computed alone), masked edge rows, several k-blocks
# (tails of the transpose blocks), both B layouts, threads.

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_small_n(kernel, dtype, ta, tb, threads):
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    for m in (1, 7, 8, 9, 16, 17, 31, 32, 33, 63, 97, 256):
        for n in list(range(1, 18)):
            k = (2 * bs["KC"] + 3) if n in (1, 10, 17) and m in (33, 97) else (1 if n == 2 else 13 + m % 5)
            if not ta and m == 63:
                k = 48  # whole 16 x 16 transpose blocks only
            a, b = operands(m, n, k, dtype, ta=ta, tb=tb, seed=m * 31 + n)
            r = rng(m + n)
            bias = r.standard_normal(n).astype(dtype)
            c0 = r.standard_normal((m, n)).astype(dtype)
            kw = dict(trans_a=ta, trans_b=tb, alpha=-1.5, beta=0.25, bias=bias, activation="relu")
            c, pre = c0.copy(), np.empty((m, n), dtype)
            _core.gemm(a, b, c, preact=pre, **kw)
            z = -1.5 * ref64(a, b, ta, tb) + 0.25 * c0 + bias
            assert rel_err(pre, z) <= tol(dtype, k), (m, n, k)
            np.testing.assert_array_equal(c, np.maximum(pre, 0))
            # The same columns inside a product 40 columns wider (ordinary tiles): same bits.
            bw = np.concatenate([b, np.ones((40, k) if tb else (k, 40), dtype)], axis=0 if tb else 1)
            cw = np.concatenate([c0, np.zeros((m, 40), dtype)], axis=1)
            prew = np.empty((m, n + 40), dtype)
            _core.gemm(a, np.ascontiguousarray(bw), cw, preact=prew, trans_a=ta, trans_b=tb, alpha=-1.5,
                       beta=0.25, bias=np.concatenate([bias, np.zeros(40, dtype)]), activation="relu")
            np.testing.assert_array_equal(pre, prew[:, :n], err_msg=f"m={m} n={n} k={k}")
            np.testing.assert_array_equal(c, cw[:, :n], err_msg=f"m={m} n={n} k={k}")
            if m == 33 and n in (3, 10):  # a NaN row: relu keeps NaN, as the ordinary tiles do
                an = a.copy()
                an[(slice(None), 5) if ta else (5, slice(None))] = np.nan
                cn, cwn = c0.copy(), cw.copy()
                cwn[:, :n] = c0
                _core.gemm(an, b, cn, **kw)
                _core.gemm(an, np.ascontiguousarray(bw), cwn, trans_a=ta, trans_b=tb, alpha=-1.5, beta=0.25,
                           bias=np.concatenate([bias, np.zeros(40, dtype)]), activation="relu")
                assert np.isnan(cn[5]).all()
                np.testing.assert_array_equal(cn, cwn[:, :n])
            if not ta and m in (33, 97) and n in (3, 10, 12):  # a row alone (row kernel): same bits
                for i in (0, m // 2, m - 1):
                    ci = c0[i:i + 1].copy()
                    _core.gemm(np.ascontiguousarray(a[i:i + 1]), b, ci, **kw)
                    np.testing.assert_array_equal(ci[0], c[i], err_msg=f"row {i} m={m} n={n} k={k}")
                # A read in place with a row stride longer than k (matmul of a view): same bits.
                wide = np.concatenate([a, np.full((m, 5), np.nan, dtype)], axis=1)
                plain = np.empty((m, n), dtype)
                _core.gemm(a, b, plain, trans_b=tb)
                np.testing.assert_array_equal(dnnx.matmul(wide[:, :k], b.T if tb else b), plain)
            if m in (97, 256) and n in (10, 12, 16):
                dnnx.set_num_threads(2)
                c2 = c0.copy()
                _core.gemm(a, b, c2, **kw)
                dnnx.set_num_threads(1)
                np.testing.assert_array_equal(c2, c)
    # Other activations run on the finished tile.
    a, b = operands(70, 10, 50, dtype, ta=ta, seed=1)
    c = np.empty((70, 10), dtype)
    _core.gemm(a, b, c, trans_a=ta, activation="tanh")
    assert rel_err(c, np.tanh(ref64(a, b, ta, False))) <= tol(dtype, 50) * 4


# ---------------------------------------------------------------------------------------
# Edge panels of at most NR/2 or NR/4 real columns (n = 100 against NR = 32 leaves 4) run
# a half- or quarter-width micro-kernel: the same bits as those columns inside full panels of a wider
# product, every epilogue, both transposes, packed and in-place operands, several k-blocks.

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_half_width_edge_panels_bitwise_as_full(kernel, dtype, ta, tb):
    bs = _core.kernel_info(kernel)[DT_NAME[dtype]]
    NR, MR = bs["NR"], bs["MR"]
    for n in (3 * NR + 1, 3 * NR + 4, 3 * NR + NR // 4, 3 * NR + NR // 4 + 1, 3 * NR + NR // 2, 3 * NR + NR // 2 + 1,
              NR // 4, NR // 2, 100):
        for m, k in ((2 * MR + 3, 7), (200, 64), (MR, bs["KC"] + 9)):
            a, b = operands(m, n, k, dtype, ta, tb, seed=m + n + k)
            r = rng(n + m)
            bias = r.standard_normal(n).astype(dtype)
            c0 = r.standard_normal((m, n)).astype(dtype)
            kw = dict(trans_a=ta, trans_b=tb, alpha=0.5, beta=-0.25, bias=bias, activation="relu")
            c, pre = c0.copy(), np.empty((m, n), dtype)
            _core.gemm(a, b, c, preact=pre, **kw)
            z = 0.5 * ref64(a, b, ta, tb) - 0.25 * c0 + bias
            assert rel_err(pre, z) <= tol(dtype, k), (m, n, k)
            np.testing.assert_array_equal(c, np.maximum(pre, 0))
            extra = NR  # the edge columns now fall in a full panel
            bw = np.concatenate([b, np.ones((extra, k) if tb else (k, extra), dtype)], axis=0 if tb else 1)
            cw = np.concatenate([c0, np.zeros((m, extra), dtype)], axis=1)
            prew = np.empty((m, n + extra), dtype)
            _core.gemm(a, np.ascontiguousarray(bw), cw, preact=prew, trans_a=ta, trans_b=tb, alpha=0.5, beta=-0.25,
                       bias=np.concatenate([bias, np.zeros(extra, dtype)]), activation="relu")
            np.testing.assert_array_equal(pre, prew[:, :n], err_msg=f"m={m} n={n} k={k}")
            np.testing.assert_array_equal(c, cw[:, :n], err_msg=f"m={m} n={n} k={k}")
            plain = np.empty((m, n), dtype)
            _core.gemm(a, b, plain, trans_a=ta, trans_b=tb)
            wide = np.empty((m, n + extra), dtype)
            _core.gemm(a, np.ascontiguousarray(bw), wide, trans_a=ta, trans_b=tb)
            np.testing.assert_array_equal(plain, wide[:, :n], err_msg=f"plain m={m} n={n} k={k}")
