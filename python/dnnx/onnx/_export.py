"""``export(model, path)``: a dnnx model as an ONNX graph onnxruntime runs.

The model's traced graph is walked in its topological order; each node's layer is turned
into ONNX nodes by the converter registered for its type (``_export_ops.CONVERTERS``).
Graph inputs and outputs carry the model's input and output names, with a symbolic batch
dimension (``"batch"``); floats are the model's dtype (float or double), integer IDs
int64 (or the Input's integer dtype). The file is written atomically.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np

from . import _common
from . import _export_preprocessing  # noqa: F401  (registers the preprocessing layers' converters)
from ._export_ops import CONVERTERS


class Context:
    """What a converter builds with: nodes, initializers and unique names."""

    def __init__(self, opset: int, dtype: np.dtype, reserved: List[str]):
        self.opset = opset
        self.dtype = dtype
        self.nodes: list = []
        self.initializers: list = []
        self.opsets: Dict[str, int] = {"": opset}
        self._used = set(reserved)
        self._weights: Dict[int, List[np.ndarray]] = {}
        self._scalars: Dict[tuple, str] = {}
        self._model = None

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self._used:
            k += 1
            name = f"{base}_{k}"
        self._used.add(name)
        return name

    def node(self, op: str, inputs: List[str], out: Optional[str] = None, domain: str = "", **attrs) -> str:
        """Append a node with one output (``out``, or a fresh name); returns the output name."""
        onnx = _common.require_onnx("dnnx.onnx.export")
        out = out if out is not None else self.fresh(f"{op.lower()}")
        name = self.fresh(f"{op}_{len(self.nodes)}")
        self.nodes.append(onnx.helper.make_node(op, list(inputs), [out], name=name, domain=domain or None, **attrs))
        if domain:
            self.opsets.setdefault(domain, 1)
        return out

    def const(self, base: str, value: np.ndarray) -> str:
        """An initializer holding ``value`` (its dtype as given); returns its name."""
        onnx = _common.require_onnx("dnnx.onnx.export")
        name = self.fresh(base)
        self.initializers.append(onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def scalar(self, base: str, value: float) -> str:
        """A 0-D constant of the model's float dtype (one initializer per distinct value)."""
        key = (base, float(value))
        if key not in self._scalars:
            self._scalars[key] = self.const(base, np.array(value, self.dtype))
        return self._scalars[key]

    def weights(self, layer) -> List[np.ndarray]:
        """The layer's weights (copies, Keras order), read once per layer."""
        if id(layer) not in self._weights:
            self._weights[id(layer)] = [w.copy() for w in self._model._layer_views(layer)]
        return self._weights[id(layer)]


def _check_opset(opset) -> int:
    if opset is None:
        return min(_common.DEFAULT_OPSET, _common.max_opset())
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"dnnx.onnx.export: opset must be an int or None. Received: opset={opset!r}")
    top = _common.max_opset()
    if not _common.MIN_OPSET <= opset <= top:
        raise ValueError(f"dnnx.onnx.export: opset must be between {_common.MIN_OPSET} and {top} (the newest the "
                         f"installed onnx package knows). Received: opset={opset}")
    return int(opset)


def _ir_version(opset: int) -> int:
    """The oldest IR version that knows ``opset``: what onnxruntime releases of that time read."""
    onnx = _common.require_onnx("dnnx.onnx.export")
    for _release, ir, ai_onnx, *_ in onnx.helper.VERSION_TABLE:
        if ai_onnx >= opset:
            return max(int(ir), 8)
    return int(onnx.IR_VERSION)


def _value_info(name: str, elem: int, shape):
    onnx = _common.require_onnx("dnnx.onnx.export")
    return onnx.helper.make_tensor_value_info(name, elem, ["batch", *shape[1:]])


def _classifier_tail(ctx, clf, prob: str, zipmap: bool):
    """label = classes[ArgMax(probabilities)] (a Gather: no ai.onnx.ml op) and the
    probabilities, ``[1 - p, p]`` for the one-sigmoid form, or their ZipMap when asked."""
    onnx = _common.require_onnx("dnnx.onnx.export")
    if clf.binary:
        neg = ctx.node("Sub", [ctx.scalar("one", 1.0), prob])
        prob = ctx.node("Concat", [neg, prob], "probabilities" if not zipmap else None, axis=1)
    elif not zipmap:
        prob = ctx.node("Identity", [prob], "probabilities")
    classes = clf.classes_
    strings = classes.dtype.kind in "US"
    table = ctx.const("classes", classes.astype(object) if strings else classes.astype(np.int64))
    ctx.node("Gather", [table, ctx.node("ArgMax", [prob], axis=1, keepdims=0)], "label", axis=0)
    label_vi = onnx.helper.make_tensor_value_info("label", onnx.TensorProto.STRING if strings else onnx.TensorProto.INT64,
                                                  ["batch"])
    if not zipmap:
        return [label_vi, _value_info("probabilities", _common.elem_type(ctx.dtype), (None, len(classes)))]
    if ctx.dtype != np.float32:
        raise ValueError("dnnx.onnx.export: zipmap=True needs a float32 model (ZipMap takes float tensors only)")
    key = "classlabels_strings" if strings else "classlabels_int64s"
    ctx.node("ZipMap", [prob], "probabilities", domain=_common.ML_DOMAIN,
             **{key: [str(c) for c in classes] if strings else [int(c) for c in classes]})
    key_type = onnx.TensorProto.STRING if strings else onnx.TensorProto.INT64
    seq = onnx.helper.make_sequence_type_proto(onnx.helper.make_map_type_proto(
        key_type, onnx.helper.make_tensor_type_proto(onnx.TensorProto.FLOAT, [])))
    return [label_vi, onnx.helper.make_value_info("probabilities", seq)]


