"""ONNX op -> dnnx: one handler per op, ``handler(ctx, node, inputs) -> [output values]``.

``inputs`` are the values of ``node.input`` (``_import.Const`` arrays, ``Sym`` tensors or
``Lin`` pending Dense layers; None for an omitted optional input). A handler fuses into a
``Lin`` only while ``ctx.fusable(name)`` (the value has no other consumer); otherwise it
makes the Dense (``ctx.tensor``) and adds layers with ``ctx.add(LayerClass, inputs, name,
weights, **config)``. The ``dnnx.*`` domain ops are the one-op forms ``_patterns`` writes
for multi-node patterns (SiLU, the Erf GELU, ...).
"""

from __future__ import annotations

import math
from typing import Callable, Dict, Tuple

import numpy as np

from ._import import Const, Lin, Rows, Sym

HANDLERS: Dict[Tuple[str, str], Callable] = {}


def handles(*ops: str, domain: str = ""):
    def deco(fn):
        for op in ops:
            HANDLERS[(domain, op)] = fn
        return fn
    return deco


def _layers():
    from .. import layers
    return layers


def _rank(ctx, node, v) -> int:
    return len(ctx.tensor(node, v).shape) if not isinstance(v, Lin) else len(v.x.shape)


def _last_axis(ctx, node, v, axis: int, what="axis") -> None:
    rank = _rank(ctx, node, v)
    if axis not in (-1, rank - 1):
        ctx.fail(node, f"{what}={axis} on a rank-{rank} input; dnnx applies it to the last axis only")


# -- linear ------------------------------------------------------------------------------
@handles("MatMul")
def _matmul(ctx, node, ins):
    a, b = ins
    if isinstance(b, Const) and not isinstance(a, Const):
        w = b.array
        if w.ndim != 2:
            ctx.fail(node, f"the weight {node.input[1]!r} has shape {w.shape}; a Dense kernel is 2-D")
        x = ctx.tensor(node, a)
        if x.shape[-1] != w.shape[0]:
            ctx.fail(node, f"input features {x.shape[-1]} do not match the weight's {w.shape[0]} rows")
        return [Lin(x, w, None, name=node.output[0])]
    ctx.fail(node, "only x @ W with W a constant weight (a Dense kernel) is supported")


@handles("Gemm")
def _gemm(ctx, node, ins):
    a, b = ins[0], ins[1]
    c = ins[2] if len(ins) > 2 else None
    if ctx.attr(node, "transA", 0):
        ctx.fail(node, "transA=1 (the input transposed) is not a Dense layer")
    if not isinstance(b, Const) or isinstance(a, Const) or (c is not None and not isinstance(c, Const)):
        ctx.fail(node, "only Gemm(x, W, b) with W and b constant weights is supported")
    w = b.array.T if ctx.attr(node, "transB", 0) else b.array
    alpha, beta = ctx.attr(node, "alpha", 1.0), ctx.attr(node, "beta", 1.0)
    if alpha != 1.0:
        w = w * np.asarray(alpha, w.dtype)
    x = ctx.tensor(node, a)
    if len(x.shape) != 2 or x.shape[1] != w.shape[0]:
        ctx.fail(node, f"input shape {x.shape} does not match the weight's {w.shape[0]} rows")
    bias = None
    if c is not None:
        bias = _bias(ctx, node, c.array, w.shape[1])
        if beta != 1.0:
            bias = bias * np.asarray(beta, bias.dtype)
    return [Lin(x, w, bias, name=node.output[0])]


def _bias(ctx, node, c: np.ndarray, units: int):
    """A constant added to (batch, ..., units): one value per unit (or one for all)."""
    if c.size == units and all(d == 1 for d in c.shape[:-1]) and (c.ndim == 0 or c.shape[-1] == units):
        return c.reshape(units)
    if c.size == 1:
        return np.full(units, c.reshape(()), c.dtype)
    ctx.fail(node, f"the constant of shape {c.shape} does not broadcast as one value per unit ({units})")


