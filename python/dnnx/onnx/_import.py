"""``load(path)``: an ONNX MLP graph as a dnnx functional model.

The graph is read without running anything from it, then:

1. constants: initializers and ``Constant`` nodes; a node whose inputs are all constants is
   folded (onnx's reference evaluator), so ``Transpose`` of a weight, shape arithmetic and
   ``Cast`` of constants disappear;
2. the classifier tail (``_patterns.strip_classifier_tail``): skl2onnx's
   ``ArgMax`` + ``ArrayFeatureExtractor`` labels and ``ZipMap`` become the classes of a
   ``Classifier``, and its binary ``[1 - p, p]`` (``Sub`` + ``Concat``) the sigmoid ``p``;
3. multi-node forms of one dnnx op (``_patterns.rewrite``): x * Sigmoid(x) (SiLU), the Erf
   GELU, x / (|x| + 1), decomposed LayerNormalization, a BatchNormalization between two
   Reshapes;
4. every node in graph order is handed to the handler of its op (``_import_ops.HANDLERS``),
   which turns values into values: constants, symbolic tensors of the dnnx graph, and
   "pending Dense" values (MatMul/Gemm, then a bias Add and an activation fused in while
   the value has exactly one consumer) that become a ``Dense`` layer when used otherwise.

Anything else raises ``UnsupportedGraph`` (a ValueError) naming the node, its op and the opset.
"""

from __future__ import annotations

import math
import os
import re
from typing import Dict, List, Optional

import numpy as np

from . import _common


class UnsupportedGraph(ValueError):
    """An ONNX graph (or part of one) that dnnx cannot import."""


class Const:
    def __init__(self, array: np.ndarray):
        self.array = np.asarray(array)


class Sym:
    def __init__(self, tensor):
        self.tensor = tensor


class Lin:
    """A Dense layer not made yet: ``act(x @ kernel + bias)``."""

    def __init__(self, x, kernel: np.ndarray, bias: Optional[np.ndarray], act=None, name: str = "dense"):
        self.x, self.kernel, self.bias, self.act, self.name = x, kernel, bias, act, name
        self.tensor = None  # the Dense output once made

    def but(self, **changes) -> "Lin":
        new = Lin(self.x, self.kernel, self.bias, self.act, self.name)
        for k, v in changes.items():
            setattr(new, k, v)
        return new


class Rows:
    """``tensor`` (batch, ..., features) seen as (-1, features) rows: a reshape that merges
    the batch axis, which dnnx accepts only around a per-feature op (BatchNormalization)."""

    def __init__(self, tensor):
        self.tensor = tensor


def _float_attr(v: float) -> float:
    """A float32 attribute as the decimal it was written from (0.2f -> 0.2, not 0.2000000030)."""
    return float(str(np.float32(v)))


