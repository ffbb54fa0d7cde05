"""The training-only part of a model's graph: custom losses and ``add_loss`` terms.

A custom loss (a function ``fn(y_true, y_pred)`` written in ``dnnx.ops``, or a
``losses.Loss`` subclass with ``call``) is traced once on symbolic targets: a float input
per such output (fed the targets ``y`` when training and evaluating) and the loss's ops as
graph nodes. Its value and every ``add_loss`` term become extra network outputs whose C++
loss is "value" (the output holds the loss), so ``fit`` still runs whole epochs in C++.
Keras's reductions apply:

- per-sample values ``(batch, ...)``: the loss's reduction (``sum_over_batch_size``: the
  mean over every value; ``sum``; ``mean_with_sample_weight``), weighted per sample;
- a batch-wide scalar L (``ops.mean(...)`` / ``ops.sum(...)`` over every axis): Keras
  multiplies L by each sample weight and reduces those values with the loss's reduction, so
  L x mean(weights) (``sum_over_batch_size``), L x sum(weights) (``sum``), or L
  (``mean_with_sample_weight``; 0 when the weights sum to 0);
- ``add_loss`` terms: added to the loss as they are (a non-scalar is summed over every
  axis, as Keras does), never weighted.

Predict feeds the target inputs zeros and ignores the extra outputs.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from ._graph import Graph
from ._layer import InputLayer, KerasTensor, width

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean_with_sample_weight", "mean")


class Plan:
    """The extended graph: model inputs + target inputs -> model outputs + loss terms."""

    def __init__(self, graph: Graph, targets: List[Tuple[int, KerasTensor]], specs: List[dict], key,
                 shapes: Dict[str, tuple]):
        self.graph = graph
        self.shapes = shapes    # output name -> the targets' per-sample shape it was traced for
        self.targets = targets  # (output index, target input tensor), in network input order
        self.specs = specs      # one core loss dict per term
        self.key = key          # what the plan was traced from (a rebuild is needed when it changes)

    def label_inputs(self) -> List[Tuple[int, int]]:
        """(output index, per-sample width) of the target inputs the network reads, in order."""
        read = {id(t) for t in self.graph.core_inputs}
        return [(o, width(t.shape)) for o, t in self.targets if id(t) in read]


def _value_spec(v: KerasTensor, reduction: str, what: str) -> dict:
    if not isinstance(v, KerasTensor):
        raise TypeError(f"{what} must return a tensor computed from y_true and y_pred with dnnx.ops; received "
                        f"{type(v).__name__}")
    if v._batch_reduce is not None:  # a scalar L: Keras weighs L by each sample weight, then reduces
        weighting = {"sum": "batch_sum", "mean_with_sample_weight": "batch_normalized"}.get(reduction, "batch_mean")
        return {"name": "value", "reduction": "sum_over_batch_size" if v._batch_reduce == "mean" else "sum",
                "sample_weight": weighting}
    red = "sum_over_batch_size" if reduction == "mean" else reduction
    return {"name": "value", "reduction": red, "sample_weight": "rows"}


def _trace_loss(loss, y_true: KerasTensor, y_pred: KerasTensor, out_name: str) -> KerasTensor:
    what = f"the loss {loss.name!r} of output {out_name!r}"
    try:
        v = loss.call(y_true, y_pred)
    except (TypeError, ValueError, IndexError) as e:
        raise type(e)(f"compile: {what} cannot be traced into the graph (it must be written in dnnx.ops on its "
                      f"symbolic arguments): {e}") from e
    if isinstance(v, KerasTensor) and v is y_pred:
        from . import ops
        v = ops.multiply(v, 1.0)
    return v


def _added_losses(model, graph: Graph) -> List[KerasTensor]:
    """model.add_loss terms and the symbolic losses the graph's layers added in their calls
    (those computed from this model's inputs only)."""
    terms = list(getattr(model, "_added_losses", []))
    inputs = {id(l) for l in graph.input_layers}
    for layer in graph.layers:
        for t in getattr(layer, "_symbolic_losses", []):
            if t not in terms and _sources(t) <= inputs:
                terms.append(t)
    return terms


def _sources(t: KerasTensor) -> set:
    seen, out, stack = set(), set(), [t]
    while stack:
        u = stack.pop()
        src, k, _ = u._keras_history
        if isinstance(src, InputLayer):
            out.add(id(src))
            continue
        node = src._inbound_nodes[k]
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(node.inputs)
    return out


def plan(model, config, target_shapes: Dict[str, tuple], old: Optional[Plan] = None) -> Optional[Plan]:
    """The extended graph for this compile config, or None when every loss is built in and
    there is no add_loss term; ``old`` when nothing it was traced from changed."""
    from . import ops
    g = model._graph
    custom = [(i, o) for i, o in enumerate(config.outputs) if o.loss is not None and o.loss.traced]
    added = _added_losses(model, g)
    if not custom and not added:
        return None
    key = (tuple((i, id(o.loss), target_shapes.get(o.name)) for i, o in custom), tuple(id(t) for t in added),
           config.per_output_loss_keys, tuple(o.weight for _, o in custom))
    if old is not None and old.key == key:
        return old
    targets, specs, values, shapes = [], [], [], {}
    for i, o in custom:
        t = g.outputs[i]
        guessed = o.name not in target_shapes  # before fit/evaluate has seen targets: y_pred's shape
        shape = target_shapes.get(o.name, tuple(t.shape[1:]))
        y_true = InputLayer(shape, model.dtype, None, owner="y_true").output
        try:
            v = _trace_loss(o.loss, y_true, t, o.name)
        except ValueError:
            if guessed:  # e.g. class indices one-hot encoded in the loss: traced when the targets come
                continue
            raise
        shapes[o.name] = shape
        spec = _value_spec(v, o.loss.reduction, f"the loss {o.loss.name!r}")
        spec.update(weight=o.weight, key=f"{o.name}_loss", logged=config.per_output_loss_keys)
        targets.append((i, y_true))
        specs.append(spec)
        values.append(v)
    for t in added:
        v = t if t._batch_reduce is not None or t.shape == () else ops.sum(t)
        if v._batch_reduce is None:
            v = ops.sum(v)
        specs.append({"name": "value", "reduction": "sum_over_batch_size" if v._batch_reduce == "mean" else "sum",
                      "sample_weight": "none", "logged": False, "weight": 1.0, "key": "add_loss"})
        values.append(v)
    if not values:
        return None
    outputs = {name: t for name, t in zip(g.output_names, g.outputs)}
    for k, v in enumerate(values):
        outputs[f"__loss_term_{k}"] = v
    inputs = [l.output for l in g.input_layers] + [y for _, y in targets]
    # the model's layers first, in its weight order: the network keeps the model's weight layout
    return Plan(Graph(inputs, outputs, order=list(g.core_layers)), targets, specs, key, shapes)


def target_array(value, n: int, dtype, name: str) -> np.ndarray:
    """The targets of a custom loss as an (n, width) float array of the model dtype."""
    from . import _validation
    a = _validation._as_array(value, name)
    if a.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows (one per sample of x); received shape {a.shape}")
    a = np.ascontiguousarray(a.reshape(n, -1) if a.ndim != 2 else a, dtype=dtype)
    return _validation.finite(a, name)
