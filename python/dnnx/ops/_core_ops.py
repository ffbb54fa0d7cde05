"""The dnnx.ops functions (Keras 3 ``keras.ops`` names and arguments).

Each function works on symbolic tensors (``KerasTensor`` from ``dnnx.Input`` and layer
calls: it records an op node, see ``dnnx._op``) and eagerly on NumPy arrays and Python
scalars (it returns a NumPy array with NumPy/Keras semantics). A call mixing both treats
the arrays as constants of the graph.

What the core can represent: a tensor is (batch, *dims); ops act on the per-sample axes
and never mix samples, except that ``sum``/``mean`` over every axis (``axis=None``) give
the batch-wide scalar a loss is made of (usable in a loss function, ``add_loss``, scaled
by numbers and added to one another). Anything else (reducing or transposing the batch
axis, a constant whose leading axis is not 1 against the batch) raises a ValueError that
says so.
"""

from __future__ import annotations

import builtins
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .._layer import KerasTensor, is_int_dtype
from .._op import flat, op_node, param_node, per_sample, stores_ids
from .._variable import Variable

_FLOATS = ("float16", "float32", "float64", "bfloat16")


def _sym(*xs) -> bool:
    return any(isinstance(x, KerasTensor) for x in xs)


def _check_batchwise(name: str, *xs) -> None:
    for x in xs:
        if isinstance(x, KerasTensor) and x._batch_reduce is not None:
            raise ValueError(f"ops.{name}: its input is a batch-wide reduction (ops.sum/ops.mean over every axis, "
                             f"batch included), which can only be scaled by numbers, added to another one, or used "
                             f"as a loss; reduce over the per-sample axes (axis=...) to keep the batch axis")


def _float_dtype(*xs) -> str:
    for x in xs:
        if isinstance(x, KerasTensor) and x.dtype in _FLOATS:
            return x.dtype
    return "float32"


def _no_ids(name: str, x: KerasTensor) -> None:
    if stores_ids(x):
        raise TypeError(f"ops.{name}: {x.name!r} is an integer model input (IDs); cast it first with "
                        f"ops.cast(x, 'float32'), or feed it to an Embedding")


def _unary(op: str, x: KerasTensor, a: float = 0.0, b: float = 0.0, name: Optional[str] = None,
           dtype: Optional[str] = None) -> KerasTensor:
    _check_batchwise(name or op, x)
    _no_ids(name or op, x)
    spec = {"type": "op", "op": op, "a": float(a), "b": float(b)}
    out_dtype = dtype or (x.dtype if x.dtype in _FLOATS else _float_dtype(x))
    return op_node(name or op, [x], spec, x.shape, out_dtype)


def _constant(v, name: str) -> np.ndarray:
    if isinstance(v, KerasTensor):
        raise TypeError(f"ops.{name}: internal error, not a constant")
    if isinstance(v, Variable):
        raise TypeError(f"ops.{name}: weight {v.path!r} cannot be an operand of ops.{name} on a symbolic tensor "
                        f"(it would become a constant that never trains); weights can be the right operand of "
                        f"ops.matmul / ops.dot (x @ w) and an operand of the elementwise ops (add, subtract, "
                        f"multiply, divide, maximum, minimum, power, where, comparisons)")
    a = np.asarray(v)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"ops.{name}: operands must be tensors, numbers or numeric arrays; received {type(v).__name__}")
    return a.astype(np.float64)