class Context:
    """What handlers work with: the values, the consumers of each value, the opset, and
    the dnnx layers made so far (with the weights to set once the model is built)."""

    def __init__(self, opset: int, ml_opset: Optional[int], consumers: Dict[str, int], dtype):
        self.opset = opset
        self.ml_opset = ml_opset
        self.consumers = consumers
        self.dtype = dtype
        self.values: Dict[str, object] = {}
        self.weights: List[tuple] = []  # (layer, [arrays])
        self.static_batch: Optional[int] = None  # the inputs' batch size when the graph fixes it
        self._names: set = set()

    # -- errors --------------------------------------------------------------------
    def fail(self, node, why: str):
        if node is None:
            raise UnsupportedGraph(f"dnnx.onnx.load: a graph output is not supported: {why}")
        domain = node.domain or "ai.onnx"
        version = self.ml_opset if node.domain == _common.ML_DOMAIN else self.opset
        raise UnsupportedGraph(f"dnnx.onnx.load: node {node.name or node.output[0]!r} (op {node.op_type}, "
                               f"{domain} opset {version}) is not supported: {why}")

    # -- values --------------------------------------------------------------------
    def value(self, name: str):
        return self.values[name]

    def fusable(self, name: str) -> bool:
        """A value used by exactly one node and not a graph output may be fused into it."""
        return self.consumers.get(name, 0) == 1

    def attr(self, node, key: str, default=None):
        from onnx import helper
        for a in node.attribute:
            if a.name == key:
                v = helper.get_attribute_value(a)
                return v.decode() if isinstance(v, bytes) else v
        return default

    def float_attr(self, node, key: str, default: float) -> float:
        return _float_attr(self.attr(node, key, default))

    def layer_name(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", base).strip("_") or "layer"
        name, k = base, 0
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name

    def add(self, layer_cls, inputs, name: str, weights=None, **kwargs):
        """Make a dnnx layer called ``name`` (made unique) and call it on ``inputs``."""
        layer = layer_cls(name=self.layer_name(name), **kwargs)
        out = layer(inputs)
        if weights is not None:
            self.weights.append((layer, weights))
        return out

    def tensor(self, node, value, what: str = "input"):
        """The symbolic tensor of ``value`` (a pending Dense is made here)."""
        from .. import layers
        if isinstance(value, Sym):
            return value.tensor
        if isinstance(value, Lin):
            if value.tensor is None:
                w = [value.kernel] + ([value.bias] if value.bias is not None else [])
                value.tensor = self.add(layers.Dense, value.x, value.name, w, units=value.kernel.shape[1],
                                        activation=value.act, use_bias=value.bias is not None)
            return value.tensor
        if isinstance(value, Rows):
            self.fail(node, f"its {what} is a reshape to (-1, features) that merges the batch axis; dnnx allows it "
                            f"only around BatchNormalization")
        self.fail(node, f"its {what} is a constant where dnnx needs a computed tensor")

    def inputs(self, node) -> list:
        return [self.values[n] if n else None for n in node.input]


def _read(source):
    onnx = _common.require_onnx("dnnx.onnx.load")
    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, (bytes, bytearray)):
        try:
            return onnx.load_model_from_string(bytes(source))
        except Exception as e:
            raise ValueError(f"dnnx.onnx.load: the bytes are not an ONNX model ({type(e).__name__}: {e})") from None
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"dnnx.onnx.load: expected a path, bytes or an onnx.ModelProto. Received: "
                        f"{type(source).__name__}")
    path = os.fspath(source)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"dnnx.onnx.load: no such file: {path!r}")
    try:
        return onnx.load(path)
    except Exception as e:
        raise ValueError(f"dnnx.onnx.load: {path!r} is not an ONNX model ({type(e).__name__}: {e})") from None


def _opsets(proto):
    opset, ml = None, None
    for o in proto.opset_import:
        if o.domain in ("", "ai.onnx"):
            opset = int(o.version)
        elif o.domain == _common.ML_DOMAIN:
            ml = int(o.version)
    if opset is None:
        raise UnsupportedGraph("dnnx.onnx.load: the model imports no ai.onnx opset")
    if opset < 7:
        raise UnsupportedGraph(f"dnnx.onnx.load: ai.onnx opset {opset} is too old (7 or newer is supported)")
    return opset, ml


def _constants(graph, onnx):
    consts = {}
    for init in graph.initializer:
        consts[init.name] = onnx.numpy_helper.to_array(init)
    return consts


def _input_shape(vi, onnx) -> tuple:
    t = vi.type
    if t.WhichOneof("value") != "tensor_type":
        raise UnsupportedGraph(f"dnnx.onnx.load: input {vi.name!r} is a {t.WhichOneof('value')}, not a tensor")
    tt = t.tensor_type
    if not tt.HasField("shape"):
        raise UnsupportedGraph(f"dnnx.onnx.load: input {vi.name!r} has no shape; dnnx needs (batch, features...)")
    dims = list(tt.shape.dim)
    if not dims:
        raise UnsupportedGraph(f"dnnx.onnx.load: input {vi.name!r} is a scalar; dnnx needs a batch axis first")
    shape = []
    for k, d in enumerate(dims[1:], start=1):
        if not d.HasField("dim_value") or d.dim_value < 1:
            raise UnsupportedGraph(f"dnnx.onnx.load: input {vi.name!r} has an unknown size at axis {k} "
                                   f"({d.dim_param or '?'}); only the batch axis (0) may be dynamic")
        shape.append(int(d.dim_value))
    return tuple(shape)


