"""Python operators on symbolic tensors (``x + 1``, ``a * b``, ``-x``, ``x @ w``, ``x[:, 0]``):
each is the ``dnnx.ops`` function of the same meaning (imported when first used, so this
module imports nothing)."""

from __future__ import annotations


def _ops():
    from . import ops
    return ops


def ufunc_op(ufunc):
    """The dnnx.ops function of a NumPy ufunc that a Python operator calls (``ndarray +
    tensor`` calls ``np.add``), or None."""
    import numpy as np
    ops = _ops()
    return {np.add: ops.add, np.subtract: ops.subtract, np.multiply: ops.multiply, np.true_divide: ops.divide,
            np.power: ops.power, np.matmul: ops.matmul, np.negative: ops.negative, np.absolute: ops.abs,
            np.greater: ops.greater, np.greater_equal: ops.greater_equal, np.less: ops.less,
            np.less_equal: ops.less_equal}.get(ufunc)


class TensorOperators:
    """Mixin of KerasTensor: NumPy's arithmetic operators, recorded as op nodes."""

    def __add__(self, other): return _ops().add(self, other)
    def __radd__(self, other): return _ops().add(other, self)
    def __sub__(self, other): return _ops().subtract(self, other)
    def __rsub__(self, other): return _ops().subtract(other, self)
    def __mul__(self, other): return _ops().multiply(self, other)
    def __rmul__(self, other): return _ops().multiply(other, self)
    def __truediv__(self, other): return _ops().divide(self, other)
    def __rtruediv__(self, other): return _ops().divide(other, self)
    def __pow__(self, other): return _ops().power(self, other)
    def __rpow__(self, other): return _ops().power(other, self)
    def __matmul__(self, other): return _ops().matmul(self, other)
    def __rmatmul__(self, other): return _ops().matmul(other, self)
    def __neg__(self): return _ops().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _ops().abs(self)
    def __gt__(self, other): return _ops().greater(self, other)
    def __ge__(self, other): return _ops().greater_equal(self, other)
    def __lt__(self, other): return _ops().less(self, other)
    def __le__(self, other): return _ops().less_equal(self, other)
    # Keras's KerasTensor: != is ops.not_equal (== stays identity, so tensors hash and compare as
    # objects); & | ^ ~ are the logical ops.
    def __ne__(self, other): return _ops().not_equal(self, other)
    def __and__(self, other): return _ops().logical_and(self, other)
    def __rand__(self, other): return _ops().logical_and(other, self)
    def __or__(self, other): return _ops().logical_or(self, other)
    def __ror__(self, other): return _ops().logical_or(other, self)
    def __xor__(self, other): return _ops().logical_xor(self, other)
    def __rxor__(self, other): return _ops().logical_xor(other, self)
    def __invert__(self): return _ops().logical_not(self)
    def __getitem__(self, key): return _ops()._getitem(self, key)