def _broadcast(op: str, operands: Sequence, name: Optional[str] = None, dtype: Optional[str] = None) -> KerasTensor:
    """An n-ary elementwise op with NumPy broadcasting over the per-sample axes."""
    name = name or op
    _check_batchwise(name, *operands)
    tensors = [x for x in operands if isinstance(x, KerasTensor)]
    for t in tensors:
        _no_ids(name, t)
    ranks = {t.ndim for t in tensors}
    if len(ranks) > 1:
        raise ValueError(f"ops.{name}: symbolic operands must have the same rank (their batch axes align); "
                         f"received shapes {[t.shape for t in tensors]}. Use ops.expand_dims or ops.reshape first")
    rank = ranks.pop() - 1  # per-sample rank
    shapes = []
    consts = []
    variables: list = []  # the weights among the operands: parameters of the node
    slots = []  # per operand: its variable's index in variables, or None
    for x in operands:
        slots.append(None)
        if isinstance(x, KerasTensor):
            shapes.append(per_sample(x))
            consts.append(None)
            continue
        if isinstance(x, Variable):
            vs = x.shape
            if len(vs) > rank + 1 or (len(vs) == rank + 1 and vs[0] != 1):
                raise ValueError(f"ops.{name}: weight {x.path!r} of shape {vs} cannot broadcast against a tensor of "
                                 f"shape {tensors[0].shape}: its leading axis would be the batch axis; a weight "
                                 f"needs at most {rank} axes (or a leading 1)")
            vs = vs[1:] if len(vs) == rank + 1 else vs
            if not any(x is v for v in variables):
                variables.append(x)
            slots[-1] = next(i for i, v in enumerate(variables) if v is x)
            shapes.append((1,) * (rank - len(vs)) + tuple(vs))
            consts.append(None)
            continue
        c = _constant(x, name)
        if c.ndim > rank + 1 or (c.ndim == rank + 1 and c.shape[0] != 1):
            raise ValueError(f"ops.{name}: a constant of shape {c.shape} cannot broadcast against a tensor of shape "
                             f"(None, {', '.join(map(str, (tensors[0].shape[1:])))}): its leading axis would be the "
                             f"batch axis; a constant needs at most {rank} axes (or a leading 1)")
        if c.ndim == rank + 1:
            c = c[0]
        c = c.reshape((1,) * (rank - c.ndim) + c.shape)
        shapes.append(c.shape)
        consts.append(c)
    try:
        out = tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"ops.{name}: shapes {[(None, *s) if c is None else s for s, c in zip(shapes, consts)]} "
                         f"cannot be broadcast together") from None
    dims = [len(operands), rank, *out]
    values: List[float] = []
    for s, c, slot in zip(shapes, consts, slots):
        st, step = [], 1
        for d in reversed(s):
            st.append(step if d > 1 else 0)
            step *= d
        st = list(reversed(st))
        for a in range(rank):
            if s[a] == 1:
                st[a] = 0
        if slot is not None:
            dims.append(-2 - slot)
        elif c is None:
            dims.append(-1)
        else:
            dims.append(len(values))
            values.extend(float(v) for v in c.reshape(-1))
        dims.extend(st)
    spec = {"type": "op", "op": op, "dims": dims, "values": values}
    if variables:
        return param_node(name, tensors, spec, (None, *out), dtype or _float_dtype(*tensors), variables)
    return op_node(name, tensors, spec, (None, *out), dtype or _float_dtype(*tensors))


def _scalar(v) -> Optional[float]:
    """v as a Python float when it is a number (or a 0-d array), else None."""
    if isinstance(v, (bool, np.bool_)):
        return float(v)
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "biuf":
        return float(v)
    return None


def _batchwise_linear(op: str, x1, x2):
    """+, -, *, / on batch-wide reductions (ops.mean / ops.sum over every axis)."""
    a, b = (x1._batch_reduce if isinstance(x1, KerasTensor) else None,
            x2._batch_reduce if isinstance(x2, KerasTensor) else None)
    s1, s2 = _scalar(x1), _scalar(x2)
    kind = a or b
    if op in ("multiply", "divide") and (a is None) != (b is None) and (s2 is not None or (op == "multiply" and s1 is not None)):
        t, s = (x1, s2) if a else (x2, s1)
        f = s if op == "multiply" else 1.0 / s
        return op_node(op, [t], {"type": "op", "op": "multiply_scalar", "a": f}, (), t.dtype, batch_reduce=kind)
    if op in ("add", "subtract") and a is not None and b is not None and a == b:
        spec = {"type": "op", "op": op, "dims": [2, 0, -1, -1], "values": []}
        return op_node(op, [x1, x2], spec, (), x1.dtype, batch_reduce=kind)
    if op in ("add", "subtract") and kind == "mean" and (s1 is not None or s2 is not None):
        t = x1 if a else x2
        s = s2 if a else s1
        if op == "add":
            return op_node(op, [t], {"type": "op", "op": "add_scalar", "a": s}, (), t.dtype, batch_reduce=kind)
        if a:  # mean(x) - s
            return op_node(op, [t], {"type": "op", "op": "add_scalar", "a": -s}, (), t.dtype, batch_reduce=kind)
        return op_node(op, [t], {"type": "op", "op": "rsubtract_scalar", "a": s}, (), t.dtype, batch_reduce=kind)
    raise ValueError(f"ops.{op}: an operand is a batch-wide reduction (ops.{kind} over every axis, batch included); "
                     f"such a scalar can only be multiplied or divided by numbers, added to or subtracted from "
                     f"another of its kind{', or shifted by a number' if kind == 'mean' else ''}. Reduce over the "
                     f"per-sample axes (axis=...) instead")


def _binary(op: str, scalar_op, rscalar_op, x1, x2, eager):
    if not _sym(x1, x2):
        return np.asarray(eager(np.asarray(x1), np.asarray(x2)))
    if (isinstance(x1, KerasTensor) and x1._batch_reduce) or (isinstance(x2, KerasTensor) and x2._batch_reduce):
        return _batchwise_linear(op, x1, x2)
    s1, s2 = _scalar(x1), _scalar(x2)
    if s2 is not None and scalar_op is not None:
        return _unary(scalar_op[0], x1, scalar_op[1](s2), name=op)
    if s1 is not None and rscalar_op is not None:
        return _unary(rscalar_op[0], x2, rscalar_op[1](s1), name=op)
    return _broadcast(op, [x1, x2])