def load(source, name: Optional[str] = None):
    """Import an ONNX MLP graph (a path, bytes or ``onnx.ModelProto``) as a dnnx model.

    Returns a ``dnnx.Model`` whose inputs and outputs are the graph's (by name, batch axis
    dynamic) and which predicts the graph's outputs and trains further once compiled; for
    a classifier graph (skl2onnx's label output and ZipMap) a ``dnnx.onnx.Classifier``
    whose ``model`` is that Model and whose ``classes_`` are the labels.

    Accepted: PyTorch (``Gemm`` transB=1, ``Transpose``/``MatMul``/``Add``), Keras/tf2onnx
    (``MatMul`` + ``Add``, ``Gemm``) and skl2onnx MLP graphs, with the activation ops,
    BatchNormalization, LayerNormalization, Add/Sub/Mul/Sum/Max/Mean, Concat, Gather
    (Embedding), Flatten, Reshape, Identity, Dropout, Cast between floats.

    Raises:
        UnsupportedGraph (ValueError): a node dnnx has no layer for, naming the node, op
            and opset; an input or weight dtype other than float32/float64 (or integer IDs);
            a non-batch axis of unknown size.
    """
    onnx = _common.require_onnx("dnnx.onnx.load")
    from .. import Input, Model
    from . import _patterns
    from ._import_ops import HANDLERS

    proto = _read(source)
    graph = proto.graph
    opset, ml_opset = _opsets(proto)
    for o in proto.opset_import:
        if o.domain not in ("", "ai.onnx", _common.ML_DOMAIN):
            used = [n for n in graph.node if n.domain == o.domain]
            if used:
                n = used[0]
                raise UnsupportedGraph(f"dnnx.onnx.load: node {n.name or n.output[0]!r} (op {n.op_type}) is in "
                                       f"domain {o.domain!r} (opset {o.version}), which dnnx does not import")
    consts = _constants(graph, onnx)
    nodes = list(graph.node)
    outputs = [o.name for o in graph.output]
    nodes, outputs, classes, binary = _patterns.strip_classifier_tail(nodes, outputs, consts, opset)
    nodes = _patterns.rewrite(nodes, outputs, consts)

    # dtype: the graph's float inputs, else its float weights
    floats = set()
    graph_inputs = [vi for vi in graph.input if vi.name not in consts]
    for vi in graph_inputs:
        elem = vi.type.tensor_type.elem_type
        dt = _common.np_dtype(elem) if elem else None
        if dt is None or dt.kind not in "fiu" or dt.kind == "f" and dt not in (np.float32, np.float64):
            what = _common.elem_name(elem) if elem else "undefined"
            raise UnsupportedGraph(f"dnnx.onnx.load: input {vi.name!r} has dtype {what}; dnnx takes float32 or "
                                   f"float64 features and integer IDs")
        if dt.kind == "f":
            floats.add(dt)
    weight_floats = {a.dtype for a in consts.values() if a.dtype.kind == "f" and a.size > 1}
    bad = [d for d in weight_floats if d not in (np.float32, np.float64)]
    if bad:
        raise UnsupportedGraph(f"dnnx.onnx.load: the graph has {bad[0].name} weights; dnnx computes in float32 or "
                               f"float64")
    dtype = np.dtype(np.float64) if np.dtype(np.float64) in (weight_floats or floats) else np.dtype(np.float32)

    consumers: Dict[str, int] = {}
    for n in nodes:
        for i in n.input:
            if i:
                consumers[i] = consumers.get(i, 0) + 1
    for o in outputs:
        consumers[o] = consumers.get(o, 0) + 2  # never fused away
    ctx = Context(opset, ml_opset, consumers, dtype)
    for k, v in consts.items():
        ctx.values[k] = Const(v)
    batch = {vi.type.tensor_type.shape.dim[0].dim_value if vi.type.tensor_type.shape.dim else 0
             for vi in graph_inputs}
    if len(batch) == 1 and 0 not in batch:
        ctx.static_batch = batch.pop()  # e.g. torch.onnx.export without dynamic axes: Reshape([4, ...])
    model_inputs = []
    for vi in graph_inputs:
        dt = _common.np_dtype(vi.type.tensor_type.elem_type)
        t = Input(shape=_input_shape(vi, onnx), dtype=dtype.name if dt.kind == "f" else dt.name, name=vi.name)
        ctx._names.add(vi.name)
        model_inputs.append(t)
        ctx.values[vi.name] = Sym(t)
    for node in nodes:
        ins = ctx.inputs(node)
        if node.op_type == "Constant" and not node.domain:
            ctx.values[node.output[0]] = Const(_constant_value(ctx, node, onnx))
            continue
        if ins and all(isinstance(v, Const) for v in ins if v is not None) and not node.domain \
                and node.op_type in _FOLDABLE:
            for name, arr in zip(node.output, _fold(ctx, node, ins)):
                ctx.values[name] = Const(arr)
            continue
        handler = HANDLERS.get((node.domain or "", node.op_type))
        if handler is None:
            ctx.fail(node, "dnnx has no layer for this op (supported: " +
                     ", ".join(sorted(op for d, op in HANDLERS if not d.startswith("dnnx"))) + ")")
        outs = handler(ctx, node, ins)
        for name, v in zip(node.output, outs):
            if name:
                ctx.values[name] = v
    if not outputs:
        raise UnsupportedGraph("dnnx.onnx.load: the graph has no outputs dnnx can compute")
    model_outputs = {}
    seen = set()
    from .. import layers
    for o in outputs:
        v = ctx.values.get(o)
        if v is None:
            raise UnsupportedGraph(f"dnnx.onnx.load: graph output {o!r} is not computed by any node")
        if isinstance(v, Const):
            raise UnsupportedGraph(f"dnnx.onnx.load: graph output {o!r} is a constant; dnnx outputs must depend "
                                   f"on the inputs")
        t = ctx.tensor(None, v)
        if id(t) in seen or any(t is m for m in model_inputs):
            t = ctx.add(layers.Identity, t, o)
        seen.add(id(t))
        model_outputs[o] = t
    model = Model(model_inputs if len(model_inputs) > 1 else model_inputs[0], model_outputs,
                  name=name or graph.name or "onnx_model", dtype=dtype.name)
    for layer, ws in ctx.weights:
        layer.set_weights([np.asarray(w, dtype) for w in ws])
    if classes is not None:
        from ._classifier import Classifier
        return Classifier(model, classes, binary)
    return model


