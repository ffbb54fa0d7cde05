"""Per-layer ONNX converters: one function per dnnx layer type, registered by ``type_name``.

A converter is ``convert(ctx, layer, inputs, shapes, out) -> str``: it appends the nodes
that compute ``layer`` on the ONNX tensors ``inputs`` (whose Keras shapes are ``shapes``,
batch axis ``None``) and returns the name of the tensor holding the result, normally
``out`` (a layer that passes its input through, as Dropout does, returns that input).
``ctx`` is the ``_export.Context``: ``ctx.node(op, inputs, out, **attrs)``,
``ctx.const(name, array)`` (an initializer), ``ctx.weights(layer)`` (the layer's weights in
Keras order), ``ctx.opset``, ``ctx.dtype`` (the model's float NumPy dtype).

A new layer exports by adding one function here::

    @register("my_layer")
    def _my_layer(ctx, layer, inputs, shapes, out):
        return ctx.node("Relu", [inputs[0]], out)

Activations have their own table, ``ACTIVATIONS`` (name -> ``emit(ctx, alpha, x, out)``),
used by both Dense (its fused activation) and Activation.
"""

from __future__ import annotations

import math
from typing import Callable, Dict, List

import numpy as np

CONVERTERS: Dict[str, Callable] = {}


def register(type_name: str):
    """Register the ONNX converter of the dnnx layer type ``type_name``."""
    def deco(fn):
        if type_name in CONVERTERS:
            raise ValueError(f"an ONNX converter for layer type {type_name!r} is already registered")
        CONVERTERS[type_name] = fn
        return fn
    return deco


# -- activations -----------------------------------------------------------------------------
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_GAMMA = 1.0507009873554804934193349852946


def _gelu(ctx, alpha, x, out):
    if ctx.opset >= 20:
        return ctx.node("Gelu", [x], out, approximate="none")
    # 0.5 * x * (1 + erf(x / sqrt(2))): exact GELU from opset 9's Erf
    s = ctx.node("Mul", [x, ctx.scalar("inv_sqrt2", 1 / math.sqrt(2))])
    e = ctx.node("Add", [ctx.node("Erf", [s]), ctx.scalar("one", 1.0)])
    return ctx.node("Mul", [ctx.node("Mul", [x, ctx.scalar("half", 0.5)]), e], out)


def _silu(ctx, alpha, x, out):
    return ctx.node("Mul", [x, ctx.node("Sigmoid", [x])], out)


# onnxruntime's CPU provider has float kernels for every activation op but double ones only
# for some (no LeakyRelu, Elu, Selu, HardSigmoid, Softplus, Softsign, Erf), so a float64
# model writes those as the elementwise ops it does have in double. The float forms stay
# single ops (onnxruntime's fastest kernels).
def _negative_part(ctx, x):
    """min(x, 0) as Neg(Relu(Neg(x))): exact, and in double in onnxruntime."""
    return ctx.node("Neg", [ctx.node("Relu", [ctx.node("Neg", [x])])])


def _leaky_relu(ctx, a, x, out):
    if ctx.dtype != np.float64:
        return ctx.node("LeakyRelu", [x], out, alpha=float(a))
    # relu(x) + a * min(x, 0)
    neg = ctx.node("Mul", [_negative_part(ctx, x), ctx.scalar("alpha", a)])
    return ctx.node("Add", [ctx.node("Relu", [x]), neg], out)


def _elu_double(ctx, a, x, out, scale=None):
    # relu(x) + a * (exp(min(x, 0)) - 1), times scale for selu
    em1 = ctx.node("Sub", [ctx.node("Exp", [_negative_part(ctx, x)]), ctx.scalar("one", 1.0)])
    y = ctx.node("Add", [ctx.node("Relu", [x]), ctx.node("Mul", [em1, ctx.scalar("alpha", a)])],
                 out if scale is None else None)
    return y if scale is None else ctx.node("Mul", [y, ctx.scalar("scale", scale)], out)


def _elu(ctx, a, x, out):
    if ctx.dtype != np.float64:
        return ctx.node("Elu", [x], out, alpha=float(a))
    return _elu_double(ctx, a, x, out)


def _selu(ctx, a, x, out):
    if ctx.dtype != np.float64:
        return ctx.node("Selu", [x], out, alpha=_SELU_ALPHA, gamma=_SELU_GAMMA)
    return _elu_double(ctx, _SELU_ALPHA, x, out, scale=_SELU_GAMMA)


