"""``dnnx.utils.plot_model`` / ``model_to_dot``: the model graph drawn by graphviz through
pydot, with Keras 3's node labels (keras.utils.plot_model).

pydot (``pip install pydot``) builds the graph; writing an image also needs graphviz's
``dot`` program (Debian/Ubuntu: ``apt-get install graphviz``). Without either, a clear
ImportError says what to install.
"""

from __future__ import annotations

import os


def _pydot():
    try:
        import pydot
    except ImportError:
        raise ImportError("plot_model/model_to_dot need pydot: pip install pydot (and graphviz's `dot` program "
                          "to write images: apt-get install graphviz, or see https://graphviz.org/download/)") from None
    return pydot


def _check_graphviz(pydot) -> None:
    try:
        pydot.Dot.create(pydot.Dot())
    except (OSError, pydot.PydotException) as e:  # FileNotFoundError when `dot` is not on PATH
        raise ImportError(f"plot_model needs graphviz's `dot` program to write images and it was not found ({e}); "
                          f"install graphviz (apt-get install graphviz, or see https://graphviz.org/download/), or "
                          f"use dnnx.utils.model_to_dot(model).to_string() for the DOT text") from None


def _shape(t) -> str:
    return str(tuple(t.shape)) if t is not None else "?"


def _label(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable) -> str:
    """Keras 3's HTML-like node label (make_layer_label)."""
    from ._layer import InputLayer
    cls = "InputLayer" if isinstance(layer, InputLayer) else type(layer).__name__
    colspan = max(1, int(show_dtype) + int(show_trainable) + (2 if show_shapes else 0))
    title = f"<b>{layer.name}</b> ({cls})" if show_layer_names else f"<b>{cls}</b>"
    table = ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
             f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" color="white">{title}'
             "</font></td></tr>")
    act = getattr(layer, "activation", None)
    if show_layer_activations and act is not None:
        table += (f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
                  f"Activation: <b>{getattr(act, 'name', act)}</b></font></td></tr>")
    cols = []
    if show_shapes:
        if cls != "InputLayer":
            ins = [n.inputs for n in layer._inbound_nodes]
            shape = "?" if len(ins) != 1 else (
                _shape(ins[0][0]) if len(ins[0]) == 1 else str([tuple(t.shape) for t in ins[0]]))
            cols.append(f'<td bgcolor="white"><font point-size="14">Input shape: <b>{shape}</b></font></td>')
        outs = [layer.output] if cls == "InputLayer" else [t for n in layer._inbound_nodes for t in n.outputs]
        shape = _shape(outs[0]) if len(outs) == 1 else "?"
        cols.append(f'<td bgcolor="white"><font point-size="14">Output shape: <b>{shape}</b></font></td>')
    if show_dtype:
        outs = [layer.output] if cls == "InputLayer" else [t for n in layer._inbound_nodes for t in n.outputs]
        dtype = outs[0].dtype if len(outs) == 1 else "?"
        cols.append(f'<td bgcolor="white"><font point-size="14">Output dtype: <b>{dtype}</b></font></td>')
    if show_trainable and cls != "InputLayer" and layer.count_params():
        cols.append('<td bgcolor="forestgreen"><font point-size="14" color="white"><b>Trainable</b></font></td>'
                    if layer.trainable else
                    '<td bgcolor="firebrick"><font point-size="14" color="white"><b>Non-trainable</b></font></td>')
    if cols:
        table += f"<tr>{''.join(cols)}</tr>"
    return table + "</table>>"


def model_to_dot(model, show_shapes: bool = False, show_dtype: bool = False, show_layer_names: bool = True,
                 rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200, subgraph: bool = False,
                 show_layer_activations: bool = False, show_trainable: bool = False, splines: str = "ortho"):
    """The model as a ``pydot.Dot`` graph (Keras 3's ``keras.utils.model_to_dot``): one
    node per layer (named after it), an edge per connection. ``.to_string()`` is the DOT
    text; no graphviz program is needed for it."""
    from ._sequential import Sequential
    pydot = _pydot()
    if not getattr(model, "built", False):
        model._require_built("model_to_dot") if hasattr(model, "_require_built") else None
        if not getattr(model, "built", False):
            raise ValueError("model_to_dot: the model is not built yet; give it an Input or call build() first")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"model_to_dot: rankdir must be 'TB' or 'LR'. Received: rankdir={rankdir!r}")
    if expand_nested:
        raise ValueError("model_to_dot: expand_nested=True is not supported (nested models are not layers in dnnx)")
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    kw = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
              show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    layers = model.layers
    ids = {id(l): f'"{l.name}"' for l in layers}

    def add_edge(src, dst):
        if not dot.get_edge(ids[id(src)], ids[id(dst)]):
            edge = pydot.Edge(ids[id(src)], ids[id(dst)])
            edge.set("penwidth", "2")
            dot.add_edge(edge)

    for layer in layers:
        node = pydot.Node(ids[id(layer)], label=_label(layer, **kw))
        node.set("fontname", "Helvetica")
        node.set("border", "0")
        node.set("margin", "0")
        dot.add_node(node)
    if isinstance(model, Sequential):  # Keras draws a Sequential as its chain, without the input
        for a, b in zip(layers, layers[1:]):
            add_edge(a, b)
        return dot
    members = {id(l) for l in layers}
    for node in model._graph.nodes:
        for t in node.inputs:
            src = t._keras_history[0]
            if id(src) in members:
                add_edge(src, node.layer)
    return dot


def plot_model(model, to_file="model.png", show_shapes: bool = False, show_dtype: bool = False,
               show_layer_names: bool = False, rankdir: str = "TB", expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False, splines: str = "ortho",
               **kwargs) -> None:
    """Draw the model to ``to_file`` (the format from its extension, png by default), as
    Keras 3's ``keras.utils.plot_model``. Needs pydot and graphviz's ``dot`` program; a
    clear ImportError names what is missing."""
    if kwargs:
        raise ValueError(f"plot_model: unrecognized keyword arguments: {sorted(kwargs)}")
    pydot = _pydot()
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                       rankdir=rankdir, expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations, show_trainable=show_trainable,
                       splines=splines)
    _check_graphviz(pydot)
    to_file = os.fspath(to_file)
    ext = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=ext)