# -- arithmetic ------------------------------------------------------------------------
def add(x1, x2):
    """``x1 + x2`` with broadcasting."""
    return _binary("add", ("add_scalar", lambda s: s), ("add_scalar", lambda s: s), x1, x2, np.add)


def subtract(x1, x2):
    """``x1 - x2`` with broadcasting."""
    return _binary("subtract", ("add_scalar", lambda s: -s), ("rsubtract_scalar", lambda s: s), x1, x2, np.subtract)


def multiply(x1, x2):
    """``x1 * x2`` with broadcasting."""
    return _binary("multiply", ("multiply_scalar", lambda s: s), ("multiply_scalar", lambda s: s), x1, x2,
                   np.multiply)


def divide(x1, x2):
    """``x1 / x2`` with broadcasting (true division)."""
    return _binary("divide", None, ("rdivide_scalar", lambda s: s), x1, x2, np.true_divide)


true_divide = divide


def power(x1, x2):
    """``x1 ** x2`` with broadcasting."""
    return _binary("power", ("power_scalar", lambda s: s), ("rpower_scalar", lambda s: s), x1, x2, np.power)


def maximum(x1, x2):
    """Elementwise maximum (NaN propagates)."""
    return _binary("maximum", ("maximum_scalar", lambda s: s), ("maximum_scalar", lambda s: s), x1, x2, np.maximum)


def minimum(x1, x2):
    """Elementwise minimum (NaN propagates)."""
    return _binary("minimum", ("minimum_scalar", lambda s: s), ("minimum_scalar", lambda s: s), x1, x2, np.minimum)


def _unary_fn(op: str, eager, doc: str):
    def f(x):
        if not _sym(x):
            return np.asarray(eager(np.asarray(x)))
        if op == "negative" and x._batch_reduce is not None:
            return _batchwise_linear("multiply", x, -1.0)
        return _unary(op, x)
    f.__name__ = op
    f.__doc__ = doc
    return f


negative = _unary_fn("negative", np.negative, "``-x``.")
square = _unary_fn("square", np.square, "``x * x``.")
sqrt = _unary_fn("sqrt", np.sqrt, "Square root.")
abs = _unary_fn("abs", np.abs, "Absolute value.")  # noqa: A001 (Keras's name)
absolute = abs
exp = _unary_fn("exp", np.exp, "``e ** x``.")
log = _unary_fn("log", np.log, "Natural logarithm.")
log1p = _unary_fn("log1p", np.log1p, "``log(1 + x)``.")
expm1 = _unary_fn("expm1", np.expm1, "``exp(x) - 1``.")
sign = _unary_fn("sign", np.sign, "-1, 0 or 1 (no gradient).")
reciprocal = _unary_fn("reciprocal", np.reciprocal, "``1 / x``.")


def clip(x, x_min, x_max):
    """``min(max(x, x_min), x_max)``; the gradient is 1 inside [x_min, x_max], 0 outside."""
    if not _sym(x):
        return np.asarray(np.clip(np.asarray(x), x_min, x_max))
    lo, hi = _scalar(x_min), _scalar(x_max)
    if lo is None or hi is None:
        return minimum(maximum(x, x_min), x_max)
    return _unary("clip", x, lo, hi)


def where(condition, x1=None, x2=None):
    """``x1`` where ``condition`` is true (nonzero), else ``x2``; broadcasting."""
    if x1 is None or x2 is None:
        raise ValueError("ops.where: give both x1 and x2 (the one-argument form returns indices, which a symbolic "
                         "graph cannot hold)")
    if not _sym(condition, x1, x2):
        return np.asarray(np.where(np.asarray(condition), np.asarray(x1), np.asarray(x2)))
    return _broadcast("where", [condition, x1, x2])


def _comparison(op: str, eager):
    def f(x1, x2):
        if not _sym(x1, x2):
            return np.asarray(eager(np.asarray(x1), np.asarray(x2)))
        return _broadcast(op, [x1, x2], dtype="bool")
    f.__name__ = op
    f.__doc__ = f"Elementwise ``{op}`` with broadcasting: a bool tensor (1 or 0 in the core; no gradient)."
    return f


greater = _comparison("greater", np.greater)
greater_equal = _comparison("greater_equal", np.greater_equal)
less = _comparison("less", np.less)
less_equal = _comparison("less_equal", np.less_equal)
equal = _comparison("equal", np.equal)
not_equal = _comparison("not_equal", np.not_equal)


def _truth(x):
    return not_equal(x, 0.0)


def logical_and(x1, x2):
    """Elementwise ``x1 and x2`` (nonzero is true): a bool tensor, no gradient."""
    if not _sym(x1, x2):
        return np.asarray(np.logical_and(np.asarray(x1), np.asarray(x2)))
    return _broadcast("multiply", [_truth(x1), _truth(x2)], name="logical_and", dtype="bool")


