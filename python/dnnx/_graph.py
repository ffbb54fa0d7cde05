"""From symbolic tensors to the ``_core.Network`` graph spec.

``trace(inputs, outputs)`` walks back from the outputs through the recorded nodes, checks
that every path starts at one of the inputs, fixes a topological order (depth-first, inputs
of a node in call order: a chain comes out in layer order) and names unnamed layers the
Keras way (``dense``, ``dense_1``, ...; inputs ``input_layer``, ``input_layer_1``, ...).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ._layer import InputLayer, KerasTensor, Layer, Node, is_int_dtype, width


def _flatten(struct, what: str) -> Tuple[List[KerasTensor], Optional[List[str]], str]:
    """(tensors, dict keys or None, kind) for a tensor, a list/tuple or a dict of tensors."""
    if isinstance(struct, KerasTensor):
        return [struct], None, "tensor"
    if isinstance(struct, dict):
        items = list(struct.items())
        if not items or not all(isinstance(k, str) and isinstance(v, KerasTensor) for k, v in items):
            raise TypeError(f"Model: {what} must be a KerasTensor, a list or a dict {{name: KerasTensor}}; "
                            f"received {struct!r}")
        return [v for _, v in items], [k for k, _ in items], "dict"
    if isinstance(struct, (list, tuple)) and struct and all(isinstance(t, KerasTensor) for t in struct):
        return list(struct), None, "list"
    raise TypeError(f"Model: {what} must be a KerasTensor (from dnnx.Input or a layer call), a non-empty list "
                    f"or a dict of them; received {struct!r}")


class Graph:
    """A traced functional graph: inputs, nodes in topological order, outputs."""

    def __init__(self, inputs, outputs):
        self.inputs, in_keys, self.input_kind = _flatten(inputs, "inputs")
        self.outputs, out_keys, self.output_kind = _flatten(outputs, "outputs")
        self.input_layers: List[InputLayer] = []
        for t, key in zip(self.inputs, in_keys or [None] * len(self.inputs)):
            src = t._keras_history[0]
            if not isinstance(src, InputLayer):
                raise ValueError(f"Model: every input must come from dnnx.Input; {t!r} is the output of layer "
                                 f"{src.name!r}")
            if src in self.input_layers:
                raise ValueError(f"Model: input {src.name!r} is listed twice")
            if key is not None:
                if src.name is None:
                    src.name = key
                    src._auto_name = False
                elif src.name != key:
                    raise ValueError(f"Model: inputs dict key {key!r} must equal the Input's name {src.name!r}")
            self.input_layers.append(src)
        self.nodes: List[Node] = []
        self._visit_all()
        self.layers: List[Layer] = []
        for node in self.nodes:
            if node.layer not in self.layers:
                self.layers.append(node.layer)
        self._name_everything()
        ids: Dict[int, int] = {id(t): i for i, t in enumerate(self.inputs)}
        for j, node in enumerate(self.nodes):
            ids[id(node.output)] = len(self.inputs) + j
        self.tensor_ids = ids
        for t in self.outputs:
            if isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"Model: output {t.name!r} is a model input; pass it through layers.Identity() "
                                 f"to output it")
            if is_int_dtype(t.dtype):
                raise ValueError(f"Model: output {t.name!r} holds integers; outputs must be float tensors")
        self.output_names = list(out_keys) if out_keys else [t._keras_history[0].name for t in self.outputs]
        dup = sorted({n for n in self.output_names if self.output_names.count(n) > 1})
        if dup:
            raise ValueError(f"Model: outputs {dup} come from the same layer; give the outputs as a dict "
                             f"{{name: tensor}} to name them")
        # Model-level nodes of each layer, in this model's order (Keras's node reindexing).
        self.node_index: Dict[int, int] = {}
        counts: Dict[int, int] = {}
        for node in self.nodes:
            k = counts.get(id(node.layer), 0)
            self.node_index[id(node)] = k
            counts[id(node.layer)] = k + 1

    def _visit_all(self) -> None:
        seen = set()
        for out in self.outputs:
            stack = [(out, False)]
            while stack:  # iterative post-order (deep chains must not hit the recursion limit)
                t, expanded = stack.pop()
                src, node_index, _ = t._keras_history
                if isinstance(src, InputLayer):
                    if src not in self.input_layers:
                        raise ValueError(f"Model: the outputs depend on input {src.name or t!r} which is not in "
                                         f"the model's inputs")
                    continue
                node = src._inbound_nodes[node_index]
                if id(node) in seen:
                    continue
                if expanded:
                    seen.add(id(node))
                    self.nodes.append(node)
                    continue
                stack.append((t, True))
                stack.extend((i, False) for i in reversed(node.inputs))

    def _name_everything(self) -> None:
        """Unnamed layers get Keras's default names. Two layers with one name: an error when
        the user gave both names, else the automatically named one is renamed (names are
        per model here, not global as in Keras, so composed models can collide)."""
        used: Dict[str, object] = {}
        pending = []
        for o in list(self.input_layers) + list(self.layers):
            if o.name is None:
                pending.append(o)
                continue
            other = used.get(o.name)
            if other is None or other is o:
                used[o.name] = o
            elif o._auto_name:
                pending.append(o)
            elif other._auto_name:
                used[o.name] = o
                pending.append(other)
            else:
                raise ValueError(f"Model: the name {o.name!r} is used by two layers; layer names must be unique")
        for o in pending:
            base, k = o.default_name, 0
            name = base
            while name in used:
                k += 1
                name = f"{base}_{k}"
            o.name = name
            o._auto_name = True
            used[name] = o

    @property
    def input_names(self) -> List[str]:
        return [l.name for l in self.input_layers]

    def spec(self, dtype: str, seed: int) -> dict:
        return {
            "dtype": dtype, "seed": seed,
            "inputs": [{"name": l.name, "dim": width(l.batch_shape),
                        "dtype": "int64" if is_int_dtype(l.dtype) else "float"} for l in self.input_layers],
            "layers": [l.spec() for l in self.layers],
            "nodes": [self._node_spec(n) for n in self.nodes],
            "outputs": [self.tensor_ids[id(t)] for t in self.outputs],
            "output_names": list(self.output_names),
            "loss": None, "optimizer": None, "metrics": [],
        }

    def _node_spec(self, n: Node) -> dict:
        d = {"layer": self.layers.index(n.layer), "inputs": [self.tensor_ids[id(t)] for t in n.inputs]}
        steps = n.layer.node_steps([t.shape for t in n.inputs])
        if steps != 1:
            d["steps"] = steps
        return d

    def history(self, t: KerasTensor) -> list:
        """``[layer_name, node_index, tensor_index]`` of ``t`` within this model (Keras config form)."""
        src, node_index, tensor_index = t._keras_history
        if isinstance(src, InputLayer):
            return [src.name, 0, tensor_index]
        return [src.name, self.node_index[id(src._inbound_nodes[node_index])], tensor_index]
