"""Op nodes: what a ``dnnx.ops`` call on symbolic tensors records in the graph.

An op is a graph node like a layer call, but of an ``OpLayer``: a weightless node that is
not one of ``model.layers`` (Keras keeps ops out of them too) and whose core layer dict is
fixed when the op is called (``type`` "op" with the op code and its shape description, or
an existing core layer such as "activation", "identity" or "concatenate"). Training a
model built with ops still runs whole epochs in C++: each op is a C++ forward and
backward (cpp/src/nn/layers/op_*.cpp).

Tensors in the core are (batch, flat width); ``op_node`` gets the Keras shape of the
result and the layer dict that computes its flat values.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np

from ._layer import InputLayer, KerasTensor, Layer, Node, Shape, is_int_dtype


class OpLayer(Layer):
    """The weightless node of one op call (see the module docstring)."""

    is_op = True

    def __init__(self, op_name: str, spec: dict, steps: int = 1):
        super().__init__(None, None, True)
        self.default_name = op_name
        self.type_name = spec["type"]
        self._spec = spec
        self._steps = steps

    def spec(self) -> dict:
        return {**self._spec, "name": self.name}

    def node_steps(self, input_shapes) -> int:
        return self._steps

    def _standalone_weights(self) -> List[np.ndarray]:
        return []

    def __call__(self, inputs):
        raise TypeError(f"op {self.default_name!r} is a recorded op node, not a layer to call; call dnnx.ops."
                        f"{self.default_name} again instead")

    def get_config(self) -> dict:
        return {"name": self.name, "spec": {k: v for k, v in self._spec.items()}, "steps": self._steps}

    def __repr__(self) -> str:
        return f"<Op {self.default_name} name={self.name}>"


def op_node(op_name: str, inputs: Sequence[KerasTensor], spec: dict, shape: Shape, dtype: str,
            steps: int = 1, batch_reduce: Optional[str] = None) -> KerasTensor:
    """Record one op node and return its output tensor of Keras shape ``shape``."""
    layer = OpLayer(op_name, spec, steps)
    out = KerasTensor(tuple(shape), dtype, (layer, 0, 0))
    if batch_reduce is not None:
        out._batch_reduce = batch_reduce
    layer._inbound_nodes.append(Node(layer, list(inputs), out))
    layer._input_shapes = [t.shape for t in inputs]
    return out


def stores_ids(t: KerasTensor) -> bool:
    """The tensor reaches the core as int64 IDs (an integer model input or a host-stage
    lookup); integer tensors computed by ops hold integer values in floating point."""
    src = t._keras_history[0]
    return is_int_dtype(t.dtype) and (isinstance(src, InputLayer) or getattr(src, "host", False))


def per_sample(t: KerasTensor) -> Shape:
    return tuple(t.shape[1:])


def flat(shape: Sequence[int]) -> int:
    return int(math.prod(shape))