def _constant_value(ctx, node, onnx):
    for a in node.attribute:
        if a.name == "value":
            return onnx.numpy_helper.to_array(a.t)
        if a.name in ("value_float", "value_int"):
            return np.array(onnx.helper.get_attribute_value(a), np.float32 if a.name == "value_float" else np.int64)
        if a.name in ("value_floats", "value_ints"):
            return np.array(onnx.helper.get_attribute_value(a), np.float32 if a.name == "value_floats" else np.int64)
    ctx.fail(node, "only tensor, float(s) and int(s) constants are supported")


# Ops folded when all their inputs are constants: weight and shape arithmetic exporters
# write. None makes an output much larger than its inputs (no ConstantOfShape, Expand, Tile
# or Range), so a crafted file cannot make loading allocate without bound.
_FOLDABLE = frozenset("""Abs Add Cast Concat Div Equal Flatten Gather Identity Mul Neg Not Pow Reciprocal Reshape Shape
Size Slice Sqrt Squeeze Sub Transpose Unsqueeze Where""".split())
_FOLD_LIMIT = 1 << 27  # values a broadcast may produce while folding


def _fold(ctx, node, ins) -> list:
    """Evaluate a node whose inputs are all constants (onnx's reference implementation)."""
    from onnx.reference import ReferenceEvaluator
    feeds = {n: v.array for n, v in zip(node.input, ins) if n}
    if node.op_type in ("Add", "Sub", "Mul", "Div", "Pow", "Equal", "Where"):
        try:
            size = math.prod(np.broadcast_shapes(*(a.shape for a in feeds.values())))
        except ValueError:
            size = 0  # the evaluator reports the mismatch
        if size > _FOLD_LIMIT:
            ctx.fail(node, f"folding its constant inputs would make {size:,} values")
    try:
        return ReferenceEvaluator(node, opsets={"": ctx.opset}).run(None, feeds)
    except Exception as e:
        ctx.fail(node, f"it could not be evaluated on its constant inputs ({type(e).__name__}: {e})")