def logical_or(x1, x2):
    """Elementwise ``x1 or x2`` (nonzero is true): a bool tensor, no gradient."""
    if not _sym(x1, x2):
        return np.asarray(np.logical_or(np.asarray(x1), np.asarray(x2)))
    return _broadcast("maximum", [_truth(x1), _truth(x2)], name="logical_or", dtype="bool")


def logical_xor(x1, x2):
    """Elementwise ``x1 xor x2`` (nonzero is true): a bool tensor, no gradient."""
    if not _sym(x1, x2):
        return np.asarray(np.logical_xor(np.asarray(x1), np.asarray(x2)))
    return not_equal(_truth(x1), _truth(x2))


def logical_not(x):
    """Elementwise ``not x`` (nonzero is true): a bool tensor, no gradient."""
    if not _sym(x):
        return np.asarray(np.logical_not(np.asarray(x)))
    return equal(x, 0.0)


# -- reductions ------------------------------------------------------------------------
def _axes(name: str, x: KerasTensor, axis) -> Optional[Tuple[int, ...]]:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -x.ndim <= a < x.ndim:
            raise ValueError(f"ops.{name}: axis {a!r} is out of range for a tensor of shape {x.shape}")
        a = int(a) % x.ndim
        if a == 0:
            raise ValueError(f"ops.{name}: axis 0 is the batch axis; symbolic ops act on each sample (axis >= 1), "
                             f"or on every axis with axis=None (a loss value)")
        out.append(a)
    return tuple(sorted(set(out)))


def _reduce(op: str, x, axis, keepdims, eager):
    if not _sym(x):
        return np.asarray(eager(np.asarray(x), axis=None if axis is None else tuple(np.atleast_1d(axis)),
                                keepdims=keepdims))
    _check_batchwise(op, x)
    _no_ids(op, x)
    axes = _axes(op, x, axis)
    if axes is None:
        if op not in ("sum", "mean"):
            raise ValueError(f"ops.{op}: axis=None reduces the batch axis too, which only sum and mean can (as a "
                             f"loss value); give the per-sample axes, e.g. axis=-1")
        if keepdims:
            raise ValueError(f"ops.{op}: axis=None with keepdims=True would keep a batch axis of size 1; use "
                             f"keepdims=False")
        w = flat(per_sample(x))
        # mean over everything = mean over the batch of each sample's mean
        return op_node(op, [x], {"type": "op", "op": op, "dims": [1, w, 1]}, (), x.dtype, batch_reduce=op)
    t = x
    shape = list(x.shape)
    for a in reversed(axes):  # one node per axis (the last first keeps earlier axes' indices valid)
        s = t.shape
        outer, mid, inner = flat(s[1:a]), s[a], flat(s[a + 1:])
        new = s[:a] + s[a + 1:]
        t = op_node(op, [t], {"type": "op", "op": op, "dims": [outer, mid, inner]}, new, t.dtype)
    if keepdims:
        for a in axes:
            shape[a] = 1
        t = reshape(t, (-1, *shape[1:]))
    return t


def sum(x, axis=None, keepdims=False):  # noqa: A001 (Keras's name)
    """Sum over ``axis`` (an int, a tuple, or None: every axis, batch included)."""
    return _reduce("sum", x, axis, keepdims, np.sum)


def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (an int, a tuple, or None: every axis, batch included)."""
    return _reduce("mean", x, axis, keepdims, np.mean)


def max(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    """Maximum over ``axis`` (per-sample axes when symbolic); gradient to the first maximum."""
    if initial is not None:
        raise ValueError("ops.max: initial is not supported")
    return _reduce("max", x, axis, keepdims, np.max)


def min(x, axis=None, keepdims=False, initial=None):  # noqa: A001
    """Minimum over ``axis`` (per-sample axes when symbolic); gradient to the first minimum."""
    if initial is not None:
        raise ValueError("ops.min: initial is not supported")
    return _reduce("min", x, axis, keepdims, np.min)


amax, amin = max, min


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x), axis))``, computed stably."""
    if not _sym(x):
        x = np.asarray(x)
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        r = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        return np.asarray(r if keepdims else np.squeeze(r, axis=axis))
    if axis is None:
        raise ValueError("ops.logsumexp: give the per-sample axis (axis=-1); axis=None would mix samples")
    return _reduce("logsumexp", x, axis, keepdims, None)