@handles("Add")
def _add(ctx, node, ins):
    a, b = ins
    if isinstance(a, Const):
        a, b = b, a
        names = node.input[1], node.input[0]
    else:
        names = node.input[0], node.input[1]
    if isinstance(b, Const):
        if isinstance(a, Lin) and a.act is None and ctx.fusable(names[0]):
            c = _bias(ctx, node, b.array, a.kernel.shape[1])
            bias = c if a.bias is None else a.bias + c.astype(a.bias.dtype)
            return [a.but(bias=bias, name=node.output[0])]
        ctx.fail(node, "a constant is added to a tensor that is not the output of MatMul/Gemm (dnnx has no "
                       "bias-only layer)")
    return [Sym(ctx.add(_layers().Add, [ctx.tensor(node, a), ctx.tensor(node, b)], node.output[0]))]


def _merge(layer_name: str):
    def handler(ctx, node, ins):
        if any(isinstance(v, Const) for v in ins):
            ctx.fail(node, "merging with a constant is not supported (dnnx merges computed tensors)")
        ts = [ctx.tensor(node, v) for v in ins]
        if len(ts) == 1:
            return [Sym(ts[0])]
        if any(t.shape != ts[0].shape for t in ts):
            ctx.fail(node, f"inputs of shapes {[t.shape for t in ts]}: dnnx merges equal shapes (no broadcasting)")
        return [Sym(ctx.add(getattr(_layers(), layer_name), ts, node.output[0]))]
    return handler


handles("Sum")(_merge("Add"))
handles("Max")(_merge("Maximum"))
handles("Mean")(_merge("Average"))
handles("Sub")(_merge("Subtract"))


@handles("Mul")
def _mul(ctx, node, ins):
    a, b = ins
    name = node.input[0]
    if isinstance(a, Const):
        a, b, name = b, a, node.input[1]
    if isinstance(b, Const):
        # a per-unit scale after a linear layer (tf2onnx's folded BatchNormalization) folds in
        if isinstance(a, Lin) and a.act is None and ctx.fusable(name):
            s = _bias(ctx, node, b.array, a.kernel.shape[1]).astype(a.kernel.dtype)
            return [a.but(kernel=a.kernel * s, bias=None if a.bias is None else a.bias * s, name=node.output[0])]
        ctx.fail(node, "a tensor is scaled by a constant outside a linear layer (dnnx has no scaling layer)")
    return _merge("Multiply")(ctx, node, ins)


@handles("Div")
def _div(ctx, node, ins):
    a, b = ins
    if isinstance(b, Const) and isinstance(a, Lin) and a.act is None and ctx.fusable(node.input[0]):
        s = (1 / _bias(ctx, node, b.array, a.kernel.shape[1])).astype(a.kernel.dtype)
        return [a.but(kernel=a.kernel * s, bias=None if a.bias is None else a.bias * s, name=node.output[0])]
    ctx.fail(node, "only dividing a linear layer's output by a constant is supported")


# -- activations ---------------------------------------------------------------------------
def _activation(ctx, node, x, spec):
    """``spec`` on value ``x``: fused into a pending Dense when possible, else an Activation layer."""
    if isinstance(x, Lin) and x.act is None and ctx.fusable(node.input[0]):
        return [x.but(act=spec, name=node.output[0])]
    return [Sym(ctx.add(_layers().Activation, ctx.tensor(node, x), node.output[0], activation=spec))]


def _simple(name: str):
    def handler(ctx, node, ins):
        from .. import activations
        return _activation(ctx, node, ins[0], activations.get(name))
    return handler


for _op, _name in [("Relu", "relu"), ("Tanh", "tanh"), ("Sigmoid", "sigmoid"), ("Softplus", "softplus"),
                   ("Softsign", "softsign")]:
    handles(_op)(_simple(_name))
handles("silu", domain="dnnx")(_simple("silu"))
handles("gelu", domain="dnnx")(_simple("gelu"))


@handles("LeakyRelu")
def _leaky_relu(ctx, node, ins):
    from .. import activations
    return _activation(ctx, node, ins[0], activations.leaky_relu(ctx.float_attr(node, "alpha", 0.01)))


@handles("Elu")
def _elu(ctx, node, ins):
    from .. import activations
    return _activation(ctx, node, ins[0], activations.elu(ctx.float_attr(node, "alpha", 1.0)))