def _hard_sigmoid(ctx, a, x, out):
    if ctx.dtype != np.float64:
        return ctx.node("HardSigmoid", [x], out, alpha=1 / 6, beta=0.5)
    z = ctx.node("Add", [ctx.node("Div", [x, ctx.scalar("six", 6.0)]), ctx.scalar("half", 0.5)])
    return ctx.node("Min", [ctx.node("Max", [z, ctx.scalar("zero", 0.0)]), ctx.scalar("one", 1.0)], out)


def _softplus(ctx, a, x, out):
    if ctx.dtype != np.float64:
        return ctx.node("Softplus", [x], out)
    # relu(x) + log(1 + exp(-|x|)): never the exp of a large positive number
    tail = ctx.node("Log", [ctx.node("Add", [ctx.node("Exp", [ctx.node("Neg", [ctx.node("Abs", [x])])]),
                                             ctx.scalar("one", 1.0)])])
    return ctx.node("Add", [ctx.node("Relu", [x]), tail], out)


def _softsign(ctx, a, x, out):
    if ctx.dtype != np.float64:
        return ctx.node("Softsign", [x], out)
    return ctx.node("Div", [x, ctx.node("Add", [ctx.node("Abs", [x]), ctx.scalar("one", 1.0)])], out)


ACTIVATIONS: Dict[str, Callable] = {
    "linear": None,  # no node
    "relu": lambda ctx, a, x, out: ctx.node("Relu", [x], out),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "silu": _silu,
    "tanh": lambda ctx, a, x, out: ctx.node("Tanh", [x], out),
    "sigmoid": lambda ctx, a, x, out: ctx.node("Sigmoid", [x], out),
    "hard_sigmoid": _hard_sigmoid,
    "softplus": _softplus,
    "softsign": _softsign,
    "softmax": lambda ctx, a, x, out: ctx.node("Softmax", [x], out, axis=-1),
    "log_softmax": lambda ctx, a, x, out: ctx.node("LogSoftmax", [x], out, axis=-1),
}


def activation(ctx, spec, x: str, out: str) -> str:
    """The nodes of activation ``spec`` (an ``ActivationSpec``) on ``x``."""
    if spec.name not in ACTIVATIONS:
        raise ValueError(f"dnnx.onnx.export: activation {spec.name!r} has no ONNX form")
    emit = ACTIVATIONS[spec.name]
    return x if emit is None else emit(ctx, spec.alpha, x, out)


def reduce_mean(ctx, x: str, axes: List[int], keepdims: bool, out=None) -> str:
    """ReduceMean: axes an attribute before opset 18, an input from 18 on."""
    if ctx.opset >= 18:
        return ctx.node("ReduceMean", [x, ctx.const("axes", np.array(axes, np.int64))], out, keepdims=int(keepdims))
    return ctx.node("ReduceMean", [x], out, axes=list(axes), keepdims=int(keepdims))


def _as_rows(ctx, x: str, shape, fn, out: str) -> str:
    """Apply ``fn(x2d, out)`` (an op that normalizes axis 1 of a 2-D tensor) to the last
    axis of ``x``: rank-2 input as it is, higher ranks reshaped to (-1, features) and back."""
    if len(shape) == 2:
        return fn(x, out)
    flat = ctx.node("Reshape", [x, ctx.const("rows_shape", np.array([-1, shape[-1]], np.int64))])
    y = fn(flat, None)
    back = ctx.const("back_shape", np.array([-1, *shape[1:]], np.int64))
    return ctx.node("Reshape", [y, back], out)


# -- layers --------------------------------------------------------------------------------
@register("dense")
def _dense(ctx, layer, inputs, shapes, out):
    w = ctx.weights(layer)
    kernel = ctx.const(f"{layer.name}/kernel", w[0])
    bias = ctx.const(f"{layer.name}/bias", w[1]) if layer.use_bias else None
    linear = out if layer.activation.name == "linear" else None
    if len(shapes[0]) == 2:  # Gemm: what tf2onnx and PyTorch write for 2-D input
        z = ctx.node("Gemm", [inputs[0], kernel] + ([bias] if bias else []), linear)
    else:
        z = ctx.node("MatMul", [inputs[0], kernel], None if bias else linear)
        if bias:
            z = ctx.node("Add", [z, bias], linear)
    return activation(ctx, layer.activation, z, out)


@register("activation")
def _activation(ctx, layer, inputs, shapes, out):
    return activation(ctx, layer.activation, inputs[0], out)


@register("dropout")
def _dropout(ctx, layer, inputs, shapes, out):
    return inputs[0]  # identity at inference


