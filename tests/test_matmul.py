"""dnnx.matmul against a float64 NumPy reference: np.matmul semantics, layouts, errors."""

import numpy as np
import pytest

import dnnx
from conftest import rel_err, tol

RNG = np.random.default_rng(1234)
DTYPES = [np.float32, np.float64]


def rand(shape, dtype):
    return RNG.standard_normal(shape).astype(dtype)


def check(a, b, out=None):
    c = dnnx.matmul(a, b, out=out)
    ref = np.matmul(np.asarray(a, np.float64), np.asarray(b, np.float64))
    expected_dtype = np.result_type(a.dtype, b.dtype)
    assert c.dtype == expected_dtype
    assert np.shape(c) == ref.shape
    k = a.shape[-1] if a.ndim else 1
    assert rel_err(c, ref) <= tol(expected_dtype, k), (a.shape, b.shape)
    return c


SHAPES = [
    (1, 1, 1), (1, 7, 1), (2, 3, 4), (5, 1, 3), (7, 11, 13), (17, 31, 29), (6, 16, 16), (5, 15, 17),
    (7, 17, 15), (97, 101, 103), (128, 784, 10), (1, 784, 512), (300, 3, 2), (2, 3, 300),
    (255, 257, 129), (64, 64, 64), (1, 1, 513), (513, 1, 1),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,k,n", SHAPES)
def test_2d_shapes(kernel, dtype, m, k, n):
    check(rand((m, k), dtype), rand((k, n), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_transposed_views(kernel, dtype, ta, tb):
    m, k, n = 37, 53, 41
    a = rand((k, m), dtype).T if ta else rand((m, k), dtype)
    b = rand((n, k), dtype).T if tb else rand((k, n), dtype)
    check(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_views_are_copied_correctly(kernel, dtype):
    a = rand((40, 60), dtype)[::3, 1::2]
    b = rand((90, 50), dtype)[::3, ::-2]
    check(a, b)
    check(a.T[::2].T[:, :15], b[:15])


@pytest.mark.parametrize("dtype", DTYPES)
def test_1d_operands(dtype):
    a, b = rand((7,), dtype), rand((7,), dtype)
    r = dnnx.matmul(a, b)
    assert np.ndim(r) == 0 and abs(float(r) - float(a.astype(np.float64) @ b)) < 1e-4
    check(rand((5, 7), dtype), rand((7,), dtype))
    check(rand((7,), dtype), rand((7, 3), dtype))
    check(rand((4, 5, 7), dtype), rand((7,), dtype))
    check(rand((7,), dtype), rand((4, 7, 3), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batches_broadcast(kernel, dtype):
    check(rand((3, 5, 7), dtype), rand((3, 7, 4), dtype))
    check(rand((3, 5, 7), dtype), rand((7, 4), dtype))
    check(rand((5, 7), dtype), rand((2, 3, 7, 4), dtype))
    check(rand((2, 1, 5, 7), dtype), rand((1, 3, 7, 4), dtype))
    check(np.swapaxes(rand((3, 7, 5), dtype), 1, 2), rand((3, 7, 4), dtype))
    check(rand((6, 5, 7), dtype)[::2], rand((3, 7, 4), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty(dtype):
    for sa, sb in [((0, 3), (3, 4)), ((3, 0), (0, 4)), ((3, 4), (4, 0)), ((0, 2, 3), (3, 4))]:
        c = dnnx.matmul(np.ones(sa, dtype), np.ones(sb, dtype))
        np.testing.assert_array_equal(c, np.matmul(np.ones(sa, dtype), np.ones(sb, dtype)))
    out = np.full((3, 4), np.nan, dtype)
    dnnx.matmul(np.ones((3, 0), dtype), np.ones((0, 4), dtype), out=out)
    assert np.all(out == 0)


def test_mixed_dtypes(kernel):
    c = check(rand((9, 8), np.float32), rand((8, 5), np.float64))
    assert c.dtype == np.float64
    c = check(rand((9, 8), np.float64), rand((8, 5), np.float32))
    assert c.dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_overwrites_nan_and_is_returned(kernel, dtype):
    a, b = rand((33, 19), dtype), rand((19, 21), dtype)
    out = np.full((33, 21), np.nan, dtype)
    r = dnnx.matmul(a, b, out=out)
    assert r is out
    assert rel_err(out, a.astype(np.float64) @ b) <= tol(dtype, 19)


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_strided_and_aliased(dtype):
    a, b = rand((8, 8), dtype), rand((8, 8), dtype)
    big = np.zeros((8, 16), dtype)
    out = big[:, ::2]
    r = dnnx.matmul(a, b, out=out)
    assert r is out
    assert rel_err(big[:, ::2], a.astype(np.float64) @ b) <= tol(dtype, 8)
    ref = a.astype(np.float64) @ b
    dnnx.matmul(a, b, out=a)  # out aliases an input: computed as if into a temporary
    assert rel_err(a, ref) <= tol(dtype, 8)


def test_nan_inf_propagate():
    a = np.ones((4, 4), np.float32)
    b = np.ones((4, 4), np.float32)
    a[1, 2] = np.nan
    b[3, 0] = np.inf
    c = dnnx.matmul(a, b)
    ref = a @ b
    np.testing.assert_array_equal(np.isnan(c), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(c), np.isinf(ref))


def test_lists_are_accepted():
    c = dnnx.matmul([[1.0, 2.0]], [[3.0], [4.0]])
    assert c.dtype == np.float64 and c[0, 0] == 11.0


def test_error_dtype():
    with pytest.raises(TypeError, match=r"a must be float32 or float64; received int64"):
        dnnx.matmul(np.ones((2, 2), np.int64), np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match=r"b must be float32 or float64; received complex128"):
        dnnx.matmul(np.ones((2, 2), np.float32), np.ones((2, 2), np.complex128))


def test_error_shapes():
    with pytest.raises(ValueError, match=r"a has shape \(2, 3\) \(k=3\) but b has shape \(4, 5\) \(k=4\)"):
        dnnx.matmul(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match=r"batch dimensions cannot be broadcast.*batch sizes 2 and 3"):
        dnnx.matmul(np.ones((2, 4, 3), np.float32), np.ones((3, 3, 5), np.float32))
    with pytest.raises(ValueError, match=r"at least 1 dimension"):
        dnnx.matmul(np.float32(2.0), np.ones((2,), np.float32))


def test_error_out():
    a = np.ones((2, 3), np.float32)
    b = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"out must have shape \(2, 4\); received \(4, 2\)"):
        dnnx.matmul(a, b, out=np.empty((4, 2), np.float32))
    with pytest.raises(TypeError, match=r"out must have dtype float32 .*received float64"):
        dnnx.matmul(a, b, out=np.empty((2, 4), np.float64))
    with pytest.raises(TypeError, match=r"out must be a numpy.ndarray"):
        dnnx.matmul(a, b, out=[[0.0] * 4] * 2)
    ro = np.empty((2, 4), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"read-only"):
        dnnx.matmul(a, b, out=ro)


def test_threads_api(threads):
    dnnx.set_num_threads(1)
    assert dnnx.get_num_threads() == 1
    with pytest.raises(ValueError, match=r"n must be >= 1; received 0"):
        dnnx.set_num_threads(0)
    with pytest.raises(TypeError, match=r"n must be an int"):
        dnnx.set_num_threads(1.5)


def test_show_config(capsys):
    dnnx.show_config()
    out = capsys.readouterr().out
    for key in ("dnnx version", "compiler", "CPU features", "kernel in use", "threads", "threading"):
        assert key in out
    assert dnnx.__version__ in out


@pytest.mark.parametrize("dtype", DTYPES)
def test_batches_parallel_bitwise(kernel, dtype, threads):
    # Many small products run in parallel over the batch: same bits as one thread.
    a = rand((64, 17, 33), dtype)
    b = rand((33, 20), dtype)
    strided = rand((64, 33, 40), dtype)[:, :, ::2]  # needs a copy per product
    outs = []
    for nt in (1, 2):
        dnnx.set_num_threads(nt)
        outs.append((check(a, b), check(a, strided), check(rand((1, 9, 5), dtype), rand((50, 5, 7), dtype))))
    for x, y in zip(outs[0][:2], outs[1][:2]):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_2d_fast_path_layouts(dtype):
    # Two 2-D arrays without `out` take a short path: every layout it accepts (row-major,
    # transposed views, row-strided views) or hands on (other strides, mixed dtypes).
    r = np.random.default_rng(11)
    for m, k, n in [(1, 1, 1), (1, 784, 512), (3, 5, 7), (64, 64, 64), (9, 17, 10), (130, 3, 2)]:
        a = r.standard_normal((m, k)).astype(dtype)
        b = r.standard_normal((k, n)).astype(dtype)
        ref = a.astype(np.float64) @ b.astype(np.float64)
        for x, y in [(a, b), (np.ascontiguousarray(a.T).T, b), (a, np.ascontiguousarray(b.T).T),
                     (np.pad(a, ((0, 0), (0, 3)))[:, :k], b), (np.repeat(a, 2, axis=1)[:, ::2], b),
                     (a, b.astype(np.float32 if dtype == np.float64 else np.float64))]:
            c = dnnx.matmul(x, y)
            assert c.shape == (m, n) and c.flags.c_contiguous
            assert c.dtype == np.result_type(x.dtype, y.dtype)
            np.testing.assert_allclose(c, ref, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    z = dnnx.matmul(np.ones((0, 3), dtype), np.ones((3, 4), dtype))
    assert z.shape == (0, 4)
    np.testing.assert_array_equal(dnnx.matmul(np.ones((2, 0), dtype), np.ones((0, 3), dtype)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="contracted dimensions disagree"):
        dnnx.matmul(np.ones((2, 3), dtype), np.ones((4, 3), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_byte_swapped_operands(dtype):
    # '>f4' shares float32's type number but not its byte order: never read it as native.
    r = np.random.default_rng(3)
    a = r.standard_normal((5, 7)).astype(dtype)
    b = r.standard_normal((7, 3)).astype(dtype)
    want = a @ b
    swapped = np.dtype(dtype).newbyteorder()
    np.testing.assert_allclose(dnnx.matmul(a.astype(swapped), b), want, rtol=1e-5)
    np.testing.assert_allclose(dnnx.matmul(a, b.astype(swapped)), want, rtol=1e-5)
    with pytest.raises(TypeError, match="out must have dtype"):
        dnnx.matmul(a, b, out=np.empty((5, 3), swapped))


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_fast_path(dtype):
    # 2-D operands with a contiguous out: written in place and returned; out viewing an
    # operand, or non-contiguous, takes the general path (same values).
    r = np.random.default_rng(4)
    a = r.standard_normal((6, 6)).astype(dtype)
    b = r.standard_normal((6, 6)).astype(dtype)
    want = a @ b
    out = np.full((6, 6), np.nan, dtype)
    assert dnnx.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, want, rtol=1e-5)
    a2 = a.copy()
    assert dnnx.matmul(a2, b, out=a2) is a2  # out aliases a: computed aside, then copied
    np.testing.assert_allclose(a2, want, rtol=1e-5)
    big = np.full((6, 12), np.nan, dtype)
    dnnx.matmul(a, b.T, out=big[:, ::2])
    np.testing.assert_allclose(big[:, ::2], a @ b.T, rtol=1e-5)
    assert np.isnan(big[:, 1::2]).all()