# -- products --------------------------------------------------------------------------
def matmul(x1, x2):
    """Matrix product with NumPy's rules. Symbolic forms: ``x @ C`` for a (batch, ..., k)
    tensor and a constant C of shape (k, m) or (k,); per-sample matrices ``a @ b`` for
    (batch, m, k) and (batch, k, p) tensors; ``C @ x`` for a constant (p, k) and a
    (batch, k, m) tensor."""
    if not _sym(x1, x2):
        return np.asarray(np.matmul(np.asarray(x1), np.asarray(x2)))
    _check_batchwise("matmul", x1, x2)
    if isinstance(x1, KerasTensor) and isinstance(x2, KerasTensor):
        _no_ids("matmul", x1)
        _no_ids("matmul", x2)
        if x1.ndim == 3 and x2.ndim == 3 and x1.shape[2] == x2.shape[1]:
            m, k, p = x1.shape[1], x1.shape[2], x2.shape[2]
            return op_node("matmul", [x1, x2], {"type": "op", "op": "matmul", "dims": [m, k, p]}, (None, m, p),
                           _float_dtype(x1, x2))
        raise ValueError(f"ops.matmul: of two symbolic tensors only per-sample matrices (batch, m, k) @ (batch, k, p) "
                         f"can be multiplied; received shapes {x1.shape} and {x2.shape}")
    if isinstance(x1, KerasTensor) and isinstance(x2, Variable):  # x @ w: w a parameter of the node
        _no_ids("matmul", x1)
        k = x1.shape[-1] if x1.ndim >= 2 else None
        if k is None or x2.ndim not in (1, 2) or x2.shape[0] != k:
            raise ValueError(f"ops.matmul: shapes {x1.shape} and {x2.shape} (weight {x2.path!r}) do not align (the "
                             f"weight must be ({k}, m) or ({k},))")
        m = x2.shape[1] if x2.ndim == 2 else 1
        shape = x1.shape[:-1] + ((m,) if x2.ndim == 2 else ())
        return param_node("matmul", [x1], {"type": "op", "op": "matmul_param", "dims": [k, m]}, shape,
                          _float_dtype(x1), [x2], steps=flat(x1.shape[1:-1]))
    if isinstance(x2, KerasTensor) and isinstance(x1, Variable):
        raise ValueError(f"ops.matmul: weight @ tensor (weight {x1.path!r}) is not supported symbolically; store the "
                         f"weight transposed and write x @ w (the weight on the right)")
    if isinstance(x1, KerasTensor):
        _no_ids("matmul", x1)
        c = _constant(x2, "matmul")
        if x1.ndim < 2:
            raise ValueError(f"ops.matmul: a tensor of shape {x1.shape} has no per-sample axis to multiply")
        k = x1.shape[-1]
        if c.ndim not in (1, 2) or c.shape[0] != k:
            raise ValueError(f"ops.matmul: shapes {x1.shape} and {c.shape} do not align (the constant must be "
                             f"({k}, m) or ({k},))")
        m = c.shape[1] if c.ndim == 2 else 1
        shape = x1.shape[:-1] + ((m,) if c.ndim == 2 else ())
        return op_node("matmul", [x1], {"type": "op", "op": "matmul_const", "dims": [k, m],
                                        "values": [float(v) for v in c.reshape(-1)]},
                       shape, _float_dtype(x1), steps=flat(x1.shape[1:-1]))
    # constant @ tensor: (C x)^T = x^T C^T per sample
    c = _constant(x1, "matmul")
    if x2.ndim != 3 or c.ndim != 2 or c.shape[1] != x2.shape[1]:
        raise ValueError(f"ops.matmul: constant @ tensor needs a (p, k) constant and a (batch, k, m) tensor; "
                         f"received shapes {c.shape} and {x2.shape}")
    return transpose(matmul(transpose(x2, (0, 2, 1)), c.T), (0, 2, 1))


def dot(x1, x2):
    """NumPy's dot: matmul for these ranks (a vector or matrix second operand)."""
    if not _sym(x1, x2):
        return np.asarray(np.dot(np.asarray(x1), np.asarray(x2)))
    return matmul(x1, x2)


def tensordot(x1, x2, axes=2):
    """Sum of products over ``axes`` (an int: the last axes of x1 with the first of x2, or a
    pair of axis lists). Symbolic: a tensor and a constant (x1 the tensor, whose batch axis
    is not contracted)."""
    if not _sym(x1, x2):
        return np.asarray(np.tensordot(np.asarray(x1), np.asarray(x2), axes=axes))
    if not isinstance(x1, KerasTensor) or isinstance(x2, KerasTensor):
        raise ValueError("ops.tensordot: symbolically, x1 must be the tensor and x2 a constant array")
    c = _constant(x2, "tensordot")
    r = x1.ndim
    if isinstance(axes, (int, np.integer)):
        ax1, ax2 = list(range(r - int(axes), r)), list(range(int(axes)))
    else:
        ax1, ax2 = [list(np.atleast_1d(a)) for a in axes]
    ax1 = [int(a) % r for a in ax1]
    ax2 = [int(a) % c.ndim for a in ax2]
    if 0 in ax1:
        raise ValueError("ops.tensordot: the batch axis (0) of the tensor cannot be contracted")
    if [x1.shape[a] for a in ax1] != [c.shape[a] for a in ax2]:
        raise ValueError(f"ops.tensordot: contracted axes differ in size: {x1.shape} axes {ax1}, {c.shape} axes {ax2}")
    keep1 = [a for a in range(r) if a not in ax1]
    keep2 = [a for a in range(c.ndim) if a not in ax2]
    t = x1 if keep1 + ax1 == list(range(r)) else transpose(x1, keep1 + ax1)
    K = flat([x1.shape[a] for a in ax1])
    outer = [x1.shape[a] for a in keep1[1:]]
    t = reshape(t, (-1, *outer, K)) if t.ndim != len(outer) + 2 or t.shape[-1] != K else t
    cm = np.transpose(c, ax2 + keep2).reshape(K, -1)
    out = matmul(t, cm)
    rest = [c.shape[a] for a in keep2]
    return reshape(out, (-1, *outer, *rest)) if list(out.shape[1:]) != outer + rest else out