def to_model_proto(model, opset=None, zipmap: bool = False):
    """The ONNX ``ModelProto`` of a built dnnx model or ``Classifier`` (see ``export``)."""
    onnx = _common.require_onnx("dnnx.onnx.export")
    from .._functional import Model
    from ._classifier import Classifier
    clf = model if isinstance(model, Classifier) else None
    model = clf.model if clf is not None else model
    if not isinstance(model, Model):
        raise TypeError(f"dnnx.onnx.export: model must be a dnnx Model, Sequential or dnnx.onnx.Classifier. "
                        f"Received: {type(model).__name__}")
    if not isinstance(zipmap, bool):
        raise TypeError(f"dnnx.onnx.export: zipmap must be a bool. Received: zipmap={zipmap!r}")
    if zipmap and clf is None:
        raise ValueError("dnnx.onnx.export: zipmap=True needs class labels; export a "
                         "dnnx.onnx.Classifier(model, classes) instead of the bare model")
    opset = _check_opset(opset)
    model._require_built("dnnx.onnx.export")
    model._pull_shared()
    g = model._graph
    dtype = model._np_dtype
    out_names = list(g.output_names)
    ctx = Context(opset, dtype, g.input_names + out_names + (["label", "probabilities"] if clf else []))
    ctx._model = model
    names: Dict[int, str] = {}  # id(KerasTensor) -> ONNX tensor name
    inputs = []
    for layer in g.input_layers:
        t = layer.output
        if layer.dtype == "string":  # raw text for a StringLookup (_export_preprocessing)
            inputs.append(_value_info(layer.name, onnx.TensorProto.STRING, t.shape))
            names[id(t)] = layer.name
        elif np.dtype(layer.dtype).kind == "f":
            inputs.append(_value_info(layer.name, _common.elem_type(dtype), t.shape))
            names[id(t)] = layer.name
        elif layer.dtype in ("int64", "int32"):
            inputs.append(_value_info(layer.name, _common.elem_type(layer.dtype), t.shape))
            names[id(t)] = layer.name
        else:  # Gather takes int32/int64 indices
            inputs.append(_value_info(layer.name, _common.elem_type(layer.dtype), t.shape))
            names[id(t)] = ctx.node("Cast", [layer.name], ctx.fresh(f"{layer.name}/int64"),
                                    to=onnx.TensorProto.INT64)
    wanted = {id(t): n for t, n in zip(g.outputs, out_names)}
    for node in g.nodes:
        layer = node.layer
        convert = CONVERTERS.get("op" if getattr(layer, "is_op", False) else layer.type_name)
        if convert is None:
            raise ValueError(f"dnnx.onnx.export: layer {layer.name!r} ({type(layer).__name__}) has no ONNX converter; "
                             f"types with one: {', '.join(sorted(CONVERTERS))}")
        k = g.node_index[id(node)]
        out = wanted.get(id(node.output)) or ctx.fresh(layer.name if k == 0 else f"{layer.name}_{k}")
        ins = [names[id(t)] for t in node.inputs]
        names[id(node.output)] = convert(ctx, layer, ins, [t.shape for t in node.inputs], out)
    outputs = []
    for t, name in zip(g.outputs, out_names):
        if names[id(t)] != name:  # a pass-through layer (Dropout) produced an output
            ctx.node("Identity", [names[id(t)]], name)
        outputs.append(_value_info(name, _common.elem_type(dtype), t.shape))
    if clf is not None:
        outputs = _classifier_tail(ctx, clf, out_names[0], zipmap)
    graph = onnx.helper.make_graph(ctx.nodes, model.name, inputs, outputs, ctx.initializers)
    from .. import __version__
    proto = onnx.helper.make_model(
        graph, producer_name="dnnx", producer_version=__version__,
        opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in ctx.opsets.items()])
    proto.ir_version = _ir_version(opset)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(model, path, opset: Optional[int] = None, zipmap: bool = False):
    """Write ``model`` as an ONNX file at ``path`` (atomically) and return the ModelProto.

    Args:
        model: a built ``dnnx.Model`` or ``Sequential``, or a ``dnnx.onnx.Classifier``
            (a model of class probabilities plus its ``classes_``): then the outputs are
            skl2onnx's ``label`` (``classes_[argmax]``, int64 or string) and
            ``probabilities`` (``(n, n_classes)``).
        path: the file to write.
        opset: the default-domain opset (13 to the newest the installed onnx knows;
            default 20). LayerNormalization is one op from 17 on and GELU from 20 on;
            below, both are decomposed into exact elementwise ops.
        zipmap: a Classifier only: ``probabilities`` as an ai.onnx.ml ZipMap (a sequence
            of {label: probability} maps, as skl2onnx writes by default). Otherwise no
            ai.onnx.ml op is written.

    The graph takes the model's inputs by name (float inputs in the model's dtype, ID
    inputs int64) with any batch size and returns its outputs by name; onnxruntime gives
    ``model.predict``'s outputs within float tolerance. Dropout is dropped; Dense is
    ``Gemm`` on 2-D input (``MatMul`` + ``Add`` otherwise), Embedding is ``Gather``.
    """
    from ..saving import _atomic_write
    proto = to_model_proto(model, opset, zipmap)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"dnnx.onnx.export: path must be a str or os.PathLike. Received: {path!r}")
    _atomic_write(os.fspath(path), proto.SerializeToString())
    return proto
