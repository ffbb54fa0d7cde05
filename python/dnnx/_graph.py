"""From symbolic tensors to the ``_core.Network`` graph spec.

``trace(inputs, outputs)`` walks back from the outputs through the recorded nodes, checks
that every path starts at one of the inputs, fixes a topological order (depth-first, inputs
of a node in call order: a chain comes out in layer order) and names unnamed layers the
Keras way (``dense``, ``dense_1``, ...; inputs ``input_layer``, ``input_layer_1``, ...).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

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

    def __init__(self, inputs, outputs, order: Optional[List[Layer]] = None):
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
        self._group()
        self._name_everything()
        for t in self.outputs:
            if isinstance(t._keras_history[0], InputLayer):
                raise ValueError(f"Model: output {t.name!r} is a model input; pass it through layers.Identity() "
                                 f"to output it")
            if getattr(t._keras_history[0], "host", False):
                raise ValueError(f"Model: output {t.name!r} comes from a preprocessing layer that runs before the "
                                 f"network; outputs must be computed by network layers")
            if is_int_dtype(t.dtype):
                raise ValueError(f"Model: output {t.name!r} holds integers; outputs must be float tensors")
        self.output_names = list(out_keys) if out_keys else [self.top_producer(t).name for t in self.outputs]
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
        self._split_host_stage(order)
        ids: Dict[int, int] = {id(t): i for i, t in enumerate(self.core_inputs)}
        for j, node in enumerate(self.core_nodes):
            ids[id(node.output)] = len(self.core_inputs) + j
        self.tensor_ids = ids

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

    def _group(self) -> None:
        """The model's own view of its nodes: a node made inside a subclassed layer's call()
        belongs to that call (the outermost one), which is what ``layers``, the summary and
        the config show. ``nodes`` stay the leaf nodes C++ runs."""
        self.top_nodes: List[Node] = []
        seen = set()
        for node in self.nodes:
            top = node.owners[0] if node.owners else node
            if id(top) not in seen:
                seen.add(id(top))
                self.top_nodes.append(top)
        self.layers: List[Layer] = []
        for node in self.top_nodes:
            if node.layer not in self.layers:
                self.layers.append(node.layer)
        self.leaf_layers: List[Layer] = []
        for node in self.nodes:
            if node.layer not in self.leaf_layers:
                self.leaf_layers.append(node.layer)
        self._top_of_output = {id(t): (n, k) for n in self.top_nodes for k, t in enumerate(n.outputs)}
        self.top_index: Dict[int, int] = {}
        counts: Dict[int, int] = {}
        for node in self.top_nodes:
            k = counts.get(id(node.layer), 0)
            self.top_index[id(node)] = k
            counts[id(node.layer)] = k + 1

    def top_producer(self, t: KerasTensor):
        """The layer that produces ``t`` as this model sees it (a subclassed layer for its output)."""
        hit = self._top_of_output.get(id(t))
        return hit[0].layer if hit is not None else t._keras_history[0]

    def _name_everything(self) -> None:
        self._name(list(self.input_layers) + list(self.layers))
        # Layers inside subclassed layers: names need not be unique there (Keras scopes them),
        # but unnamed ones get fresh names.
        used = {o.name for o in list(self.input_layers) + list(self.layers)}
        for layer in self.leaf_layers:
            if any(layer is o for o in self.layers):
                continue
            if layer.name is None or layer._auto_name and layer.name in used:
                base, k = layer.default_name, 0
                name = base
                while name in used:
                    k += 1
                    name = f"{base}_{k}"
                layer.name, layer._auto_name = name, True
            used.add(layer.name)

    def _name(self, objects: list) -> None:
        """Unnamed layers get Keras's default names. Two layers with one name: an error when
        the user gave both names, else the automatically named one is renamed (names are
        per model here, not global as in Keras, so composed models can collide)."""
        used: Dict[str, object] = {}
        pending = []
        for o in objects:
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

    def _split_host_stage(self, order: Optional[List[Layer]]) -> None:
        """Host nodes (lookups, Discretization: NumPy, before the network) and core nodes (the
        C++ network). The network's inputs are the model inputs that core nodes read and the
        host nodes' outputs."""
        self.host_nodes = [n for n in self.nodes if getattr(n.layer, "host", False)]
        self.core_nodes = [n for n in self.nodes if not getattr(n.layer, "host", False)]
        used: List[Layer] = []
        for node in self.core_nodes:
            if node.layer not in used:
                used.append(node.layer)
        # The network's layer order is its weight order: Keras's (a subclassed layer's or
        # model's weights in the order its sublayers were assigned), then any others.
        if order is None:
            order = [leaf for top in self.layers for leaf in (top._leaves() if isinstance(top, Layer) else [top])]
        ids = {id(l) for l in used}
        self.core_layers = [l for l in order if id(l) in ids]
        self.core_layers = list(dict.fromkeys(self.core_layers)) + [l for l in used if l not in self.core_layers]
        read = {id(t) for n in self.core_nodes for t in n.inputs}
        self.core_inputs = [l.output for l in self.input_layers if id(l.output) in read]
        self.core_input_names = [l.name for l in self.input_layers if id(l.output) in read]
        for n in self.host_nodes:
            if id(n.output) in read:
                self.core_inputs.append(n.output)
                k = self.node_index[id(n)]
                self.core_input_names.append(n.layer.name if k == 0 else f"{n.layer.name}/{k}")
        self.host_sources = {id(n.output): self.input_layers.index(n.inputs[0]._keras_history[0])
                             for n in self.host_nodes}

    def network_inputs(self, arrays: List, dtype) -> List:
        """The network's input arrays from the model inputs' arrays (one per input layer, in
        order): the host stage runs here, once over all rows."""
        if not self.host_nodes:
            return arrays
        by_input = {id(l.output): a for l, a in zip(self.input_layers, arrays)}
        out = []
        for t in self.core_inputs:
            if id(t) in by_input:
                out.append(by_input[id(t)])
                continue
            layer = t._keras_history[0]
            node = layer._inbound_nodes[t._keras_history[1]]
            raw = arrays[self.host_sources[id(t)]]
            a = layer.host_call(raw, dtype)
            out.append(np.ascontiguousarray(a.reshape(a.shape[0], width(t.shape)),
                                            dtype=np.int64 if is_int_dtype(node.output.dtype) else dtype))
        return out

    @property
    def input_names(self) -> List[str]:
        return [l.name for l in self.input_layers]

    def spec(self, dtype: str, seed: int) -> dict:
        return {
            "dtype": dtype, "seed": seed,
            "inputs": [{"name": name, "dim": width(t.shape), "dtype": "int64" if is_int_dtype(t.dtype) else "float"}
                       for name, t in zip(self.core_input_names, self.core_inputs)],
            "layers": [l.spec() for l in self.core_layers],
            "nodes": [self._node_spec(n) for n in self.core_nodes],
            "outputs": [self.tensor_ids[id(t)] for t in self.outputs],
            "output_names": list(self.output_names),
            "loss": None, "optimizer": None, "metrics": [],
        }

    def _node_spec(self, n: Node) -> dict:
        d = {"layer": self.core_layers.index(n.layer), "inputs": [self.tensor_ids[id(t)] for t in n.inputs]}
        steps = n.layer.node_steps([t.shape for t in n.inputs])
        if steps != 1:
            d["steps"] = steps
        return d

    def history(self, t: KerasTensor) -> list:
        """``[layer_name, node_index, tensor_index]`` of ``t`` within this model (Keras config form)."""
        src, node_index, tensor_index = t._keras_history
        if isinstance(src, InputLayer):
            return [src.name, 0, tensor_index]
        hit = self._top_of_output.get(id(t))
        if hit is not None:
            top, k = hit
            return [top.layer.name, self.top_index[id(top)], k]
        return [src.name, self.node_index[id(src._inbound_nodes[node_index])], tensor_index]