@register("batch_normalization")
def _batch_normalization(ctx, layer, inputs, shapes, out):
    w = list(ctx.weights(layer))
    n = shapes[0][-1]
    gamma = w.pop(0) if layer.scale else np.ones(n, ctx.dtype)
    beta = w.pop(0) if layer.center else np.zeros(n, ctx.dtype)
    mean, var = w
    args = [ctx.const(f"{layer.name}/gamma", gamma), ctx.const(f"{layer.name}/beta", beta),
            ctx.const(f"{layer.name}/moving_mean", mean), ctx.const(f"{layer.name}/moving_variance", var)]
    return _as_rows(ctx, inputs[0], shapes[0],
                    lambda x, o: ctx.node("BatchNormalization", [x] + args, o, epsilon=layer.epsilon), out)


@register("layer_normalization")
def _layer_normalization(ctx, layer, inputs, shapes, out):
    w = list(ctx.weights(layer))
    n = shapes[0][-1]
    gamma = w.pop(0) if layer.scale else None
    beta = w.pop(0) if layer.center else None
    x = inputs[0]
    if ctx.opset >= 17:
        scale = ctx.const(f"{layer.name}/gamma", gamma if gamma is not None else np.ones(n, ctx.dtype))
        args = [x, scale] + ([ctx.const(f"{layer.name}/beta", beta)] if beta is not None else [])
        return ctx.node("LayerNormalization", args, out, axis=-1, epsilon=layer.epsilon)
    # (x - mean) / sqrt(var + epsilon) * gamma + beta, the population variance over the features
    d = ctx.node("Sub", [x, reduce_mean(ctx, x, [-1], True)])
    var = reduce_mean(ctx, ctx.node("Mul", [d, d]), [-1], True)
    std = ctx.node("Sqrt", [ctx.node("Add", [var, ctx.scalar(f"{layer.name}/epsilon", layer.epsilon)])])
    last = [("Mul", gamma, "gamma"), ("Add", beta, "beta")]
    last = [(op, v, k) for op, v, k in last if v is not None]
    y = ctx.node("Div", [d, std], None if last else out)
    for i, (op, v, key) in enumerate(last):
        y = ctx.node(op, [y, ctx.const(f"{layer.name}/{key}", v)], out if i == len(last) - 1 else None)
    return y


@register("embedding")
def _embedding(ctx, layer, inputs, shapes, out):
    table = ctx.const(f"{layer.name}/embeddings", ctx.weights(layer)[0])
    return ctx.node("Gather", [table, inputs[0]], out, axis=0)


def _nary(ctx, op: str, inputs: List[str], out: str) -> str:
    y = inputs[0]
    for i, x in enumerate(inputs[1:]):
        y = ctx.node(op, [y, x], out if i == len(inputs) - 2 else None)
    return y


register("add")(lambda ctx, layer, inputs, shapes, out: _nary(ctx, "Add", inputs, out))
register("subtract")(lambda ctx, layer, inputs, shapes, out: ctx.node("Sub", inputs, out))
register("multiply")(lambda ctx, layer, inputs, shapes, out: _nary(ctx, "Mul", inputs, out))
register("maximum")(lambda ctx, layer, inputs, shapes, out: ctx.node("Max", inputs, out))


register("average")(lambda ctx, layer, inputs, shapes, out: ctx.node("Mean", inputs, out))


@register("concatenate")
def _concatenate(ctx, layer, inputs, shapes, out):
    rank = len(shapes[0])
    return ctx.node("Concat", inputs, out, axis=layer.axis + rank if layer.axis < 0 else layer.axis)


@register("flatten")
def _flatten(ctx, layer, inputs, shapes, out):
    return ctx.node("Flatten", inputs, out, axis=1)


@register("reshape")
def _reshape(ctx, layer, inputs, shapes, out):
    # 0 keeps the batch dimension (allowzero=0, the default); one -1 is inferred
    shape = ctx.const(f"{layer.name}/shape", np.array([0, *layer.target_shape], np.int64))
    return ctx.node("Reshape", [inputs[0], shape], out)


@register("op")
def _op(ctx, layer, inputs, shapes, out):
    # TODO(issue 17): ONNX forms of the dnnx.ops nodes (most map 1:1: Add, Mul, MatMul,
    # ReduceSum, Softmax, Transpose, Gather, ...).
    raise ValueError(f"dnnx.onnx.export: node {layer.name!r} is a dnnx.ops.{layer.default_name} op; ops have no "
                     f"ONNX converter yet (build the model from layers to export it)")


@register("identity")
def _identity(ctx, layer, inputs, shapes, out):
    return ctx.node("Identity", inputs, out)


@register("global_average_pooling1d")
def _global_average_pooling1d(ctx, layer, inputs, shapes, out):
    return reduce_mean(ctx, inputs[0], [1], layer.keepdims, out)