@handles("Selu")
def _selu(ctx, node, ins):
    from .. import activations
    alpha, gamma = ctx.attr(node, "alpha", 1.67326319217681884765625), ctx.attr(node, "gamma", 1.05070102214813232421875)
    if not (math.isclose(alpha, 1.6732632423543772, rel_tol=1e-6) and math.isclose(gamma, 1.0507009873554805,
                                                                                  rel_tol=1e-6)):
        ctx.fail(node, f"alpha={alpha}, gamma={gamma}: dnnx's selu has the standard constants only")
    return _activation(ctx, node, ins[0], activations.get("selu"))


@handles("HardSigmoid")
def _hard_sigmoid(ctx, node, ins):
    from .. import activations
    alpha, beta = ctx.attr(node, "alpha", 0.2), ctx.attr(node, "beta", 0.5)
    if not (math.isclose(alpha, 1 / 6, rel_tol=1e-6) and math.isclose(beta, 0.5, rel_tol=1e-6)):
        ctx.fail(node, f"alpha={alpha}, beta={beta}: dnnx's hard_sigmoid (Keras 3, PyTorch) is x/6 + 1/2 "
                       f"(alpha=1/6, beta=0.5)")
    return _activation(ctx, node, ins[0], activations.get("hard_sigmoid"))


@handles("Gelu")
def _gelu(ctx, node, ins):
    from .. import activations
    if ctx.attr(node, "approximate", "none") != "none":
        ctx.fail(node, "approximate='tanh': dnnx's gelu is the exact (erf) form")
    return _activation(ctx, node, ins[0], activations.get("gelu"))


def _softmax(name: str):
    def handler(ctx, node, ins):
        from .. import activations
        rank = _rank(ctx, node, ins[0])
        axis = ctx.attr(node, "axis", -1 if ctx.opset >= 13 else 1)
        if ctx.opset < 13 and rank != 2:
            ctx.fail(node, f"before opset 13 {node.op_type} flattens its input to 2-D; the input has rank {rank}")
        _last_axis(ctx, node, ins[0], axis)
        return _activation(ctx, node, ins[0], activations.get(name))
    return handler


handles("Softmax")(_softmax("softmax"))
handles("LogSoftmax")(_softmax("log_softmax"))


# -- normalization -------------------------------------------------------------------------
@handles("BatchNormalization")
def _batch_normalization(ctx, node, ins):
    x, *params = ins
    if ctx.attr(node, "training_mode", 0) or len([o for o in node.output if o]) > 1:
        ctx.fail(node, "training-mode BatchNormalization (running statistics as outputs) is not an inference graph")
    if not all(isinstance(p, Const) for p in params):
        ctx.fail(node, "scale, bias, mean and variance must be constants")
    rows = isinstance(x, Rows)  # (batch, ..., features) reshaped to (-1, features): the last axis
    t = x.tensor if rows else ctx.tensor(node, x)
    if len(t.shape) != 2 and not rows:
        ctx.fail(node, f"a rank-{len(t.shape)} input is normalized over axis 1 (channels first); dnnx normalizes "
                       f"the last axis")
    n = t.shape[-1]
    arrays = []
    for p, what in zip(params, ("scale", "bias", "mean", "variance")):
        if p.array.size != n:
            ctx.fail(node, f"{what} has {p.array.size} values for {n} features")
        arrays.append(p.array.reshape(n))
    momentum = ctx.float_attr(node, "momentum", 0.9)
    out = ctx.add(_layers().BatchNormalization, t, node.output[0], arrays, epsilon=ctx.float_attr(node, "epsilon", 1e-5),
                  momentum=momentum)
    return [Rows(out) if rows else Sym(out)]


@handles("LayerNormalization")
def _layer_normalization(ctx, node, ins):
    x, scale = ins[0], ins[1]
    bias = ins[2] if len(ins) > 2 else None
    _last_axis(ctx, node, x, ctx.attr(node, "axis", -1))
    if not isinstance(scale, Const) or bias is not None and not isinstance(bias, Const):
        ctx.fail(node, "scale and bias must be constants")
    t = ctx.tensor(node, x)
    n = t.shape[-1]
    weights = [_bias(ctx, node, scale.array, n)] + ([_bias(ctx, node, bias.array, n)] if bias is not None else [])
    out = ctx.add(_layers().LayerNormalization, t, node.output[0], weights,
                  epsilon=ctx.float_attr(node, "epsilon", 1e-5), center=bias is not None)
    return [Sym(out)]


