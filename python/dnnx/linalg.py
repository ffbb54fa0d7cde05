"""NumPy interop: matrix products on dnnx's GEMM engine."""

from __future__ import annotations

import numpy as np

from . import _core


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
    if type(a) is not np.ndarray:
        a = np.asarray(a)
    if type(b) is not np.ndarray:
        b = np.asarray(b)
    if not a.dtype.isnative:  # byte-swapped data (e.g. read from a big-endian file)
        a = a.astype(a.dtype.newbyteorder("="))
    if not b.dtype.isnative:
        b = b.astype(b.dtype.newbyteorder("="))
    return _core.matmul(a, b, out)