# -- shapes ----------------------------------------------------------------------------
def _identity(name: str, x: KerasTensor, shape) -> KerasTensor:
    _check_batchwise(name, x)
    return op_node(name, [x], {"type": "identity"}, shape, x.dtype)


def reshape(x, newshape):
    """Per-sample reshape: ``newshape`` includes the batch axis (-1 or None first, as
    Keras writes (-1, ...)) or, if it has one axis fewer... it must start with -1/None."""
    if not _sym(x):
        return np.asarray(np.reshape(np.asarray(x), newshape))
    newshape = tuple(newshape)
    if not newshape or newshape[0] not in (-1, None):
        raise ValueError(f"ops.reshape: the new shape must keep the batch axis first (-1 or None), e.g. "
                         f"(-1, {flat(per_sample(x))}); received {newshape}")
    rest = list(newshape[1:])
    w = flat(per_sample(x))
    if -1 in rest or None in rest:
        known = flat([d for d in rest if d not in (-1, None)])
        if known == 0 or w % known:
            raise ValueError(f"ops.reshape: cannot reshape {x.shape} to {newshape}")
        rest = [w // known if d in (-1, None) else d for d in rest]
    if flat(rest) != w:
        raise ValueError(f"ops.reshape: cannot reshape {x.shape} ({w} values per sample) to {newshape}")
    return _identity("reshape", x, (None, *rest))


def expand_dims(x, axis):
    """Insert an axis of length 1 at ``axis`` (not before the batch axis)."""
    if not _sym(x):
        return np.asarray(np.expand_dims(np.asarray(x), axis))
    r = x.ndim + 1
    a = int(axis) % r if -r <= axis < r else None
    if a is None or a == 0:
        raise ValueError(f"ops.expand_dims: axis {axis} is out of range or the batch axis for shape {x.shape}")
    s = list(x.shape)
    s.insert(a, 1)
    return _identity("expand_dims", x, tuple(s))


def squeeze(x, axis=None):
    """Drop axes of length 1 (all such per-sample axes when axis is None)."""
    if not _sym(x):
        return np.asarray(np.squeeze(np.asarray(x), axis=axis))
    if axis is None:
        axes = [a for a in range(1, x.ndim) if x.shape[a] == 1]
    else:
        axes = list(_axes("squeeze", x, axis))
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"ops.squeeze: axis {a} of shape {x.shape} has length {x.shape[a]}, not 1")
    return _identity("squeeze", x, tuple(d for a, d in enumerate(x.shape) if a not in axes))


def transpose(x, axes=None):
    """Permute the axes; the batch axis stays first (axes[0] == 0)."""
    if not _sym(x):
        return np.asarray(np.transpose(np.asarray(x), axes))
    _check_batchwise("transpose", x)
    _no_ids("transpose", x)
    r = x.ndim
    axes = list(range(r))[::-1] if axes is None else [int(a) % r for a in axes]
    if sorted(axes) != list(range(r)):
        raise ValueError(f"ops.transpose: axes {axes} are not a permutation of the {r} axes of {x.shape}")
    if axes[0] != 0:
        raise ValueError(f"ops.transpose: the batch axis must stay first (axes[0] == 0); received axes={axes} "
                         f"for shape {x.shape}")
    perm = [a - 1 for a in axes[1:]]
    if perm == list(range(r - 1)):
        return x
    s = list(per_sample(x))
    return op_node("transpose", [x], {"type": "op", "op": "transpose", "dims": [r - 1, *s, *perm]},
                   (None, *[s[p] for p in perm]), x.dtype)


def _join(name: str, xs: List[KerasTensor], axis: int, shapes) -> KerasTensor:
    """Concatenate tensors of (per call) shapes along axis: the core's concatenate layer on
    prod(shape[1:axis]) rows per sample."""
    steps = flat(shapes[0][1:axis])
    out = (*shapes[0][:axis], builtins.sum(s[axis] for s in shapes), *shapes[0][axis + 1:])
    spec = {"type": "concatenate"}
    return op_node(name, xs, spec, out, _float_dtype(*xs), steps=steps)




