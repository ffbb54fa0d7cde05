"""Op nodes: what a ``dnnx.ops`` call on symbolic tensors records in the graph.

An op is a graph node like a layer call, but of an ``OpLayer``: a weightless node that is
not one of ``model.layers`` (Keras keeps ops out of them too) and whose core layer dict is
fixed when the op is called (``type`` "op" with the op code and its shape description, or
an existing core layer such as "activation", "identity" or "concatenate"). Training a
model built with ops still runs whole epochs in C++: each op is a C++ forward and
backward (cpp/src/nn/layers/op_*.cpp).

Tensors in the core are (batch, flat width); ``op_node`` gets the Keras shape of the
result and the layer dict that computes its flat values.

An op with ``add_weight`` variables among its operands (``param_node``) holds them as its
parameters (``_variables``, in the order its spec lists them): its only weights, handed to
the network when a model is built (see ``dnnx._variable``).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np

from ._layer import InputLayer, KerasTensor, Layer, Node, Shape, is_int_dtype


class OpLayer(Layer):
    """The weightless node of one op call (see the module docstring)."""

    is_op = True

    def __init__(self, op_name: str, spec: dict, steps: int = 1, shape: Optional[Shape] = None,
                 dtype: Optional[str] = None, batch_reduce: Optional[str] = None):
        super().__init__(None, None, True)
        self.default_name = op_name
        self.type_name = spec["type"]
        self._spec = spec
        self._steps = steps
        self._out = (tuple(shape) if shape is not None else None, dtype, batch_reduce)
        self._list_call = True  # a saved config lists the op's inputs (ops take one or several)
        self._variables: list = []  # the add_weight variables it holds (param_node)

    def spec(self) -> dict:
        if self._variables:  # the weights' paths as the network names them (the layers are named by now)
            return {**self._spec, "name": self.name, "param_names": [v.path for v in self._variables]}
        return {**self._spec, "name": self.name}

    def node_steps(self, input_shapes) -> int:
        return self._steps

    def _standalone_weights(self) -> List[np.ndarray]:
        return [v._value for v in self._variables]

    def __call__(self, inputs):
        """Apply the same op again to tensors of the first call's shapes (a model loaded from
        its config, or a model called on new tensors)."""
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not all(isinstance(t, KerasTensor) for t in tensors):
            raise TypeError(f"op {self.name!r} must be called on KerasTensors; received {inputs!r}")
        shapes = [t.shape for t in tensors]
        if self._input_shapes is not None and shapes != self._input_shapes:
            raise ValueError(f"op {self.name!r} was recorded for input shapes {self._input_shapes}; received {shapes}")
        shape, dtype, batch_reduce = self._out
        if shape is None:
            raise ValueError(f"op {self.name!r} has no recorded output shape")
        out = KerasTensor(shape, dtype, (self, len(self._inbound_nodes), 0))
        if batch_reduce is not None:
            out._batch_reduce = batch_reduce
        self._inbound_nodes.append(Node(self, tensors, out))
        self._input_shapes = shapes
        return out

    def get_config(self) -> dict:
        shape, dtype, batch_reduce = self._out
        return {"name": self.name, "op_name": self.default_name, "spec": dict(self._spec), "steps": self._steps,
                "shape": list(shape), "dtype": dtype, "batch_reduce": batch_reduce}

    @classmethod
    def from_config(cls, c: dict) -> "OpLayer":
        """From get_config(): plain data only; the core checks the spec when the network is built."""
        spec, shape = c.get("spec"), c.get("shape")
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str) or spec["type"] not in (
                "op", "activation", "identity", "concatenate"):
            raise ValueError(f"OpLayer: spec must be a core layer dict of type op, activation, identity or "
                             f"concatenate; found {spec!r}")
        reduced = c.get("batch_reduce")
        if reduced not in (None, "mean", "sum"):
            raise ValueError(f"OpLayer: batch_reduce must be None, 'mean' or 'sum'; found {reduced!r}")
        ok = isinstance(shape, list) and (shape == [] if reduced else (bool(shape) and shape[0] is None and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape[1:])))
        if not ok:
            raise ValueError(f"OpLayer: shape must be [None, d1, ...] (or [] for a batch-wide reduction); found "
                             f"{shape!r}")
        steps = c.get("steps", 1)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"OpLayer: steps must be a positive int; found {steps!r}")
        op = cls(str(c.get("op_name", "op")), dict(spec), steps, tuple(shape), str(c.get("dtype", "float32")),
                 c.get("batch_reduce"))
        op.name = c.get("name")
        return op

    def __repr__(self) -> str:
        return f"<Op {self.default_name} name={self.name}>"


def op_node(op_name: str, inputs: Sequence[KerasTensor], spec: dict, shape: Shape, dtype: str,
            steps: int = 1, batch_reduce: Optional[str] = None) -> KerasTensor:
    """Record one op node and return its output tensor of Keras shape ``shape``."""
    return OpLayer(op_name, spec, steps, shape, dtype, batch_reduce)(list(inputs))


def param_spec(spec: dict, variables: list) -> dict:
    """``spec`` with the core's description of the op's parameters (cpp/src/nn/layers/ops.hpp)."""
    params: List[int] = [len(variables)]
    for v in variables:
        params += [int(v.trainable), len(v.shape), *v.shape]
    out = {**spec, "params": params, "param_names": [v.name for v in variables]}
    if any(v.regularizer is not None for v in variables):
        out["param_regularizers"] = [x for v in variables for x in (
            (v.regularizer.l1, v.regularizer.l2) if v.regularizer is not None else (0.0, 0.0))]
    return out


def param_node(op_name: str, inputs: Sequence[KerasTensor], spec: dict, shape: Shape, dtype: str, variables: list,
               steps: int = 1) -> KerasTensor:
    """Record an op whose ``variables`` are parameters of its node. A variable already held
    by a node (its layer called again) is read through that same node, shared; used by
    another op or on other shapes (tied weights), it is refused."""
    spec = param_spec(spec, variables)
    shapes = [t.shape for t in inputs]
    held = [v for v in variables if v._holder is not None]
    if held:
        holder = held[0]._holder
        same = (len(held) == len(variables) and all(v._holder is holder for v in variables)
                and holder._variables == list(variables) and holder._spec == spec and holder._steps == steps
                and holder._input_shapes == shapes)
        if not same:
            v = held[0]
            raise ValueError(f"ops.{op_name}: weight {v.path!r} is already read by another op node "
                             f"({holder.default_name} on inputs {holder._input_shapes}). dnnx keeps each weight in "
                             f"the one op node that reads it (a layer called again shares that node), so a weight "
                             f"used by two different ops (tied weights) or on inputs of other shapes is not "
                             f"supported; make a second weight with add_weight")
        return holder(list(inputs))
    layer = OpLayer(op_name, spec, steps, shape, dtype)
    layer._variables = list(variables)
    layer._trainable = all(v._owner.trainable for v in variables)
    layer._initial_weights = [v._value for v in variables]  # handed to the first model built with it
    for i, v in enumerate(variables):
        v._holder, v._slot = layer, i
    return layer(list(inputs))


def stores_ids(t: KerasTensor) -> bool:
    """The tensor reaches the core as int64 IDs (an integer model input or a host-stage
    lookup); integer tensors computed by ops hold integer values in floating point."""
    src = t._keras_history[0]
    return is_int_dtype(t.dtype) and (isinstance(src, InputLayer) or getattr(src, "host", False))


def per_sample(t: KerasTensor) -> Shape:
    return tuple(t.shape[1:])


def flat(shape: Sequence[int]) -> int:
    return int(math.prod(shape))
