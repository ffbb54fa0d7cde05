import numpy as np
import pytest

import dnnx
from dnnx import _core


@pytest.fixture(params=list(_core.available_kernels()))
def kernel(request):
    """Run the test once per GEMM kernel this CPU supports; restore the default after."""
    before = _core.active_kernel()
    _core.set_kernel(request.param)
    yield request.param
    _core.set_kernel(before)


@pytest.fixture
def threads():
    """Restore dnnx's thread count after a test that changes it."""
    before = dnnx.get_num_threads()
    yield
    dnnx.set_num_threads(before)


def rel_err(x, ref):
    ref = np.asarray(ref, np.float64)
    x = np.asarray(x, np.float64)
    scale = max(1e-30, float(np.max(np.abs(ref)))) if ref.size else 1.0
    return float(np.max(np.abs(x - ref))) / scale if ref.size else 0.0


def tol(dtype, k):
    eps = np.finfo(dtype).eps
    return 8 * eps * max(1.0, np.sqrt(k)) * 4