@handles("layer_normalization", domain="dnnx")
def _decomposed_layer_normalization(ctx, node, ins):
    # dnnx.layer_normalization(x, gamma?, beta?) from _patterns
    _last_axis(ctx, node, ins[0], ctx.attr(node, "axis", -1))
    t = ctx.tensor(node, ins[0])
    n = t.shape[-1]
    gamma = ins[1].array if len(ins) > 1 and ins[1] is not None else None
    beta = ins[2].array if len(ins) > 2 and ins[2] is not None else None
    weights = ([_bias(ctx, node, gamma, n)] if gamma is not None else []) + \
              ([_bias(ctx, node, beta, n)] if beta is not None else [])
    out = ctx.add(_layers().LayerNormalization, t, node.output[0], weights,
                  epsilon=ctx.float_attr(node, "epsilon", 1e-5), center=beta is not None, scale=gamma is not None)
    return [Sym(out)]


# -- shapes, embedding, merges ------------------------------------------------------------
@handles("Identity", "Dropout")
def _identity(ctx, node, ins):
    if node.op_type == "Dropout" and len([o for o in node.output if o]) > 1 and ctx.consumers.get(node.output[1]):
        ctx.fail(node, "its mask output is used")
    return [ins[0]]


@handles("Cast")
def _cast(ctx, node, ins):
    from onnx import helper
    to = np.dtype(helper.tensor_dtype_to_np_dtype(ctx.attr(node, "to")))
    t = ctx.tensor(node, ins[0])
    src = np.dtype(t.dtype)
    if to.kind == "f" and src.kind == "f" or to.kind in "iu" and src.kind in "iu":
        return [ins[0]]  # the model has one float dtype (inputs are converted once); IDs stay exact
    ctx.fail(node, f"a cast from {src.name} to {to.name} (dnnx keeps features float and IDs integer)")


@handles("Flatten")
def _flatten(ctx, node, ins):
    axis = ctx.attr(node, "axis", 1)
    t = ctx.tensor(node, ins[0])
    if axis != 1:
        ctx.fail(node, f"axis={axis}; dnnx flattens everything but the batch axis (axis=1)")
    if len(t.shape) == 2:
        return [ins[0]]
    return [Sym(ctx.add(_layers().Flatten, t, node.output[0]))]