def concatenate(xs, axis=0):
    """Join tensors along ``axis`` (Keras's default 0 is the batch axis, which a symbolic
    graph cannot join: pass axis=-1 or another per-sample axis)."""
    xs = list(xs)
    if not _sym(*xs):
        return np.asarray(np.concatenate([np.asarray(x) for x in xs], axis=axis))
    if not all(isinstance(x, KerasTensor) for x in xs):
        raise ValueError("ops.concatenate: symbolically, every operand must be a tensor")
    for x in xs:
        _check_batchwise("concatenate", x)
        _no_ids("concatenate", x)
    r = xs[0].ndim
    if any(x.ndim != r for x in xs):
        raise ValueError(f"ops.concatenate: tensors must have the same rank; received {[x.shape for x in xs]}")
    a = int(axis) % r
    if a == 0:
        raise ValueError("ops.concatenate: axis 0 is the batch axis; a symbolic graph joins samples' features "
                         "(axis=-1 or another per-sample axis)")
    for x in xs[1:]:
        if x.shape[:a] + x.shape[a + 1:] != xs[0].shape[:a] + xs[0].shape[a + 1:]:
            raise ValueError(f"ops.concatenate: shapes must match except along axis {axis}; received "
                             f"{[x.shape for x in xs]}")
    if len(xs) == 1:
        return xs[0]
    return _join("concatenate", xs, a, [x.shape for x in xs])


def stack(x, axis=0):
    """Stack tensors of one shape along a new ``axis`` (not the batch axis)."""
    xs = list(x)
    if not _sym(*xs):
        return np.asarray(np.stack([np.asarray(v) for v in xs], axis=axis))
    if not all(isinstance(v, KerasTensor) for v in xs):
        raise ValueError("ops.stack: symbolically, every operand must be a tensor")
    s0 = xs[0].shape
    for v in xs:
        _check_batchwise("stack", v)
        _no_ids("stack", v)
        if v.shape != s0:
            raise ValueError(f"ops.stack: tensors must have one shape; received {[v.shape for v in xs]}")
    r = len(s0) + 1
    a = int(axis) % r
    if a == 0:
        raise ValueError("ops.stack: axis 0 is the batch axis; stack along a per-sample axis (axis=1 or -1)")
    expanded = s0[:a] + (1,) + s0[a:]
    if len(xs) == 1:
        return expand_dims(xs[0], a)
    return _join("stack", xs, a, [expanded] * len(xs))


def take(x, indices, axis=None):
    """Elements of ``x`` at constant ``indices`` along ``axis`` (a per-sample axis)."""
    if not _sym(x, indices):
        return np.asarray(np.take(np.asarray(x), np.asarray(indices), axis=axis))
    if isinstance(indices, KerasTensor):
        raise ValueError("ops.take: symbolic indices are not supported (use layers.Embedding to look up rows by ID)")
    _check_batchwise("take", x)
    _no_ids("take", x)
    if axis is None:
        raise ValueError("ops.take: axis=None flattens the batch axis too; give a per-sample axis")
    a = _axes("take", x, axis)[0]
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"ops.take: indices must be integers; received dtype {idx.dtype}")
    n = x.shape[a]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"ops.take: indices must be in [-{n}, {n}) for axis {a} of {x.shape}; received "
                         f"{idx.min()} .. {idx.max()}")
    idx = np.where(idx < 0, idx + n, idx)
    s = x.shape
    dims = [flat(s[1:a]), n, flat(s[a + 1:]), *[int(i) for i in idx.reshape(-1)]]
    if idx.size == 0:
        raise ValueError("ops.take: indices must not be empty")
    return op_node("take", [x], {"type": "op", "op": "take", "dims": dims}, s[:a] + idx.shape + s[a + 1:], x.dtype)


