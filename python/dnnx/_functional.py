"""``Model(inputs, outputs)``: Keras's functional API over one C++ ``_core.Network`` built
from the traced graph; training, evaluation and inference live in ``_trainer.Trainer``.
"""

from __future__ import annotations

import contextvars
import weakref
from typing import List, Optional, Sequence

import numpy as np

from . import _core
from ._graph import Graph
from ._layer import KerasTensor, Layer, WeightLists, is_int_dtype, width
from ._trainer import Trainer, _by_name
from .utils import next_seed

_DTYPES = {"float32": np.float32, "float64": np.float64}
# Set while a model file is read: the most weights the model may have (those the file
# holds), checked by the core before it allocates anything.
max_params = contextvars.ContextVar("dnnx_max_params", default=None)


def _check_dtype(dtype, owner: str) -> str:
    if dtype in _DTYPES:
        return dtype
    dt = getattr(np.dtype(dtype) if isinstance(dtype, type) else None, "name", dtype)
    if dt in _DTYPES:
        return dt
    raise ValueError(f"{owner}: dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")


class Model(WeightLists, Trainer):
    """A model from its inputs to its outputs (Keras's functional API).

    Args:
        inputs: a tensor from ``dnnx.Input``, a list of them, or a dict ``{name: tensor}``.
        outputs: a layer output, a list or a dict ``{name: tensor}`` (dict keys name the
            outputs; otherwise an output is named after the layer that produces it).
        name: model name (default ``"functional"``).
        seed: RNG seed for initializers, dropout and shuffling (default: drawn from
            ``dnnx.utils.set_random_seed`` or fresh entropy).
        dtype: ``"float32"`` or ``"float64"`` for every weight and computation; by default
            the float inputs' dtype (float32 when there are none).

    Example:
        >>> num = dnnx.Input(shape=(12,), name="num")
        >>> ids = dnnx.Input(shape=(1,), dtype="int64", name="item")
        >>> e = layers.Flatten()(layers.Embedding(10_000, 16)(ids))
        >>> h = layers.Dense(64, activation="relu")(layers.Concatenate()([num, e]))
        >>> model = dnnx.Model([num, ids], layers.Dense(1, activation="sigmoid", name="click")(h))
    """

    _subclassed = False  # True for a subclass with its own call(), traced on first use

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        if cls.call is not Model.call:
            from ._subclass import capture_config
            object.__setattr__(self, "_auto_config", capture_config(cls, args, kwargs))
        return self

    def __setattr__(self, name, value):
        if type(self).call is not Model.call:  # a subclassed model tracks its layers (Keras order)
            from ._subclass import track
            track(self, name, value)
        object.__setattr__(self, name, value)

    def __init__(self, inputs=None, outputs=None, name: Optional[str] = None, trainable: bool = True,
                 seed: Optional[int] = None, dtype: Optional[str] = None):
        if inputs is None and outputs is None and type(self).call is not Model.call:
            self._init_subclassed(name, trainable, seed, dtype)
            return
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs): both are required (tensors from dnnx.Input and layer calls), "
                            "or subclass dnnx.Model and write call()")
        self._init_model(name or "functional", seed)
        self._graph = Graph(inputs, outputs)
        self._explicit_dtype = dtype is not None
        if dtype is None:
            floats = {l.dtype for l in self._graph.input_layers if l.dtype in _DTYPES}
            if len(floats) > 1:
                raise ValueError(f"Model: float inputs must share one dtype (or pass dtype=); received {sorted(floats)}")
            dtype = floats.pop() if floats else "float32"
        self._set_dtype(_check_dtype(dtype, "Model"))
        self._build_network()
        if not trainable:
            self.trainable = False

    def _init_subclassed(self, name, trainable, seed, dtype) -> None:
        """A subclassed model: layers come as attributes, the graph from tracing call() on
        the first data, tensors or ``build(input_shape)`` (see ``_subclass``)."""
        from ._subclass import snake_case
        object.__setattr__(self, "_subclassed", True)
        self._init_model(name or snake_case(type(self).__name__), seed)
        self._explicit_dtype = dtype is not None
        self._set_dtype(_check_dtype("float32" if dtype is None else dtype, type(self).__name__))
        self._build_config = None
        if not isinstance(trainable, bool):
            raise TypeError(f"{type(self).__name__}: trainable must be a bool. Received: trainable={trainable!r}")
        self._trainable_at_build = trainable

    def call(self, inputs, training=None):
        """The model applied to symbolic ``inputs``. A subclass writes its own: it is traced
        once into the graph (sublayer calls become nodes)."""
        return self._call_symbolic(inputs)

    def build(self, input_shape=None) -> None:
        """Trace a subclassed model's call() on float inputs of ``input_shape`` (``(None, d)``,
        a list or a dict of them). ID inputs need int data or ``model(dnnx.Input(..., dtype="int64"))``."""
        if not self._subclassed or self._net is not None:
            return
        from ._subclass import specs_from_shapes
        self._trace_build(*specs_from_shapes(input_shape, self.dtype, type(self).__name__))

    def _trace_build(self, kind: str, specs: list) -> None:
        from ._layer import InputLayer
        from ._subclass import TRAINING, accepts, leaf_order, trace_call
        cls = type(self).__name__
        ins = [InputLayer(tuple(s["shape"]), s["dtype"], s["name"], owner=cls) for s in specs]
        tensors = [l.output for l in ins]
        struct = dict(zip([s["name"] for s in specs], tensors)) if kind == "dict" else tensors if kind == "list" \
            else tensors[0]
        kw = {"training": TRAINING} if accepts(self.call, "training") else {}
        outs = trace_call(self, struct, kw)
        ok = isinstance(outs, KerasTensor) or isinstance(outs, (list, tuple)) and outs and all(
            isinstance(t, KerasTensor) for t in outs) or isinstance(outs, dict) and outs and all(
            isinstance(t, KerasTensor) for t in outs.values())
        if not ok:
            raise TypeError(f"{cls}.call must return a tensor, a list or a dict of tensors computed from its inputs; "
                            f"returned {type(outs).__name__}")
        self._graph = Graph(struct, outs, order=leaf_order(self))
        self._build_config = {"kind": kind, "inputs": [dict(s) for s in specs]}
        self._build_network()
        if not self._trainable_at_build:
            self.trainable = False

    def _build_for_tensors(self, x) -> None:
        """Build an unbuilt model from the first symbolic tensors it is called on."""
        from ._subclass import specs_from_tensors
        if self._subclassed:
            self._trace_build(*specs_from_tensors(x, type(self).__name__))

    def _init_model(self, name: str, seed: Optional[int]) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string. Received: name={name!r}")
        self.name = name
        self._seed = seed
        self._net = None
        self._graph: Optional[Graph] = None
        self._slices = {}  # id(layer) -> (first weight index, number of weights)
        self._shared: List[Layer] = []  # layers that other models' networks also hold
        self._live_views: List[weakref.ref] = []  # weight views handed to the user (see _sync_views)
        self._added_losses: List[KerasTensor] = []  # model.add_loss terms
        self._target_shapes = {}  # output name -> per-sample shape of a custom loss's targets, as seen in fit
        self._loss_plan = None  # the graph extended by custom losses and add_loss terms (dnnx._loss_terms)
        self._init_trainer()

    def _set_dtype(self, dtype: str) -> None:
        self.dtype = dtype
        self._np_dtype = np.dtype(_DTYPES[dtype])

    def _ensure_built(self, x) -> None:
        if self._net is None and self._subclassed:  # a functional model is built when it is made
            from ._subclass import specs_from_data
            self._trace_build(*specs_from_data(x, self.dtype, type(self).__name__))

    def _pending_output_names(self, args=None) -> List[str]:
        if self._graph is None:
            # A subclassed model before its first call: its output names are known once call() is traced.
            # Until then the keys of dict compile arguments stand for them (checked against the traced
            # outputs when the model is built: a key naming no output raises then); else one output.
            args = args if args is not None else getattr(self, "_compile_args", None) or {}
            keys = list(dict.fromkeys(k for v in args.values() if isinstance(v, dict) for k in v))
            return keys or ["output"]
        return list(self._graph.output_names)

    # -- the C++ network ----------------------------------------------------------------
    def _build_network(self) -> None:
        g = self._graph if self._loss_plan is None else self._loss_plan.graph
        self._seed = next_seed(self._seed)
        spec = g.spec(self.dtype, self._seed)
        if max_params.get() is not None:
            spec["max_params"] = max_params.get()
        self._net = _core.Network(spec)
        counts = list(self._net.layer_param_counts())
        if len(counts) != len(g.core_layers):
            raise RuntimeError(f"internal error: {len(g.core_layers)} layers, the network reports {len(counts)}")
        first = 0
        for i, (layer, n) in enumerate(zip(g.core_layers, counts)):
            self._slices[id(layer)] = (first, n)
            first += n
            for other in list(layer._models):
                if other is not self and layer not in other._shared:
                    other._shared.append(layer)
                if other is not self and layer not in self._shared:
                    self._shared.append(layer)
            layer._models.add(self)
            if not layer.trainable:
                self._net.set_layer_trainable(i, False)
        ins, outs = g.input_layers, g.outputs
        self._plain_width = -1
        if len(ins) == 1 and len(outs) == 1 and len(ins[0].batch_shape) == 2 and len(outs[0].shape) == 2 \
                and not is_int_dtype(ins[0].dtype) and not g.host_nodes:
            self._plain_width = ins[0].batch_shape[1]
        self._pull_shared()  # a layer already trained in another model brings its weights
        self._watch_variables(g)
        for layer in g.leaf_layers:
            if layer._home is None:
                layer._home = weakref.ref(self)
            init = getattr(layer, "_initial_weights", None)
            if init is not None:
                layer.set_weights(init)
                layer._initial_weights = None
        if self.compiled:
            self._configure()

    def _watch_variables(self, g) -> None:
        """add_weight variables read through this network get its values back when the
        model goes away (or drops the network), so they outlive it as Keras's do."""
        from ._variable import keep_values
        old = self.__dict__.get("_variable_sync")
        if old is not None:
            old.detach()
        entries = [(v, self._slices[id(layer)][0] + i) for layer in g.core_layers
                   for i, v in enumerate(getattr(layer, "_variables", ()))]
        self._variable_sync = weakref.finalize(self, keep_values, self._net, entries) if entries else None

    # -- custom losses and add_loss (dnnx._loss_terms) -----------------------------------------
    def add_loss(self, loss) -> None:
        """Add a term to the training loss: a symbolic tensor computed from this model's
        layers with dnnx.ops (e.g. ``model.add_loss(1e-3 * ops.mean(ops.square(h)))``). A
        batch-wide scalar is added as is; any other tensor is summed over every axis
        (Keras). Reported in the ``loss`` log; sample weights do not weigh it."""
        tensors = list(loss) if isinstance(loss, (list, tuple)) else [loss]
        for t in tensors:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"add_loss: the loss must be a symbolic tensor computed from the model's layers with "
                                f"dnnx.ops (the graph cannot hold a Python value); received {type(t).__name__}")
        self._added_losses.extend(tensors)
        if self.compiled and self._net is not None:
            self._configure()

    def _update_loss_plan(self) -> None:
        from . import _loss_terms
        if self._graph is None:
            return
        plan = _loss_terms.plan(self, self._compile_config, self._target_shapes, self._loss_plan)
        if plan is self._loss_plan:
            return
        if plan is not None and self._graph.host_nodes:
            raise ValueError("compile: custom losses and add_loss are not supported with preprocessing layers that "
                             "run before the network (lookups, Discretization)")
        if self._net is not None and self._net.iterations > 0 and (plan is None) != (self._loss_plan is None):
            pass  # the optimizer state restarts with the new network, as after compile
        saved = [p.copy() for p in self._net.params()] if self._net is not None else None
        self._loss_plan = plan
        compiled, self.compiled = self.compiled, False  # no nested configure: the caller configures
        try:
            self._build_network()
        finally:
            self.compiled = compiled
        if saved is not None:
            for v, w in zip(self._net.params(), saved):
                v[...] = w
            self._weights_changed()

    def _note_target_shape(self, name: str, shape: tuple) -> None:
        if self._target_shapes.get(name) == shape:
            return
        self._target_shapes[name] = shape
        plan = self._loss_plan
        if plan is not None and plan.shapes.get(name) == shape:
            return
        if plan is not None and name in plan.shapes and self._net.iterations > 0:
            raise ValueError(f"the targets of output {name!r} have per-sample shape {shape}, but its custom loss was "
                             f"traced and trained with targets of shape {plan.shapes.get(name)}; recompile the "
                             f"model to change the targets' shape")
        self._configure()

    def _layer_views(self, layer: Layer) -> List[np.ndarray]:
        first, n = self._slices.get(id(layer), (0, 0))  # host-stage layers hold no weights
        return self._net.params()[first:first + n] if n else []

    def _pull_shared(self) -> None:
        """Layers shared with other models: copy in the weights from the model that used them last.
        Not while another model holding one of them runs (RuntimeError): its copy is changing,
        and this model would take the layer over from under it."""
        changed = False
        for layer in self._shared:
            layer._check_owners("a call on a model that shares it", "read", exclude=self)
        for layer in self._shared:
            home = layer._home() if layer._home is not None else None
            if home is not None and home is not self and home._net is not None:
                for dst, src in zip(self._layer_views(layer), home._layer_views(layer)):
                    dst[...] = src
                changed = True
            layer._home = weakref.ref(self)
        if changed:
            self._weights_changed()

    def _set_layer_trainable(self, layer: Layer, value: bool) -> None:
        if self._net is not None and self._graph is not None and layer in self._graph.core_layers:
            self._net.set_layer_trainable(self._graph.core_layers.index(layer), value)

    # -- structure ----------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self._net is not None

    @property
    def layers(self) -> list:
        """Input layers, then the layers in topological order (each shared layer once; op
        nodes of dnnx.ops are not layers, as in Keras). A subclassed model: the layers (and
        models) it holds as attributes, in order."""
        if self._subclassed:
            from ._subclass import tracked
            return tracked(self)
        return list(self._graph.input_layers) + [l for l in self._graph.layers if not getattr(l, "is_op", False)]

    @property
    def inputs(self) -> List[KerasTensor]:
        self._require_built("inputs")
        return [l.output for l in self._graph.input_layers]

    @property
    def outputs(self) -> List[KerasTensor]:
        self._require_built("outputs")
        return list(self._graph.outputs)

    @property
    def input_names(self) -> List[str]:
        self._require_built("input_names")
        return self._graph.input_names

    @property
    def output_names(self) -> List[str]:
        self._require_built("output_names")
        return list(self._graph.output_names)

    @property
    def input_dim(self) -> Optional[int]:
        return width(self._graph.input_layers[0].batch_shape) if self._graph is not None else None

    @property
    def output_dim(self) -> int:
        self._require_built("output_dim")
        return self._net.output_dim

    @property
    def trainable(self) -> bool:
        if self._subclassed:
            return all(l.trainable for l in self.layers)
        return all(l.trainable for l in self._graph.layers) if self._graph is not None else True

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for layer in self.layers:
            if isinstance(layer, (Layer, Model)):
                layer.trainable = value

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None):
        """A layer by ``name`` or by ``index`` in ``model.layers`` (Keras semantics)."""
        if (name is None) == (index is None):
            raise ValueError(f"get_layer: provide either a layer name or a layer index. Received: name={name!r}, "
                             f"index={index!r}")
        layers = self.layers
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -len(layers) <= index < len(
                    layers):
                raise ValueError(f"get_layer: asked for the layer at index {index!r} but the model has only "
                                 f"{len(layers)} layers")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r}. Existing layers are: {[l.name for l in layers]}")

    def _require_built(self, what: str) -> None:
        if self._net is None:
            raise ValueError(f"{what}: the model is not built yet; give it an Input, call build() or fit()")

    def __call__(self, x, training=None):
        """On tensors: applies this model's layers to them (sharing their weights), so a model
        can be used as a layer (a subclassed model traces its call() on them). On arrays:
        ``predict(x)`` (``training=True`` is only for tensors: fit trains)."""
        from ._subclass import TRAINING, accepts, check_training, trace_call
        flat = x if not isinstance(x, (list, tuple)) else list(x)
        if isinstance(flat, KerasTensor) or isinstance(flat, dict) and any(
                isinstance(v, KerasTensor) for v in flat.values()) or isinstance(flat, list) and flat and all(
                isinstance(v, KerasTensor) for v in flat):
            if self._net is None:
                self._build_for_tensors(x)
            if self._subclassed:
                kw = {"training": TRAINING if training is None else training} if accepts(self.call, "training") else {}
                return trace_call(self, x, kw)
            check_training(f"model {self.name!r}", training)
            return self._call_symbolic(x)
        if training:
            raise ValueError(f"model {self.name!r}: training=True on arrays is not supported (fit trains; calling a "
                             f"model on arrays predicts)")
        out = self.predict(x, verbose=0)
        from ._model_losses import record_call
        record_call(self, x)  # the add_loss values of this call (model.losses), as Keras's eager call keeps them
        return out

    @property
    def losses(self) -> List[np.ndarray]:
        """Keras's scalar losses as 0-d arrays: the add_loss terms of the last ``model(x)``
        call on arrays (computed on all of x), then each regularized trainable weight's
        penalty on the current weights (see dnnx._model_losses)."""
        from ._model_losses import losses
        return losses(self)

    def _call_symbolic(self, x):
        self._require_built("__call__")
        g = self._graph
        new = _by_name(x, g.input_names, f"calling model {self.name!r}", "inputs", allow_missing=False)
        mapping = {}
        for layer, t in zip(g.input_layers, new):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"calling model {self.name!r}: input {layer.name!r} must be a KerasTensor; got {t!r}")
            if t.shape != layer.batch_shape:
                raise ValueError(f"calling model {self.name!r}: input {layer.name!r} expects shape {layer.batch_shape}; "
                                 f"received {t.shape}")
            mapping[id(layer.output)] = t
        for node in g.nodes:
            args = [mapping[id(t)] for t in node.inputs]
            mapping[id(node.output)] = node.layer(args if node.layer.takes_list else args[0])
        outs = [mapping[id(t)] for t in g.outputs]
        if g.output_kind == "dict":
            return dict(zip(g.output_names, outs))
        return outs[0] if g.output_kind == "tensor" else outs

    # -- weights --------------------------------------------------------------------------
    def get_weights(self) -> List[np.ndarray]:
        """Copies of all weights in Keras order (kernel (in, out), bias (out,), ...)."""
        self._require_built("get_weights")
        self._pull_shared()
        return [p.copy() for p in self._net.params()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Copy ``weights`` (Keras order and shapes) into the model."""
        from ._validation import _as_array
        self._require_built("set_weights")
        self._net.check("set_weights", "write")  # not while another thread trains the model
        self._pull_shared()
        views = self._net.params()
        weights = list(weights)
        if len(weights) != len(views):
            raise ValueError(f"set_weights: the model has {len(views)} weight arrays; received {len(weights)}")
        arrays = []
        for i, (v, w) in enumerate(zip(views, weights)):
            w = _as_array(w, f"set_weights: weight {i} ({self._net.param_names()[i]})")
            if w.shape != v.shape:
                raise ValueError(f"set_weights: weight {i} ({self._net.param_names()[i]}) must have shape {v.shape}; "
                                 f"received {w.shape}")
            arrays.append(w)
        for v, w in zip(views, arrays):
            v[...] = w
        self._weights_changed()

    def _weights_changed(self) -> None:
        self._net.params_changed()

    def _track_views(self, views: List[np.ndarray]) -> None:
        """Remember weight views given to the user: they may be written at any time."""
        if len(self._live_views) > 64:
            self._live_views = [r for r in self._live_views if r() is not None]
        self._live_views.extend(weakref.ref(v) for v in views)

    def _sync_views(self) -> None:
        # predict/evaluate run on weights packed once for the GEMM; while the user holds
        # weight views (and so may have written through them), repack on every call.
        if self._live_views:
            self._live_views = [r for r in self._live_views if r() is not None]
            if self._live_views:
                self._weights_changed()

    @property
    def weights(self) -> List[np.ndarray]:
        """Zero-copy views of all weights (writes change the model)."""
        self._require_built("weights")
        self._pull_shared()
        views = self._net.params()
        self._track_views(views)
        return views

    def _trainable_flags(self) -> List[bool]:
        """Per weight array: trainable (not a moving statistic, and its layer not frozen)."""
        flags = []
        for count, layer_trainable in zip(self._net.layer_param_counts(), self._net.layer_trainable()):
            flags += [layer_trainable] * count
        return [f and t for f, t in zip(flags, self._net.param_trainable())]


    def count_params(self) -> int:
        self._require_built("count_params")
        return int(sum(p.size for p in self._net.params()))

    def summary(self, print_fn=None, line_length=None, positions=None) -> None:
        """Print layers, output shapes, parameter counts (and for functional models what each
        layer is connected to, as ``layer[node][tensor]``)."""
        from ._summary import print_summary
        print_summary(self, print_fn or print)

    # -- config and saving --------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras's functional layout: name, layers (with their inbound nodes), input_layers, output_layers."""
        if self._subclassed:  # Keras: the constructor arguments (get_config written by hand, or captured)
            from ._subclass import auto_config
            base = {"name": self.name, "trainable": self.trainable}
            return base if type(self).get_config is not Model.get_config else auto_config(self, base)
        from ._serialization import functional_config
        self._require_built("get_config")
        return functional_config(self)

    @classmethod
    def from_config(cls, config: dict, seed: Optional[int] = None) -> "Model":
        """Rebuild a model from ``get_config()`` (or the ``{"class_name", "config"}`` of ``to_json``).
        Only dnnx's own layer classes and registered ones are accepted; nothing named in a
        config is imported. A subclassed model: ``cls(**config)`` (Keras's default)."""
        if cls.call is not Model.call:
            if not isinstance(config, dict):
                raise TypeError(f"{cls.__name__}.from_config expects a dict; received {config!r}")
            return cls(**config)
        from ._serialization import model_from_config
        return model_from_config(config, seed=seed, expect=cls)

    def to_json(self, **kwargs) -> str:
        """``{"module", "class_name", "config"}`` as JSON (``dnnx.models.model_from_json`` reads it)."""
        import json
        from ._serialization import serialize_model
        return json.dumps(serialize_model(self), **kwargs)

    def save(self, filepath, overwrite: bool = True) -> None:
        """Save architecture, weights, optimizer state and RNG position to one safetensors
        file, atomically (a crash mid-save leaves any previous file intact)."""
        from .saving import save_model
        save_model(self, filepath, overwrite)

    def save_weights(self, filepath) -> None:
        from .saving import save_weights
        save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        from .saving import load_weights
        load_weights(self, filepath)

    def __reduce__(self):
        """Pickle through the model file's bytes (never the C++ internals): sklearn's ``clone``,
        ``copy.deepcopy`` and joblib work, and loading runs no code from the payload."""
        from .saving import _restore, model_payload
        return (_restore, model_payload(self))

    def __deepcopy__(self, memo):
        from .saving import _restore, model_payload
        return _restore(*model_payload(self))