@handles("Reshape")
def _reshape(ctx, node, ins):
    x, shape = ins
    if not isinstance(shape, Const):
        ctx.fail(node, "the target shape is computed at run time; dnnx needs a constant shape")
    target = [int(d) for d in shape.array.reshape(-1)]
    if isinstance(x, Rows):  # back from (-1, features) rows to the samples' shape
        if target[0] != -1 or tuple(target[1:]) != tuple(x.tensor.shape[1:]):
            ctx.fail(node, f"rows of {x.tensor.shape} reshaped to {target} (not back to the samples' shape)")
        return [Sym(x.tensor)]
    t = ctx.tensor(node, x)
    if len(t.shape) > 2 and target == [-1, t.shape[-1]]:
        return [Rows(t)]  # only a per-feature op (BatchNormalization) and the way back may follow
    per_sample = math.prod(t.shape[1:])
    if ctx.attr(node, "allowzero", 0) and 0 in target:
        ctx.fail(node, "allowzero=1 with a 0 in the shape")
    rest = [t.shape[i + 1] if d == 0 and i + 1 < len(t.shape) else d for i, d in enumerate(target[1:])]
    if target and ctx.static_batch is not None and target[0] == ctx.static_batch:
        target = [0] + target[1:]  # a graph with a fixed batch size names it; the model takes any
    if not target or target[0] not in (0, -1) or -1 in rest and target[0] == -1 or any(d == 0 for d in rest):
        ctx.fail(node, f"shape {target} does not keep the batch axis (dnnx reshapes each sample: [0 or -1, ...])")
    known = math.prod(d for d in rest if d != -1)
    if -1 in rest:
        if per_sample % known:
            ctx.fail(node, f"cannot reshape {t.shape} to {target}")
        rest = [per_sample // known if d == -1 else d for d in rest]
    if math.prod(rest) != per_sample:
        ctx.fail(node, f"shape {target} changes the batch size (each sample has {per_sample} values)")
    if tuple(rest) == tuple(t.shape[1:]):
        return [ins[0]]
    return [Sym(ctx.add(_layers().Reshape, t, node.output[0], target_shape=tuple(rest)))]


@handles("Squeeze", "Unsqueeze")
def _squeeze(ctx, node, ins):
    t = ctx.tensor(node, ins[0])
    if len(ins) > 1 and ins[1] is not None:
        if not isinstance(ins[1], Const):
            ctx.fail(node, "the axes are computed at run time")
        axes = [int(a) for a in ins[1].array.reshape(-1)]
    else:
        axes = list(ctx.attr(node, "axes", []))
    rank_out = len(t.shape) + (len(axes) if node.op_type == "Unsqueeze" else -len(axes))
    axes = [a + (rank_out if node.op_type == "Unsqueeze" else len(t.shape)) if a < 0 else a for a in axes]
    if not axes or 0 in axes:
        ctx.fail(node, "it changes the batch axis (0)")
    shape = list(t.shape)
    if node.op_type == "Squeeze":
        if any(shape[a] != 1 for a in axes):
            ctx.fail(node, f"axes {axes} of shape {t.shape} are not all 1")
        shape = [d for i, d in enumerate(shape) if i not in axes]
    else:
        for a in sorted(axes):
            shape.insert(a, 1)
    if len(shape) < 2:
        ctx.fail(node, "the result has no feature axis")
    return [Sym(ctx.add(_layers().Reshape, t, node.output[0], target_shape=tuple(shape[1:])))]


@handles("Concat")
def _concat(ctx, node, ins):
    if any(isinstance(v, Const) for v in ins):
        ctx.fail(node, "concatenating a constant is not supported (dnnx concatenates computed tensors)")
    ts = [ctx.tensor(node, v) for v in ins]
    if len(ts) == 1:
        return [Sym(ts[0])]
    rank = len(ts[0].shape)
    axis = ctx.attr(node, "axis")
    axis = axis + rank if axis < 0 else axis
    if axis == 0:
        ctx.fail(node, "axis=0 concatenates along the batch")
    return [Sym(ctx.add(_layers().Concatenate, ts, node.output[0], axis=axis if axis != rank - 1 else -1))]


@handles("Gather")
def _gather(ctx, node, ins):
    table, ids = ins
    if not isinstance(table, Const) or isinstance(ids, Const) or ctx.attr(node, "axis", 0) != 0:
        ctx.fail(node, "only Gather(table, ids, axis=0) of a constant 2-D table (an Embedding) is supported")
    if table.array.ndim != 2:
        ctx.fail(node, f"the table has shape {table.array.shape}; an Embedding table is 2-D")
    t = ctx.tensor(node, ids)
    if np.dtype(t.dtype).kind not in "iu":
        ctx.fail(node, f"the indices are {t.dtype}; Embedding takes integer IDs")
    from .._layer import InputLayer
    if not isinstance(t._keras_history[0], InputLayer):
        ctx.fail(node, "the IDs must come straight from a graph input (dnnx Embedding takes an integer Input)")
    n, d = table.array.shape
    return [Sym(ctx.add(_layers().Embedding, t, node.output[0], [table.array], input_dim=n, output_dim=d))]


@handles("ReduceMean")
def _reduce_mean(ctx, node, ins):
    t = ctx.tensor(node, ins[0])
    if len(ins) > 1 and ins[1] is not None:
        if not isinstance(ins[1], Const):
            ctx.fail(node, "the axes are computed at run time")
        axes = [int(a) for a in ins[1].array.reshape(-1)]
    else:
        axes = list(ctx.attr(node, "axes", []))
    keepdims = bool(ctx.attr(node, "keepdims", 1))
    axes = [a + len(t.shape) if a < 0 else a for a in axes]
    if len(t.shape) != 3 or axes != [1]:
        ctx.fail(node, f"axes {axes} of a rank-{len(t.shape)} input: dnnx averages over the steps of "
                       f"(batch, steps, features) only (GlobalAveragePooling1D)")
    return [Sym(ctx.add(_layers().GlobalAveragePooling1D, t, node.output[0], keepdims=keepdims))]