def _getitem(x: KerasTensor, key):
    """``x[:, i]``, ``x[:, a:b]``, ``x[..., k]``: basic indexing that keeps the batch axis."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        fill = x.ndim - (len(key) - 1 - builtins.sum(k is None for k in key))
        key = key[:i] + (slice(None),) * fill + key[i + 1:]
    if not key or key[0] != slice(None):
        raise ValueError(f"indexing a symbolic tensor must keep the batch axis whole (x[:, ...]); received {key!r}")
    t, axis = x, 1
    for k in key[1:]:
        if k is None:
            t = expand_dims(t, axis)
            axis += 1
            continue
        if isinstance(k, slice):
            idx = np.arange(t.shape[axis])[k]
            if len(idx) != t.shape[axis]:
                t = take(t, idx, axis=axis)
            axis += 1
            continue
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            t = take(t, np.int64(k), axis=axis)
            continue
        raise TypeError(f"indexing a symbolic tensor takes ints, slices, None and ...; received {k!r}")
    return t


def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """``x``'s integer values as one-hot vectors of ``num_classes`` along a new last axis
    (zeros for a value outside [0, num_classes))."""
    if sparse:
        raise ValueError("ops.one_hot: sparse=True is not supported")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"ops.one_hot: num_classes must be a positive int; received {num_classes!r}")
    if not _sym(x):
        v = np.asarray(x)
        out = (v[..., None] == np.arange(num_classes)).astype(dtype or "float32")
        return np.moveaxis(out, -1, axis) if axis != -1 else out
    _check_batchwise("one_hot", x)
    out = op_node("one_hot", [x], {"type": "op", "op": "one_hot", "dims": [int(num_classes)], "ids": stores_ids(x)},
                  x.shape + (int(num_classes),), dtype if dtype in _FLOATS else _float_dtype(x))
    if axis != -1:
        r = out.ndim
        a = int(axis) % r
        perm = list(range(r - 1))
        perm.insert(a, r - 1)
        out = transpose(out, perm)
    return out


def cast(x, dtype):
    """``x`` as ``dtype``. Symbolic: integer model inputs (IDs) to a float dtype; floats to
    an integer dtype (truncated toward zero, no gradient); float to float is the identity
    (a model computes in one dtype)."""
    dt = np.dtype(dtype).name if not (isinstance(dtype, str) and dtype == "bfloat16") else "bfloat16"
    if not _sym(x):
        return np.asarray(np.asarray(x).astype(dt))
    _check_batchwise("cast", x)
    if is_int_dtype(dt):
        if is_int_dtype(x.dtype):
            return x
        return op_node("cast", [x], {"type": "op", "op": "trunc"}, x.shape, dt)
    if stores_ids(x):
        return op_node("cast", [x], {"type": "op", "op": "cast_ids", "ids": True}, x.shape, dt)
    if is_int_dtype(x.dtype):
        return op_node("cast", [x], {"type": "identity"}, x.shape, dt)
    return x


def convert_to_tensor(x, dtype=None):
    """A tensor stays as it is; anything else becomes a NumPy array."""
    if isinstance(x, KerasTensor):
        return x if dtype is None else cast(x, dtype)
    return np.asarray(x, dtype=dtype)


def shape(x):
    """The shape (None for the batch axis of a symbolic tensor)."""
    return tuple(x.shape) if isinstance(x, KerasTensor) else np.shape(x)


# -- activations (also in ops.nn) ------------------------------------------------------
def _activation(name: str, x, axis: int = -1, alpha: Optional[float] = None, op_name: Optional[str] = None):
    """The core's Activation layer (fused SIMD kernels) on the last axis."""
    _check_batchwise(op_name or name, x)
    _no_ids(op_name or name, x)
    spec = {"type": "activation", "activation": name}
    if alpha is not None:
        spec["activation_alpha"] = float(alpha)
    steps = flat(x.shape[1:-1]) if x.ndim > 1 else 1
    return op_node(op_name or name, [x], spec, x.shape, _float_dtype(x), steps=steps)


def _sigmoid_np(x):
    x = np.asarray(x)
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


def _softmax_np(x, axis=-1):
    x = np.asarray(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def relu(x):
    """``max(x, 0)``."""
    return np.asarray(np.maximum(np.asarray(x), 0)) if not _sym(x) else _activation("relu", x)


def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return np.asarray(_sigmoid_np(x)) if not _sym(x) else _activation("sigmoid", x)


def tanh(x):
    """Hyperbolic tangent."""
    return np.asarray(np.tanh(np.asarray(x))) if not _sym(x) else _activation("tanh", x)


def _axis_of(name: str, x: KerasTensor, axis) -> int:
    if axis is None:
        raise ValueError(f"ops.{name}: axis=None would normalize across samples; give a per-sample axis")
    return _axes(name, x, axis)[0]


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, computed stably."""
    if not _sym(x):
        return np.asarray(_softmax_np(x, axis))
    a = _axis_of("softmax", x, axis)
    if a == x.ndim - 1:
        return _activation("softmax", x)
    s = x.shape
    return op_node("softmax", [x], {"type": "op", "op": "softmax", "dims": [flat(s[1:a]), s[a], flat(s[a + 1:])]},
                   s, x.dtype)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x, axis)``."""
    if not _sym(x):
        x = np.asarray(x)
        return np.asarray(x - logsumexp(x, axis=axis, keepdims=True))
    a = _axis_of("log_softmax", x, axis)
    if a == x.ndim - 1:
        return _activation("log_softmax", x)
    s = x.shape
    return op_node("log_softmax", [x], {"type": "op", "op": "log_softmax",
                                        "dims": [flat(s[1:a]), s[a], flat(s[a + 1:])]}, s, x.dtype)
