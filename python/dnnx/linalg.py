"""NumPy interop: matrix products on dnnx's GEMM engine."""

from __future__ import annotations

from . import _core

_matmul = _core.matmul


def matmul(a, b, out=None):
    """Matrix product with ``numpy.matmul`` semantics, on dnnx's GEMM engine.

    ``C[..., i, j] = sum_p A[..., i, p] * B[..., p, j]``

    Args:
        a, b: float32 or float64 array-likes (mixed inputs give float64, as NumPy).
            1-D operands are promoted as in ``np.matmul``; batch dimensions broadcast.
        out: optional array of the result's dtype and shape, overwritten in place
            (whatever it held, NaN included) and returned.

    Returns:
        The product (a NumPy scalar for 1-D @ 1-D, as NumPy).

    Raises:
        TypeError: an operand is not float32/float64, or ``out`` has the wrong dtype.
        ValueError: the contracted or batch dimensions disagree, or ``out`` has the wrong shape.

    C-contiguous inputs and transposed views are used in place (a transpose is a flag
    to the kernel, not a copy); other strides are copied once. The GIL is released.

    Example:
        >>> import numpy as np, dnnx
        >>> dnnx.matmul(np.ones((2, 3), np.float32), np.ones((3, 4), np.float32)).shape
        (2, 4)
    """
    # Everything (array-likes, byte order, dtypes, shapes) is checked in C++: this wrapper
    # only passes `out` positionally, which pybind11 parses ~0.13 us faster than a keyword.
    return _matmul(a, b, out)
