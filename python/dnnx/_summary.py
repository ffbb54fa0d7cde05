"""``model.summary()``: Keras's table (Layer (type), Output Shape, Param #, and for functional
models Connected to, one ``layer[node][tensor]`` per line), then the parameter totals.
Frozen layers' weights and non-trainable weights (BatchNormalization's moving statistics)
count as non-trainable."""

from __future__ import annotations

from typing import List, Tuple

from ._layer import InputLayer, Layer


def _shape(shape) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _rows(model) -> List[Tuple[str, str, str, List[str]]]:
    g = model._graph
    rows = []
    for layer in model.layers:
        label = f"{layer.name} ({type(layer).__name__})"
        if g is None:  # an unbuilt Sequential
            rows.append((label, "?", "0 (unbuilt)", []))
            continue
        if isinstance(layer, InputLayer):
            rows.append((label, _shape(layer.batch_shape), "0", ["-"]))
            continue
        nodes = _calls(g, layer)
        shapes = {tuple(t.shape for t in n.outputs) for n in nodes}
        one = shapes.pop() if len(shapes) == 1 else None
        shape = (_shape(one[0]) if len(one) == 1 else "[" + ", ".join(_shape(s) for s in one) + "]") if one \
            else "multiple" if shapes else "?"
        links = [f"{h[0]}[{h[1]}][{h[2]}]" for n in nodes for h in (g.history(t) for t in n.inputs)]
        rows.append((label, shape, f"{layer.count_params():,}", links))
    return rows


def _calls(g, layer) -> list:
    """The calls of ``layer`` this model runs: its top-level nodes; for a layer or model held
    by a subclassed model, the calls found inside (a model: those of its last layer)."""
    nodes = [n for n in g.top_nodes if n.layer is layer]
    if nodes:
        return nodes
    if not isinstance(layer, Layer):
        layers = [l for l in layer.layers if not isinstance(l, InputLayer)]
        return _calls(g, layers[-1]) if layers else []
    inner = [o for n in g.nodes for o in n.owners if o.layer is layer]
    return list({id(o): o for o in inner}.values()) or [n for n in g.nodes if n.layer is layer]


def print_summary(model, print_fn) -> None:
    from .models import Sequential
    if isinstance(model, Sequential) and model._input_layer is not None:
        model._require_built("summary")
    functional = not isinstance(model, Sequential) and not getattr(model, "_subclassed", False)
    header = ("Layer (type)", "Output Shape", "Param #", "Connected to")
    rows = _rows(model)
    ncol = 4 if functional else 3
    w = [max(len(r[i]) for r in [header[:3]] + [r[:3] for r in rows]) + 2 for i in range(3)]
    if functional:
        w.append(max([len(header[3])] + [len(s) for r in rows for s in r[3]]) + 2)
    total = sum(w)

    def line(cells) -> str:
        out = cells[0].ljust(w[0]) + cells[1].ljust(w[1]) + cells[2].rjust(w[2] - 2) + "  "
        if ncol == 4:
            out += cells[3].ljust(w[3])
        return out.rstrip()

    print_fn(f'Model: "{model.name}"')
    print_fn("-" * total)
    print_fn(line(header))
    print_fn("=" * total)
    for r in rows:
        links = r[3] or [""]
        print_fn(line((r[0], r[1], r[2], links[0])))
        for extra in links[1:]:
            print_fn(line(("", "", "", extra)))
        print_fn("-" * total)
    trainable = non_trainable = 0
    if model._net is not None:
        for p, t in zip(model._net.params(), model._trainable_flags()):
            if t:
                trainable += p.size
            else:
                non_trainable += p.size
    size = model._np_dtype.itemsize
    print_fn(f"Total params: {trainable + non_trainable:,} ({_memory((trainable + non_trainable) * size)})")
    print_fn(f"Trainable params: {trainable:,} ({_memory(trainable * size)})")
    print_fn(f"Non-trainable params: {non_trainable:,} ({_memory(non_trainable * size)})")


def _memory(n: float) -> str:
    """Keras's readable size: ``228.00 B``, ``1.50 KB``, ..."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
