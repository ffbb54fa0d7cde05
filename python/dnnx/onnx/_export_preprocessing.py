"""ONNX converters of the preprocessing layers (registered in ``_export_ops.CONVERTERS``), so
an exported model takes the same raw columns as ``model.predict``: strings included.

- Normalization: ``Sub`` + ``Div`` (``Mul`` + ``Add`` inverted) by the stored statistics.
- CategoryEncoding: ``OneHot`` (then ``ReduceMax`` for multi_hot, ``ReduceSum`` for count).
- Discretization: the bucket is ``ReduceSum(Cast(x >= boundaries))`` (``np.digitize``).
- StringLookup / IntegerLookup: ``ai.onnx.ml`` ``LabelEncoder`` (opset 2) from each token to
  its index, the OOV index as the default (IntegerLookup with several OOV indices adds
  ``Mod`` for the unknown values). A mask token is one more key.
- NumericColumn: ``IsNaN`` + ``Where`` (imputation), the indicator as ``Cast(IsNaN)``, and the
  quantile transform as two piecewise-linear interpolations (scikit-learn's tie rule),
  each a bucket search (``GreaterOrEqual`` + ``ReduceSum``) and two ``Gather``.

What ONNX does differently: an out-of-range ID gives a zero row in ``OneHot`` where dnnx
raises, an unknown value with ``num_oov_indices=0`` gives index -1 where dnnx raises, and
Discretization puts NaN in bucket 0 where ``np.digitize`` puts it in the last.
"""

from __future__ import annotations

import numpy as np

from ._common import elem_type
from ._export_ops import register

_EPSILON = 1e-7  # keras.backend.epsilon(), as cpp/src/nn/layers/normalization.cpp


def _int64(ctx, base: str, value) -> str:
    return ctx.const(base, np.asarray(value, np.int64))


def _reduce(ctx, op: str, x: str, axis: int, out, keepdims: int = 0) -> str:
    """ReduceSum takes its axes as an input from opset 13, the other reductions from 18."""
    if op == "ReduceSum" or ctx.opset >= 18:
        return ctx.node(op, [x, _int64(ctx, "axes", [axis])], out, keepdims=keepdims)
    return ctx.node(op, [x], out, axes=[axis], keepdims=keepdims)


def _encode(ctx, idx: str, depth: int, mode: str, in_shape, out) -> str:
    """Int64 indices (Keras shape ``in_shape``) as one_hot / multi_hot / count floats; an
    index outside [0, depth) (a dropped mask) contributes nothing."""
    values = ctx.const("onehot_values", np.array([0, 1], ctx.dtype))
    rank = len(in_shape)
    if mode == "one_hot":
        if rank > 1 and in_shape[-1] == 1:  # (batch, 1) -> (batch, depth)
            oh = ctx.node("OneHot", [idx, _int64(ctx, "depth", depth), values], axis=-1)
            return ctx.node("Reshape", [oh, _int64(ctx, "shape", [-1, depth])], out)
        return ctx.node("OneHot", [idx, _int64(ctx, "depth", depth), values], out, axis=-1)
    if rank == 1:  # (batch,) -> (batch, depth): each sample has one ID
        return ctx.node("OneHot", [idx, _int64(ctx, "depth", depth), values], out, axis=-1)
    oh = ctx.node("OneHot", [idx, _int64(ctx, "depth", depth), values], axis=-1)
    return _reduce(ctx, "ReduceMax" if mode == "multi_hot" else "ReduceSum", oh, 1, out)


@register("normalization")
def _normalization(ctx, layer, inputs, shapes, out):
    mean, var = ctx.weights(layer)
    scale = np.maximum(np.sqrt(var.astype(np.float64)), _EPSILON).astype(ctx.dtype)
    m = ctx.const(f"{layer.name}/mean", mean.astype(ctx.dtype))
    s = ctx.const(f"{layer.name}/scale", scale)
    if layer.invert:
        return ctx.node("Add", [ctx.node("Mul", [inputs[0], s]), m], out)
    return ctx.node("Div", [ctx.node("Sub", [inputs[0], m]), s], out)


@register("category_encoding")
def _category_encoding(ctx, layer, inputs, shapes, out):
    return _encode(ctx, inputs[0], layer.num_tokens, layer.output_mode, shapes[0], out)


def _bucket(ctx, x: str, boundaries: np.ndarray) -> str:
    """#{boundaries <= x} per element, int64, x's shape."""
    xu = ctx.node("Unsqueeze", [x, _int64(ctx, "axes", [-1])])
    ge = ctx.node("GreaterOrEqual", [xu, ctx.const("boundaries", boundaries.astype(ctx.dtype))])
    return _reduce(ctx, "ReduceSum", ctx.node("Cast", [ge], to=7), -1, None)  # 7: INT64


@register("discretization")
def _discretization(ctx, layer, inputs, shapes, out):
    if layer.bin_boundaries is None:
        raise ValueError(f"dnnx.onnx.export: Discretization {layer.name!r} has no bin_boundaries (adapt it first)")
    b = np.asarray(layer.bin_boundaries, np.float32)  # dnnx buckets in float32
    if not b.size:
        zero = ctx.node("Cast", [ctx.node("Mul", [inputs[0], ctx.scalar("zero", 0.0)])], to=7)
        idx = zero
    else:
        idx = _bucket(ctx, inputs[0], b)
    if layer.output_mode == "int":
        return ctx.node("Identity", [idx], out)
    return _encode(ctx, idx, layer.depth, layer.output_mode, shapes[0], out)


