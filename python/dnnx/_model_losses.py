"""``model.losses``: Keras 3's list of scalar losses, as values.

Keras 3 (``Layer.losses``) lists, in this order:

- the ``add_loss`` terms of the model's most recent direct call on data (``model(x)``),
  the model's own first, then its layers' in order. Keras computes them in that eager call
  and clears them at the next; ``fit``, ``evaluate`` and ``predict`` do not leave them
  behind (on JAX they run statelessly). Here ``model(x)`` on arrays computes them on all
  of ``x`` (a batch-wide ``ops.mean`` is the mean over every row, as in one eager call);
  before such a call there are none.
- one regularization loss per trainable weight that has a regularizer, on the current
  weights: ``l1 * sum(|w|) + l2 * sum(w**2)`` (a frozen layer's weights have none, as in
  Keras).

Each value is a 0-d NumPy array of the model dtype. The symbolic terms themselves stay in
the graph (``dnnx._loss_terms`` trains them in C++).
"""

from __future__ import annotations

from typing import List

import numpy as np


def regularization_losses(model) -> List[np.ndarray]:
    """Per regularized trainable weight, in weight order: its penalty on the current weights."""
    from ._layer import declared_fields
    from . import _core
    if model._net is None:
        return []
    model._pull_shared()
    params, names, flags = model._net.params(), model._net.param_names(), model._trainable_flags()
    decls = _core.layer_declarations()
    out = []
    for layer in model._graph.core_layers:
        first, n = model._slices.get(id(layer), (0, 0))
        held = getattr(layer, "_variables", None)  # an op node holding add_weight variables
        if n and held:
            for i, v in enumerate(held):
                if v.regularizer is not None and flags[first + i]:
                    w = params[first + i].astype(np.float64)
                    value = v.regularizer.l1 * np.sum(np.abs(w)) + v.regularizer.l2 * np.sum(w * w)
                    out.append(np.asarray(value, dtype=model._np_dtype))
            continue
        if not n or layer.type_name not in decls:
            continue
        fields = [f["key"] for f in declared_fields(layer.type_name) if f["type"] == "regularizer"]
        for i in range(first, first + n):
            reg = next((getattr(layer, key, None) for key in fields
                        if names[i].endswith("/" + key[:-len("_regularizer")])), None)
            if reg is None or not flags[i]:
                continue
            w = params[i].astype(np.float64)
            value = reg.l1 * np.sum(np.abs(w)) + reg.l2 * np.sum(w * w)
            out.append(np.asarray(value, dtype=model._np_dtype))
    return out


def _scalar_terms(terms) -> list:
    """Each term as a batch-wide scalar (ops.sum over every axis for a per-sample tensor, as
    Keras sums a non-scalar add_loss), the form _loss_terms trains."""
    from . import ops
    out = []
    for t in terms:
        v = t if t._batch_reduce is not None or t.shape == () else ops.sum(t)
        out.append(v if v._batch_reduce is not None else ops.sum(v))
    return out


def record_call(model, x) -> None:
    """After ``model(x)`` on arrays: the values of the add_loss terms on ``x``."""
    from . import _core
    from ._graph import Graph
    from ._loss_terms import _added_losses
    g = model._graph
    terms = _added_losses(model, g) if g is not None else []
    if not terms:
        model.__dict__["_call_losses"] = []
        return
    key = tuple(id(t) for t in terms)
    cached = model.__dict__.get("_call_loss_net")
    if cached is None or cached[0] != key:
        values = _scalar_terms(terms)
        eg = Graph([l.output for l in g.input_layers], {f"__loss_term_{k}": v for k, v in enumerate(values)},
                   order=list(g.core_layers))
        net = _core.Network(eg.spec(model.dtype, 0))
        cached = (key, eg, net, [v._batch_reduce for v in values])
        model.__dict__["_call_loss_net"] = cached
    _, eg, net, kinds = cached
    model._pull_shared()
    first = 0
    params = net.params()
    for layer, n in zip(eg.core_layers, net.layer_param_counts()):
        for dst, src in zip(params[first:first + n], model._layer_views(layer)):
            dst[...] = src
        first += n
    net.params_changed()
    arrays = model._inputs(x)
    by_id = {id(t): a for t, a in zip(g.core_inputs, arrays)}
    ins = [by_id[id(t)] for t in eg.core_inputs]
    outs = net.predict(ins[0] if len(ins) == 1 else ins, 0)
    outs = outs if isinstance(outs, list) else [outs]
    model.__dict__["_call_losses"] = [
        np.asarray(np.mean(o) if kind == "mean" else np.sum(o), dtype=model._np_dtype) for o, kind in zip(outs, kinds)]


def losses(model) -> List[np.ndarray]:
    return list(model.__dict__.get("_call_losses", [])) + regularization_losses(model)
