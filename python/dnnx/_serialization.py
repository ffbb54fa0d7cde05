"""Model configs in Keras 3's layout, and back.

``Functional``: ``{"name", "trainable", "layers": [{"module", "class_name", "config",
"registered_name", "name", "inbound_nodes"}], "input_layers", "output_layers"}``, where a node
is ``{"args": [tensor or [tensors]], "kwargs": {}}`` and a tensor is
``{"class_name": "__keras_tensor__", "config": {"shape", "dtype", "keras_history": [layer,
node, tensor]}}``. ``Sequential``: ``{"name", "trainable", "dtype", "layers": [...]}``.
Reading accepts only dnnx's own layer classes (a fixed table); nothing named in a config is
imported or executed.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from ._layer import InputLayer, KerasTensor, flat_outputs

MODULE = "dnnx.layers"


def _entry(layer, class_name: str, config: dict) -> dict:
    if getattr(layer, "_is_composite", lambda: False)():  # a subclassed layer: the user's class
        from ._custom_objects import get_registered_name
        return {"module": type(layer).__module__, "class_name": class_name, "config": config,
                "registered_name": get_registered_name(layer), "name": layer.name}
    return {"module": MODULE, "class_name": class_name, "config": config, "registered_name": None,
            "name": layer.name}


def _tensor_config(graph, t: KerasTensor) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype, "keras_history": graph.history(t)}}


def _structure(graph, kind: str, tensors: List[KerasTensor], keys: Optional[List[str]]):
    hist = [graph.history(t) for t in tensors]
    if kind == "dict":
        return dict(zip(keys, hist))
    return hist[0] if kind == "tensor" else hist  # Keras writes a lone tensor as a bare triple


def functional_config(model) -> dict:
    g = model._graph
    layers = [{**_entry(l, "InputLayer", l.get_config()), "inbound_nodes": []} for l in g.input_layers]
    for layer in g.layers:
        nodes = []
        for node in g.top_nodes:
            if node.layer is layer:
                args = [_tensor_config(g, t) for t in node.inputs]
                listed = layer.takes_list or layer.__dict__.get("_list_call", False)
                nodes.append({"args": [args] if listed else args, "kwargs": {}})
        layers.append({**_entry(layer, type(layer).__name__, layer.get_config()), "inbound_nodes": nodes})
    in_keys = g.input_names if g.input_kind == "dict" else None
    out_keys = g.output_names if g.output_kind == "dict" else None
    cfg = {"name": model.name, "trainable": model.trainable, "layers": layers,
           "input_layers": _structure(g, g.input_kind, [l.output for l in g.input_layers], in_keys),
           "output_layers": _structure(g, g.output_kind, g.outputs, out_keys)}
    if model._explicit_dtype:
        cfg["dtype"] = model.dtype  # otherwise it follows the inputs, as Keras has it
    return cfg


def sequential_config(model) -> dict:
    layers = []
    if model._input_layer is not None:
        il = model._input_layer
        layers.append(_entry(il, "InputLayer", il.get_config()))
    layers += [_entry(l, type(l).__name__, l.get_config()) for l in model._layers]
    return {"name": model.name, "trainable": model.trainable, "dtype": model.dtype, "layers": layers}


def serialize_model(model) -> dict:
    from .models import Sequential
    if model._subclassed:  # Keras: the class, its get_config(), and what it was built on
        from ._custom_objects import get_registered_name
        return {"module": type(model).__module__, "class_name": type(model).__name__, "config": model.get_config(),
                "registered_name": get_registered_name(model), "build_config": model._build_config}
    class_name = "Sequential" if isinstance(model, Sequential) else "Functional"
    return {"module": "dnnx.models", "class_name": class_name, "config": model.get_config(),
            "registered_name": None}


# -- reading -----------------------------------------------------------------------------
def _fail(msg: str):
    raise ValueError(f"model config: {msg}")


_IGNORED = {"InputLayer": {"ragged", "optional"}}  # Keras writes them (always False for dense inputs)


def _layer_from_entry(entry: Any):
    from .layers import CLASS_NAMES
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        _fail(f"each layer must be an object with a 'config' object; found {entry!r}")
    cls_name = entry.get("class_name")
    from ._custom_objects import resolve
    from ._layer import Layer
    custom = resolve(entry, Layer, "layer") if entry.get("module") != MODULE else None
    if custom is not None:
        cls = custom
    elif cls_name == "InputLayer":
        cls = InputLayer
    elif cls_name == "OpLayer" and entry.get("module") in (None, MODULE):
        from ._op import OpLayer
        cls = OpLayer
    elif cls_name in CLASS_NAMES:
        cls = CLASS_NAMES[cls_name]
    elif entry.get("module") not in (None, MODULE):
        from ._custom_objects import unregistered
        _fail(str(unregistered(entry, "layer class")))
    else:
        _fail(f"unknown layer class {cls_name!r}; dnnx layers are InputLayer, {', '.join(sorted(CLASS_NAMES))}")
    try:
        layer = cls.from_config(dict(entry["config"]))
    except (TypeError, ValueError, KeyError) as e:
        _fail(f"layer {entry.get('name', cls_name)!r} ({cls_name}): {e}")
    unknown = set(entry["config"]) - set(layer.get_config()) - _IGNORED.get(cls_name, set())
    if unknown:
        _fail(f"layer {entry.get('name', cls_name)!r} ({cls_name}): unknown config keys {sorted(unknown)}")
    name = entry.get("name", layer.name)
    if not isinstance(name, str) or not name:
        _fail(f"layer name must be a non-empty string; found {name!r}")
    layer.name = name
    return layer


def _history(value: Any, where: str):
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value[1:])):
        _fail(f"{where}: expected [layer_name, node_index, tensor_index]; found {value!r}")
    return value[0], value[1], value[2]


def _lookup(tensors: Dict, hist, where: str) -> Optional[KerasTensor]:
    """The tensor ``[layer, node, index]`` names (None while that call is not made yet)."""
    name, node, index = hist
    outs = tensors.get((name, node))
    if outs is None:
        return None
    if index >= len(outs):
        _fail(f"{where}: tensor_index {index} is out of range: layer {name!r} call {node} returns {len(outs)} "
              f"tensor(s)")
    return outs[index]


def _functional(cfg: dict, seed):
    from .models import Model
    entries = cfg.get("layers")
    if not isinstance(entries, list) or not entries:
        _fail("'layers' must be a non-empty list")
    built = []
    names = set()
    for e in entries:
        layer = _layer_from_entry(e)
        if layer.name in names:
            _fail(f"two layers are named {layer.name!r}")
        names.add(layer.name)
        nodes = e.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            _fail(f"layer {layer.name!r}: inbound_nodes must be a list")
        if isinstance(layer, InputLayer) and nodes:
            _fail(f"input layer {layer.name!r} cannot have inbound nodes")
        built.append((layer, nodes))
    tensors: Dict = {}
    for layer, _ in built:
        if isinstance(layer, InputLayer):
            tensors[(layer.name, 0)] = [layer.output]
    done = {id(layer): 0 for layer, _ in built}
    remaining = sum(len(n) for _, n in built)
    while remaining:
        progress = False
        for layer, nodes in built:
            while done[id(layer)] < len(nodes):
                k = done[id(layer)]
                args = _node_inputs(nodes[k], tensors, f"layer {layer.name!r} node {k}")
                if args is None:
                    break
                listed = layer.takes_list or isinstance(nodes[k]["args"][0], list)
                tensors[(layer.name, k)] = flat_outputs(layer(args if listed else args[0]))
                done[id(layer)] = k + 1
                remaining -= 1
                progress = True
        if not progress:
            stuck = [l.name for l, n in built if done[id(l)] < len(n)]
            _fail(f"the inbound nodes of {stuck} refer to tensors no layer produces")

    def resolve(struct, what):
        def one(h):
            t = _lookup(tensors, _history(h, what), what)
            if t is None:
                _fail(f"{what} names {h!r}, which no layer produces")
            return t
        if isinstance(struct, dict):
            return {k: one(v) for k, v in struct.items()}
        if isinstance(struct, list) and len(struct) == 3 and isinstance(struct[0], str):
            return one(struct)
        if isinstance(struct, list) and struct:
            return [one(h) for h in struct]
        _fail(f"{what} must be a list of [layer_name, node_index, tensor_index] or a dict of them; found {struct!r}")

    inputs = resolve(cfg.get("input_layers"), "input_layers")
    outputs = resolve(cfg.get("output_layers"), "output_layers")
    dtype = cfg.get("dtype")
    if dtype not in (None, "float32", "float64"):
        _fail(f"dtype must be 'float32' or 'float64'; found {dtype!r}")
    _trainable(cfg)  # checked; each layer's own "trainable" is what counts (a model is frozen through its layers)
    return Model(inputs, outputs, name=_name(cfg, "functional"), seed=seed, dtype=dtype)


def _node_inputs(node: Any, tensors: Dict, where: str) -> Optional[List[KerasTensor]]:
    if not isinstance(node, dict) or not isinstance(node.get("args"), list) or len(node["args"]) != 1:
        _fail(f"{where}: a node must be {{'args': [tensor or [tensors]], 'kwargs': {{}}}}; found {node!r}")
    if node.get("kwargs") not in (None, {}):
        _fail(f"{where}: dnnx layers take no call keyword arguments; found {node['kwargs']!r}")
    arg = node["args"][0]
    items = arg if isinstance(arg, list) else [arg]
    out = []
    for item in items:
        if not isinstance(item, dict) or item.get("class_name") != "__keras_tensor__" \
                or not isinstance(item.get("config"), dict):
            _fail(f"{where}: expected a '__keras_tensor__' object; found {item!r}")
        t = _lookup(tensors, _history(item["config"].get("keras_history"), where), where)
        if t is None:
            return None
        out.append(t)
    return out if isinstance(arg, list) else out[:1]


def _name(cfg: dict, default: str) -> str:
    name = cfg.get("name", default)
    if not isinstance(name, str) or not name:
        _fail(f"name must be a non-empty string; found {name!r}")
    return name


def _trainable(cfg: dict) -> bool:
    t = cfg.get("trainable", True)
    if not isinstance(t, bool):
        _fail(f"trainable must be a bool; found {t!r}")
    return t


def _sequential(cfg: dict, seed):
    from .models import Sequential
    entries = cfg.get("layers", [])
    if not isinstance(entries, list):
        _fail("'layers' must be a list")
    dtype = cfg.get("dtype", "float32")
    if dtype not in ("float32", "float64"):
        _fail(f"dtype must be 'float32' or 'float64'; found {dtype!r}")
    model = Sequential(dtype=dtype, name=_name(cfg, "sequential"), seed=seed)
    for i, e in enumerate(entries):
        layer = _layer_from_entry(e)
        if isinstance(layer, InputLayer) and i:
            _fail("an InputLayer can only be the first layer of a Sequential")
        model.add(layer)
    _trainable(cfg)  # checked; the layers' own flags are restored (model-level False with one layer frozen
    # must not freeze the others)
    if model._input_layer is not None:
        model.build()
    return model


def model_from_config(config: Any, seed: Optional[int] = None, expect=None):
    """``{"class_name": "Functional"|"Sequential", "config": {...}}`` or a bare config (for
    ``expect``: Sequential.from_config takes a Sequential config, Model.from_config either)."""
    from .models import Sequential
    if not isinstance(config, dict):
        _fail(f"expected an object; found {type(config).__name__}")
    if "class_name" in config and "config" in config:
        kind = config["class_name"]
        inner = config["config"]
        if not isinstance(inner, dict):
            _fail("'config' must be an object")
    else:
        kind = "Sequential" if expect is Sequential or "input_layers" not in config else "Functional"
        inner = config
    if kind not in ("Sequential", "Functional", "Model"):
        return _subclassed(config, seed)
    if kind == "Sequential":
        return _sequential(inner, seed)
    if kind in ("Functional", "Model"):
        if expect is Sequential:
            _fail("Sequential.from_config got a functional model config; use dnnx.Model.from_config")
        return _functional(inner, seed)
    _fail(f"unknown model class {kind!r} (expected 'Functional' or 'Sequential')")


def _subclassed(entry: dict, seed):
    """A subclassed model: its registered class rebuilt from its config (``from_config``),
    then traced on the inputs it was built on (``build_config``)."""
    from ._custom_objects import resolve, unregistered
    from .models import Model
    cls = resolve(entry, Model, "model")
    if cls is None:
        _fail(str(unregistered(entry, "model class")))
    model = cls.from_config(entry["config"])
    if not isinstance(model, cls) or not model._subclassed:
        _fail(f"{cls.__name__}.from_config did not return a subclassed {cls.__name__}")
    build = entry.get("build_config")
    if build is not None:
        kind = build.get("kind") if isinstance(build, dict) else None
        specs = build.get("inputs") if isinstance(build, dict) else None
        if kind not in ("tensor", "list", "dict") or not isinstance(specs, list) or not specs or not all(
                isinstance(s, dict) and set(s) == {"name", "shape", "dtype"} and isinstance(s["shape"], list)
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in s["shape"])
                and s["dtype"] in ("float32", "float64", "int64") and (s["name"] is None or isinstance(s["name"], str))
                for s in specs) or kind == "tensor" and len(specs) != 1:
            _fail(f"build_config must be {{'kind', 'inputs': [{{'name', 'shape', 'dtype'}}]}}; found {build!r}")
        model._seed = seed
        model._trace_build(kind, [dict(s) for s in specs])
    return model