def _lookup(ctx, layer, inputs, shapes, out, strings: bool):
    layer._check_built()
    vocab = list(layer._vocab.tolist())
    keys = vocab + ([layer.mask_token] if layer.mask_token is not None else [])
    values = [i + layer._token_start() for i in range(len(vocab))]
    if layer.mask_token is not None:
        values.append(0 if layer.output_mode == "int" else layer.depth)  # dropped: outside [0, depth)
    several = not strings and layer.num_oov_indices > 1
    default = layer._oov_start() if layer.num_oov_indices == 1 else -1
    attrs = {"values_int64s": values, "default_int64": default}
    attrs["keys_strings" if strings else "keys_int64s"] = keys if keys else (["\x00"] if strings else [0])
    if not keys:  # an empty vocabulary: a key that no value equals, mapped to the default
        attrs["values_int64s"] = [default]
    idx = ctx.node("LabelEncoder", [inputs[0]], None if several or layer.output_mode != "int" else out,
                   domain="ai.onnx.ml", **attrs)
    ctx.opsets["ai.onnx.ml"] = max(ctx.opsets.get("ai.onnx.ml", 1), 2)
    if several:  # unknown integers: floormod into the OOV indices (Keras's default)
        oov = ctx.node("Add", [ctx.node("Mod", [inputs[0], _int64(ctx, "num_oov", layer.num_oov_indices)]),
                               _int64(ctx, "oov_start", layer._oov_start())])
        miss = ctx.node("Equal", [idx, _int64(ctx, "minus_one", -1)])
        idx = ctx.node("Where", [miss, oov, idx], out if layer.output_mode == "int" else None)
    if layer.output_mode == "int":
        return idx
    return _encode(ctx, idx, layer.depth, layer.output_mode, shapes[0], out)


register("string_lookup")(lambda ctx, layer, inputs, shapes, out: _lookup(ctx, layer, inputs, shapes, out, True))
register("integer_lookup")(lambda ctx, layer, inputs, shapes, out: _lookup(ctx, layer, inputs, shapes, out, False))


def _interp(ctx, v: str, xp: np.ndarray, fp: np.ndarray) -> str:
    """np.interp(v, xp, fp) for sorted xp (values outside clamp to fp's ends)."""
    lo_x, hi_x = ctx.scalar("xp_first", xp[0]), ctx.scalar("xp_last", xp[-1])
    vc = ctx.node("Min", [ctx.node("Max", [v, lo_x]), hi_x])
    if xp.size == 2:
        seg = ctx.node("Cast", [ctx.node("Mul", [vc, ctx.scalar("zero", 0.0)])], to=7)
    else:
        seg = _bucket(ctx, vc, xp[1:-1])  # segment i: xp[i] <= v < xp[i+1]
    x0 = ctx.node("Gather", [ctx.const("xp", xp.astype(ctx.dtype)), seg], axis=0)
    x1 = ctx.node("Gather", [ctx.const("xp_next", xp[1:].astype(ctx.dtype)), seg], axis=0)
    f0 = ctx.node("Gather", [ctx.const("fp", fp.astype(ctx.dtype)), seg], axis=0)
    f1 = ctx.node("Gather", [ctx.const("fp_next", fp[1:].astype(ctx.dtype)), seg], axis=0)
    width = ctx.node("Sub", [x1, x0])
    flat = ctx.node("Equal", [width, ctx.scalar("zero", 0.0)])
    safe = ctx.node("Where", [flat, ctx.scalar("one", 1.0), width])
    t = ctx.node("Div", [ctx.node("Sub", [vc, x0]), safe])
    t = ctx.node("Where", [flat, ctx.scalar("zero", 0.0), t])
    return ctx.node("Add", [f0, ctx.node("Mul", [t, ctx.node("Sub", [f1, f0])])])


@register("numeric_column")
def _numeric_column(ctx, layer, inputs, shapes, out):
    x = inputs[0]
    if len(shapes[0]) == 1:
        x = ctx.node("Unsqueeze", [x, _int64(ctx, "axes", [-1])])
    nan = ctx.node("IsNaN", [x])
    v = ctx.node("Where", [nan, ctx.scalar("fill", layer.fill_value), x],
                 out if layer.quantiles is None and not layer.missing_indicator else None)
    if layer.quantiles is not None:
        q = np.asarray(layer.quantiles, np.float64)
        refs = np.linspace(0.0, 1.0, q.size)
        up = _interp(ctx, v, q, refs)
        down = _interp(ctx, ctx.node("Neg", [v]), -q[::-1], -refs[::-1])
        v = ctx.node("Mul", [ctx.node("Sub", [up, down]), ctx.scalar("half", 0.5)],
                     None if layer.missing_indicator else out)
    if layer.missing_indicator:
        return ctx.node("Concat", [v, ctx.node("Cast", [nan], to=elem_type(ctx.dtype))], out, axis=-1)
    return v
