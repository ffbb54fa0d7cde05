"""Symbolic tensors and the layer base class: calling a layer on ``KerasTensor``s records
the graph (Keras's functional API); the C++ network is built from that record.

Shapes are Keras shapes ``(None, *dims)``. C++ only sees flat widths per sample
(``prod(dims)``), so every shape rule lives here and is checked before C++ builds anything.
"""

from __future__ import annotations

import math
import weakref
from typing import List, Optional, Sequence, Tuple

import numpy as np

from ._tensor_ops import TensorOperators

Shape = Tuple[Optional[int], ...]

_DECLARATIONS = None


def declared_fields(layer_type: str) -> list:
    """The config fields the C++ declaration of ``layer_type`` lists (cpp/include/dnnx/
    layer_decl.hpp): each ``{"key", "type", "default"}``, in spec order."""
    global _DECLARATIONS
    if _DECLARATIONS is None:
        from . import _core
        _DECLARATIONS = _core.layer_declarations()
    return _DECLARATIONS[layer_type]["fields"]


def declared_default(layer_type: str, key: str):
    """A layer argument's default as the C++ layer declares it (the one place it lives)."""
    for field in declared_fields(layer_type):
        if field["key"] == key:
            return field["default"]
    raise KeyError(f"the core declares no field {key!r} for layer type {layer_type!r}")


def _config_value(field: dict, value):
    """A declared field's value in a Keras config."""
    from . import activations
    kind = field["type"]
    if kind == "activation":
        return activations.serialize(value)
    if kind == "initializer":
        return value.get_config()
    if kind == "regularizer":
        return value.spec() if value else None
    return value


def _from_config_value(field: dict, value):
    from . import activations, initializers, regularizers
    kind = field["type"]
    if kind == "activation":
        return activations.deserialize(value)
    if kind == "initializer":
        return initializers.deserialize(value)
    if kind == "regularizer":
        return regularizers.deserialize(value)
    return value


def _spec_value(field: dict, value) -> dict:
    """One declared field of a layer dict, from the Python attribute of the same name."""
    key, kind = field["key"], field["type"]
    if kind == "activation":
        return {key: value.name, key + "_alpha": value.alpha}
    if kind == "initializer":
        return {key: value.spec()}
    if kind == "regularizer":
        return {key: value.spec() if value else None}
    return {key: value}


def _dtype_name(dtype, owner: str) -> str:
    if dtype in ("string", str):
        return "string"  # raw text: only a StringLookup (run in NumPy before the network) reads it
    try:
        dt = np.dtype(dtype)
    except Exception:  # NumPy raises TypeError, ValueError, even SyntaxError for odd strings
        dt = None
    if dt is None or dt.kind not in "fiu" or dt.itemsize < 4 and dt.kind == "f":
        raise ValueError(f"{owner}: dtype must be a float ('float32', 'float64'), an integer dtype "
                         f"('int64', 'int32', ...) or 'string'. Received: dtype={dtype!r}")
    return dt.name


def is_int_dtype(dtype: str) -> bool:
    return dtype != "string" and np.dtype(dtype).kind in "iu"


def width(shape: Shape) -> int:
    """Flat features per sample: what C++ sees."""
    return int(math.prod(shape[1:]))


class KerasTensor(TensorOperators):
    """A symbolic tensor: a shape ``(None, *dims)``, a dtype, and where it came from
    (``_keras_history = (layer, node_index, tensor_index)``). Python's arithmetic operators
    on it are ``dnnx.ops`` calls (``_tensor_ops``)."""

    #: "mean" or "sum" for the scalar of ``ops.mean(x)`` / ``ops.sum(x)`` over every axis,
    #: batch included (a loss value): the core holds each sample's part, and the batch
    #: reduction happens in the loss (see dnnx.ops).
    _batch_reduce = None

    def __init__(self, shape: Shape, dtype: str, history: Tuple, name: Optional[str] = None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self._keras_history = history
        self._name = name

    @property
    def name(self) -> str:
        return self._name if self._name is not None else self._keras_history[0].name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __bool__(self):
        raise TypeError(f"A symbolic KerasTensor has no truth value (it holds no data), so Python control flow "
                        f"on it (if, while, and/or) cannot be traced{_user_line()}. Use dnnx.ops.where (or "
                        f"ops.maximum, ops.clip) to choose values, or build a dnnx.Model and call predict to "
                        f"compute them")

    def _no_numpy(self, *args, **kwargs):
        raise TypeError(f"NumPy cannot compute on a symbolic KerasTensor ({self.shape}, {self.dtype}): it holds no "
                        f"values while a model is traced{_user_line()}. Use layers (or dnnx.ops) on it, or compute "
                        f"on the arrays that model.predict returns")

    __array__ = __array_function__ = _no_numpy

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # ndarray + tensor (and the other Python operators with an array on the left)
        # arrive here: they are the dnnx.ops of the operator; any other NumPy function
        # cannot compute on a tensor.
        from ._tensor_ops import ufunc_op
        op = ufunc_op(ufunc) if method == "__call__" and not kwargs else None
        if op is None:
            self._no_numpy()
        return op(*inputs)

    __hash__ = object.__hash__


def _user_line() -> str:
    """' (at <file>, line <n>: <code>)' for the innermost caller outside dnnx."""
    import os
    import traceback
    here = os.path.dirname(os.path.abspath(__file__))
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not os.path.abspath(frame.filename).startswith(here + os.sep):
            code = f": {frame.line}" if frame.line else ""
            return f" (at {frame.filename}, line {frame.lineno}{code})"
    return ""


def _producer(t: KerasTensor) -> "Node":
    src, node_index, _ = t._keras_history
    return src._inbound_nodes[node_index] if not isinstance(src, InputLayer) else Node(src, [], t)


class Node:
    """One call of a layer: its input tensors and its output tensor."""

    def __init__(self, layer: "Layer", inputs: List[KerasTensor], output: Optional[KerasTensor]):
        from ._subclass import current_owners
        self.layer = layer
        self.inputs = inputs
        self.output = output
        # The calls of subclassed layers being traced when this node was made, outermost
        # first (empty at the top level): the graph shows and saves those calls, not this node.
        self.owners = current_owners()

    @property
    def outputs(self) -> List[KerasTensor]:
        """The output tensors, flat (a subclassed layer's call may return several)."""
        return flat_outputs(self.output)


def flat_outputs(out) -> List[KerasTensor]:
    """The tensors of a call's result, flat: one tensor, a list/tuple in order, a dict in
    sorted key order (Keras's ``tree.flatten``, which gives the tensor index in a config)."""
    if isinstance(out, dict):
        return [out[k] for k in sorted(out)]
    if isinstance(out, (list, tuple)):
        return list(out)
    return [] if out is None else [out]


class WeightLists:
    """``trainable_weights`` / ``non_trainable_weights`` of a layer or model: its
    ``weights`` split by its ``_trainable_flags()`` (one flag per weight, Keras order)."""

    @property
    def trainable_weights(self) -> List[np.ndarray]:
        """Views of the weights the optimizer updates (Keras order)."""
        return [v for v, t in zip(self.weights, self._trainable_flags()) if t]

    @property
    def non_trainable_weights(self) -> List[np.ndarray]:
        """Views of the other weights (moving statistics, frozen layers)."""
        return [v for v, t in zip(self.weights, self._trainable_flags()) if not t]

class Layer(WeightLists):
    """Base class: a name, a config, and (once built) views of its weights.

    Calling a layer on ``KerasTensor``s (from ``dnnx.Input``) records a node and returns
    the output tensor. Calling the same layer object again shares its weights; its input
    shapes must match the first call's.
    """

    type_name = "layer"
    default_name = "layer"
    takes_list = False  # merge layers take a list of tensors

    def __init__(self, name: Optional[str] = None, input_shape: Optional[Sequence[int]] = None,
                 trainable: bool = True):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{type(self).__name__}: name must be a non-empty string. Received: name={name!r}")
        if not isinstance(trainable, bool):
            raise TypeError(f"{type(self).__name__}: trainable must be a bool. Received: trainable={trainable!r}")
        self.name = name
        self._auto_name = name is None  # named by a model, so renamable on a clash
        self._input_spec = InputLayer(input_shape, owner=type(self).__name__) if input_shape is not None else None
        self._trainable = trainable
        self._inbound_nodes: List[Node] = []
        self._input_shapes: Optional[List[Shape]] = None  # fixed by the first call
        self._models: "weakref.WeakSet" = weakref.WeakSet()  # models whose networks hold this layer
        self._home = None  # weakref to the model whose copy of the weights is current

    # -- subclassing (Keras: build / call / attribute tracking) -------------------------
    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "default_name" not in cls.__dict__ and cls.call is not Layer.call:
            from ._subclass import snake_case
            cls.default_name = snake_case(cls.__name__)  # Keras: ResidualBlock -> residual_block

    def __setattr__(self, name, value):
        if type(self).call is not Layer.call:
            from ._subclass import track
            track(self, name, value)
        object.__setattr__(self, name, value)

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        if cls.call is not Layer.call:
            from ._subclass import capture_config
            object.__setattr__(self, "_auto_config", capture_config(cls, args, kwargs))
        return self

    def call(self, inputs, training=None):
        """The computation of a subclassed layer, on symbolic tensors: calls of sublayers
        (and ``dnnx.ops``). Traced once per call site into graph nodes."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(inputs)")

    def build(self, input_shape) -> None:
        """Create the layer's state for ``input_shape`` (called once, before the first call)."""

    @property
    def built(self) -> bool:
        if self._is_composite():
            return self.__dict__.get("_built", False)
        return bool(self._inbound_nodes)

    @built.setter
    def built(self, value: bool) -> None:
        self.__dict__["_built"] = bool(value)

    @classmethod
    def _is_composite(cls) -> bool:
        """A subclass with its own call(): its calls are traced into sublayer nodes."""
        return cls.call is not Layer.call

    def _call_composite(self, inputs, training, kwargs):
        from ._subclass import TRAINING, accepts, trace_call
        cls = type(self).__name__
        flat = list(inputs.values()) if isinstance(inputs, dict) else list(inputs) if isinstance(
            inputs, (list, tuple)) else [inputs]
        if flat and not any(isinstance(t, KerasTensor) for t in flat) and all(
                isinstance(t, (np.ndarray, list, tuple, int, float)) or hasattr(t, "__array__") for t in flat):
            return self._call_eager(inputs, training, kwargs)
        if not flat or not all(isinstance(t, KerasTensor) for t in flat):
            raise TypeError(f"{cls} {self.name or ''}: must be called on a dnnx.Input tensor or a layer output "
                            f"(a KerasTensor), a list or dict of them, or on arrays; received {inputs!r}")
        if not self.built:
            shapes = {k: v.shape for k, v in inputs.items()} if isinstance(inputs, dict) else [
                t.shape for t in inputs] if isinstance(inputs, (list, tuple)) else inputs.shape
            self.build(shapes)
            self.built = True
        record = Node(self, flat, None)
        self.__dict__["_list_call"] = isinstance(inputs, (list, tuple))  # how the config writes its calls
        kw = dict(kwargs)
        if accepts(self.call, "training"):
            kw["training"] = TRAINING if training is None else training
        out = trace_call(self, inputs, kw, record)
        outs = flat_outputs(out)
        structured = isinstance(out, KerasTensor) or isinstance(out, (list, tuple)) and out or isinstance(
            out, dict) and out and all(isinstance(k, str) for k in out)
        if not structured or not all(isinstance(t, KerasTensor) for t in outs):
            raise TypeError(f"{cls}.call must return a tensor, or a tuple, list or dict (string keys) of tensors; "
                            f"returned {out!r}")
        for t in outs:
            if any(t is i for i in flat) or not any(record is o for o in _producer(t).owners):
                raise ValueError(f"{cls}.call must return a tensor it computed from its inputs (each output, when it "
                                 f"returns several; wrap an input in layers.Identity() to return it)")
        if len({id(t) for t in outs}) != len(outs):
            raise ValueError(f"{cls}.call returns the same tensor twice; return each output once")
        if isinstance(out, list):
            out = list(out)  # the record keeps its own copy of the structure
        elif isinstance(out, dict):
            out = dict(out)
        for var in self._own_variables():
            if var._holder is None:
                raise ValueError(f"{cls}.call did not use weight {var.path!r} (made by add_weight): dnnx keeps a "
                                 f"layer's weights in the graph ops that read them, so each weight must be an "
                                 f"operand of a dnnx.ops op in call()")
        record.output = out
        self._inbound_nodes.append(record)
        return out

    def _call_eager(self, inputs, training, kwargs):
        """Keras's eager call on arrays: the layer applied to Inputs of the data's shapes in a
        one-layer model (kept for the next call of the same shapes, the layer's weights
        shared with it), whose predict() is the result: NumPy arrays."""
        from ._functional import Model
        from ._subclass import specs_from_data
        cls = type(self).__name__
        if training:
            raise ValueError(f"{cls}: training=True on arrays is not supported (fit trains; an eager call infers)")
        if kwargs:
            raise TypeError(f"{cls}: an eager call on arrays takes no extra arguments; received {sorted(kwargs)}")
        floats = {v.dtype for v in self.__dict__.get("_variables", [])}
        dtype = "float64" if floats == {"float64"} else "float32"
        kind, specs = specs_from_data(inputs, dtype, cls)
        key = (kind, tuple((sp["name"], tuple(sp["shape"]), sp["dtype"]) for sp in specs))
        cached = self.__dict__.get("_eager_model")
        if cached is None or cached[0] != key:
            ins = [Input(shape=tuple(sp["shape"]), dtype=sp["dtype"], name=sp["name"]) for sp in specs]
            struct = dict(zip([sp["name"] for sp in specs], ins)) if kind == "dict" else ins if kind == "list" \
                else ins[0]
            model = Model(struct, self(struct), dtype=dtype)
            cached = self.__dict__["_eager_model"] = (key, model)
        return cached[1].predict(inputs, verbose=0)

    # -- weights a subclass makes (Keras: add_weight) -----------------------------------
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable: bool = True, autocast: bool = True,
                   regularizer=None, constraint=None, aggregation: str = "none",
                   overwrite_with_gradient: bool = False, name: Optional[str] = None):
        """A weight of this layer (Keras 3's ``add_weight``), made in ``__init__`` or
        ``build()`` and used in ``call()`` as an operand of ``dnnx.ops`` (``x @ self.w +
        self.b``): the op node that reads it holds it in the C++ network, so fit trains it
        (``trainable=False``: read, never updated). ``initializer`` defaults to
        ``"glorot_uniform"``; ``regularizer`` adds its penalty to the loss. Returns a
        ``Variable`` (``numpy()``, ``assign()``, ``shape``, ``path``, ...)."""
        from ._variable import make_variable
        who = f"{type(self).__name__}.add_weight"
        if not self._is_composite():
            raise TypeError(f"{who}: add_weight is for layers that write their own call() (a weight is only "
                            f"trained through the ops that read it there)")
        if self._inbound_nodes:
            raise ValueError(f"{who}: layer {self.name!r} has already been called, so its graph is fixed; make "
                             f"every weight in __init__ or build() (or during the first call)")
        if not isinstance(autocast, bool):
            raise TypeError(f"{who}: autocast must be a bool. Received: autocast={autocast!r}")
        if aggregation not in ("none", "mean", "sum", "only_first_replica"):
            raise ValueError(f"{who}: aggregation must be 'none', 'mean', 'sum' or 'only_first_replica'. Received: "
                             f"aggregation={aggregation!r}")
        if overwrite_with_gradient:
            raise ValueError(f"{who}: overwrite_with_gradient=True is not supported (the optimizer updates every "
                             f"trainable weight)")
        var = make_variable(self, shape, initializer, dtype, trainable, name, regularizer, constraint)
        self.__dict__.setdefault("_variables", []).append(var)
        return var

    def _own_variables(self) -> list:
        """The weights this layer made with add_weight, in Keras's order: trainable ones
        first, each group in creation order."""
        made = self.__dict__.get("_variables", [])
        return [v for v in made if v.trainable] + [v for v in made if not v.trainable]

    def _weight_units(self) -> list:
        """A subclassed layer's weights as units in Keras order: a variable not yet in the
        graph (no op has read it), or a leaf layer (the op nodes holding its variables, then
        its sublayers' leaves)."""
        return [v for v in self._own_variables() if v._holder is None] + self._leaves()

    # -- symbolic call -------------------------------------------------------------
    def __call__(self, inputs, training=None, **kwargs):
        if self._is_composite():
            return self._call_composite(inputs, training, kwargs)
        owner = f"{type(self).__name__} {self.name or ''}".rstrip()
        if kwargs:
            raise TypeError(f"{owner}: unexpected call arguments {sorted(kwargs)} (dnnx layers take the inputs "
                            f"and training=)")
        from ._subclass import check_training
        check_training(owner, training)
        if self.takes_list:
            if not isinstance(inputs, (list, tuple)) or not all(isinstance(t, KerasTensor) for t in inputs):
                raise TypeError(f"{owner} must be called on a list of dnnx.Input tensors or layer outputs; "
                                f"received {inputs!r}")
            tensors = list(inputs)
        else:
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
                inputs = inputs[0]
            if not isinstance(inputs, KerasTensor):
                raise TypeError(f"{owner} must be called on a dnnx.Input tensor or a layer output (a KerasTensor); "
                                f"received {type(inputs).__name__}. To compute on arrays, build a dnnx.Model and "
                                f"call predict")
            tensors = [inputs]
        shapes = [t.shape for t in tensors]
        if self._input_shapes is not None and shapes != self._input_shapes:
            got = shapes[0] if len(shapes) == 1 else shapes
            first = self._input_shapes[0] if len(self._input_shapes) == 1 else self._input_shapes
            raise ValueError(f"Layer {self.name or type(self).__name__!r} was first called on input shape {first} "
                             f"and is now called on {got}: a shared layer must get the same input shape every "
                             f"call")
        for t in tensors:
            if t.dtype == "string" and not getattr(self, "host", False):
                raise TypeError(f"{owner}: input {t.name!r} holds strings; map them to indices first with "
                                f"layers.StringLookup")
            if self.reads_ids:
                src = t._keras_history[0]
                if not is_int_dtype(t.dtype) or not (isinstance(src, InputLayer) or getattr(src, "host", False)):
                    raise TypeError(f"{type(self).__name__} {self.name or ''}: input must be an integer dnnx.Input of "
                                    f"integer IDs (e.g. dnnx.Input(shape=(k,), dtype='int64')) or the output of a "
                                    f"StringLookup, IntegerLookup or Discretization; received {t!r}")
            elif is_int_dtype(t.dtype) and not self._takes_ints():
                what = repr(t.name) if t.name else "(unnamed)"
                raise TypeError(f"{owner}: input {what} holds integer IDs ({t.dtype}); only Embedding takes "
                                f"integer inputs")
        out_shape = tuple(self.compute_output_shape(shapes if self.takes_list else shapes[0]))
        self._input_shapes = shapes
        out_dtype = self._output_dtype(tensors)
        out = KerasTensor(out_shape, out_dtype, (self, len(self._inbound_nodes), 0))
        self._inbound_nodes.append(Node(self, tensors, out))
        return out

    #: True for the layers that read integer IDs (Embedding, CategoryEncoding): straight from an
    #: integer model input or from a host-stage lookup / Discretization, never a computed tensor.
    reads_ids = False

    def _takes_ints(self) -> bool:
        return self.reads_ids

    def _output_dtype(self, tensors: List[KerasTensor]) -> str:
        return tensors[0].dtype

    def compute_output_shape(self, input_shape):
        """Keras rule: the output shape for ``input_shape`` (a list of shapes for merges)."""
        return input_shape

    def node_steps(self, input_shapes: List[Shape]) -> int:
        """How many rows C++ sees per sample: a last-axis layer on ``(batch, *outer, features)``
        runs on ``prod(outer)`` rows per sample. Elementwise and shape layers see one."""
        return 1

    @staticmethod
    def _last_axis_steps(shape: Shape) -> int:
        return int(math.prod(shape[1:-1]))

    def _require_features_axis(self, shape: Shape) -> None:
        if len(shape) < 2:
            raise ValueError(f"{type(self).__name__} {self.name or ''}: expects input with a feature axis "
                             f"(batch, ..., features); received shape {shape}")

    def add_loss(self, loss) -> None:
        """Keras: called inside ``call()`` with a tensor computed there (dnnx.ops). Here the
        tensor is symbolic; every model whose graph holds this layer (and whose inputs the
        tensor depends on) adds it to its training loss when compiled (see Model.add_loss)."""
        tensors = list(loss) if isinstance(loss, (list, tuple)) else [loss]
        for t in tensors:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"{self.name or type(self).__name__}: add_loss takes a symbolic tensor computed with "
                                f"dnnx.ops in the layer's call; received {type(t).__name__}")
        self.__dict__.setdefault("_symbolic_losses", []).extend(tensors)

    # -- trainable -----------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        """Whether the optimizer updates this layer's weights (frozen: no gradient work)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"{self.name}: trainable must be a bool. Received: trainable={value!r}")
        self._trainable = value
        for model in list(self._models):
            model._set_layer_trainable(self, value)
        if self._is_composite():  # Keras: freezing a layer freezes everything in it
            from ._subclass import tracked
            for var in self._own_variables():
                if var._holder is not None:
                    var._holder.trainable = value
            for sub in tracked(self):
                sub.trainable = value

    # -- weights -----------------------------------------------------------------
    def _owner(self):
        """The model whose network holds this layer's current weights (None before build)."""
        if self._is_composite():
            return next((o for o in (leaf._owner() for leaf in self._leaves()) if o is not None), None)
        home = self._home() if self._home is not None else None
        if home is None:
            home = next(iter(self._models), None)
        return home

    def _check_owners(self, what: str, kind: str, exclude=None) -> None:
        """RuntimeError unless a call of this kind could run now on every model that holds
        this layer (a shared layer: each model's network keeps a copy, and the one training
        writes its own)."""
        for model in list(self._models):
            net = getattr(model, "_net", None)
            if model is exclude or net is None:
                continue
            try:
                net.check(what, kind)
            except RuntimeError as e:
                shared = f" (shared by {len(self._models)} models)" if len(self._models) > 1 else ""
                raise RuntimeError(f"layer {self.name!r}{shared} is in model {model.name!r}, which is busy: {e}") \
                    from None

    def _leaves(self) -> list:
        """A subclassed layer's leaf layers in Keras's weight order (itself for a leaf)."""
        if not self._is_composite():
            return [self]
        from ._subclass import leaf_order
        return leaf_order(self)

    def _views(self, what: str = "weights", kind: str = "write") -> List[np.ndarray]:
        if self._is_composite():
            return [v for unit in self._weight_units() for v in self._unit_views(unit, what, kind)]
        self._check_owners(what, kind)
        model = self._owner()
        if model is None:
            return self._standalone_weights()
        model._pull_shared()
        return model._layer_views(self)

    @staticmethod
    def _unit_views(unit, what: str = "weights", kind: str = "write") -> List[np.ndarray]:
        from ._variable import Variable
        return [unit._value] if isinstance(unit, Variable) else unit._views(what, kind)

    def _standalone_weights(self) -> List[np.ndarray]:
        """The weights of a layer no model holds yet (Keras: a built layer owns them): made
        when first asked for once the layer has been called on a KerasTensor, by the core's
        initializers in a one-layer network, and handed to the first model built with it."""
        if isinstance(getattr(type(self), "_initial_weights", None), property):
            return []  # a layer that derives them itself (Normalization's statistics)
        w = getattr(self, "_initial_weights", None)
        if w is None and self._inbound_nodes:
            w = self._initial_weights = self._make_weights()
        return list(w) if w is not None else []

    def _make_weights(self) -> List[np.ndarray]:
        from . import _core
        from .utils import next_seed
        inputs = self._inbound_nodes[0].inputs
        floats = [t.dtype for t in inputs if not is_int_dtype(t.dtype)]
        dtype = floats[0] if floats and floats[0] in ("float32", "float64") else "float32"
        shapes = [t.shape for t in inputs]
        node = {"layer": 0, "inputs": list(range(len(inputs)))}
        if self.node_steps(shapes) != 1:
            node["steps"] = self.node_steps(shapes)
        net = _core.Network({
            "dtype": dtype, "seed": next_seed(None),
            "inputs": [{"name": f"input_{i}", "dim": width(t.shape), "dtype": "int64" if is_int_dtype(t.dtype)
                        else "float"} for i, t in enumerate(inputs)],
            "layers": [self.spec()], "nodes": [node], "outputs": [len(inputs)], "output_names": ["output"],
            "loss": None, "optimizer": None, "metrics": []})
        return [p.copy() for p in net.params()]

    # -- the tensors of the first call (Keras: layer.input / layer.output) -----------
    def _first_node(self, what: str) -> Node:
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name!r} has never been called and thus has no defined {what}")
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The input tensor(s) of the layer's first call (a list for a merge layer)."""
        ins = self._first_node("input").inputs
        return list(ins) if self.takes_list else ins[0]

    @property
    def output(self):
        """The output tensor of the layer's first call: ``Model(m.inputs, m.layers[2].output)``
        extracts features (a tuple, list or dict of them for a subclassed layer returning several)."""
        return self._first_node("output").output

    @property
    def weights(self) -> List[np.ndarray]:
        """Zero-copy views of this layer's weights (writes change the model)."""
        views = self._views()
        owner = self._owner()
        if views and owner is not None:  # standalone weights (no model yet) are plain arrays
            owner._track_views(views)
        return views

    def get_weights(self) -> List[np.ndarray]:
        """Copies of this layer's weights, in Keras order."""
        return [w.copy() for w in self._views("get_weights", "read")]

    def _trainable_flags(self) -> List[bool]:
        from ._variable import Variable
        flags = []
        for leaf in (self._weight_units() if self._is_composite() else [self]):
            if isinstance(leaf, Variable):
                flags.append(leaf._trainable_flag())
                continue
            owner = leaf._owner()
            n = len(leaf._views())
            if owner is not None and id(leaf) in owner._slices:
                first, count = owner._slices[id(leaf)]
                flags += owner._trainable_flags()[first:first + count]
            else:
                moving = 2 if leaf.type_name == "batch_normalization" else 0  # no network yet: its statistics
                held = getattr(leaf, "_variables", None)  # an op node holding add_weight variables
                flags += [leaf.trainable and v.trainable for v in held] if held else [
                    leaf.trainable and i < n - moving for i in range(n)]
        return flags


    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        from ._validation import _as_array
        views = self._views("set_weights", "write")  # not while a model holding it trains elsewhere
        weights = list(weights)
        if self._is_composite():
            if len(weights) != len(views):
                raise ValueError(f"{self.name}: set_weights expects {len(views)} arrays; received {len(weights)}")
            from ._variable import Variable
            first = 0
            for unit in self._weight_units():
                n = len(self._unit_views(unit))
                if isinstance(unit, Variable):
                    unit.assign(weights[first])
                else:
                    unit.set_weights(weights[first:first + n])
                first += n
            return
        if len(weights) != len(views):
            raise ValueError(f"{self.name}: set_weights expects {len(views)} arrays; received {len(weights)}")
        owner = self._owner()
        arrays = [_as_array(w, f"{self.name}: set_weights: weight {i}") for i, w in enumerate(weights)]
        for v, w in zip(views, arrays):
            if w.shape != v.shape:
                raise ValueError(f"{self.name}: weight shape mismatch: expected {v.shape}, received {w.shape}")
        for v, w in zip(views, arrays):
            v[...] = w
        if views and owner is not None:
            owner._weights_changed()

    def count_params(self) -> int:
        return int(sum(v.size for v in self._views("count_params", "read")))

    # -- config ------------------------------------------------------------------
    @classmethod
    def _config_fields(cls) -> list:
        """The C++-declared fields that are also this layer's Keras config keys (a layer
        whose declared fields are not Keras arguments overrides this)."""
        from . import _core
        if cls.type_name not in _core.layer_declarations():
            return []
        return [f for f in declared_fields(cls.type_name) if f["type"] != "ignored"]

    def get_config(self) -> dict:
        """Keras's layer config: name, trainable, and every declared field from the attribute
        of the same name (activations, initializers and regularizers serialized)."""
        c = {"name": self.name, "trainable": self._trainable}
        if self._is_composite():
            from ._subclass import auto_config
            return c if type(self).get_config is not Layer.get_config else auto_config(self, c)
        for field in self._config_fields():
            c[field["key"]] = _config_value(field, getattr(self, field["key"]))
        return c

    @classmethod
    def from_config(cls, c: dict) -> "Layer":
        kwargs = dict(c)
        for field in cls._config_fields():
            if field["key"] in kwargs:
                kwargs[field["key"]] = _from_config_value(field, kwargs[field["key"]])
        return cls(**kwargs)

    def spec(self) -> dict:
        """The layer dict ``_core.Network`` takes (valid once the layer has been called):
        every field the C++ declaration of ``type_name`` lists, read from the attribute of
        the same name (activations, initializers and regularizers as their specs)."""
        d = {"type": self.type_name, "name": self.name}
        for field in declared_fields(self.type_name):
            if field["type"] != "ignored":
                d.update(_spec_value(field, getattr(self, field["key"])))
        return d

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class InputLayer:
    """The source of a model input: ``batch_shape = (None, *shape)``, dtype, name."""

    type_name = "input_layer"
    default_name = "input_layer"

    def __init__(self, shape, dtype="float32", name: Optional[str] = None, owner: str = "Input"):
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in shape):
            raise ValueError(f"{owner}: shape must be a tuple of positive integers (the per-sample shape, "
                             f"without the batch axis; () for one value per sample). Received: shape={shape!r}")
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"{owner}: name must be a non-empty string. Received: name={name!r}")
        if math.prod(int(d) for d in shape) > 2**48:
            raise ValueError(f"{owner}: shape {tuple(shape)} holds {math.prod(int(d) for d in shape)} values per "
                             f"sample: too large (at most 2**48)")
        self.batch_shape: Shape = (None, *(int(d) for d in shape))
        self.dtype = _dtype_name(dtype, owner)
        self.name = name
        self._auto_name = name is None
        self.output = KerasTensor(self.batch_shape, self.dtype, (self, 0, 0))
        self._inbound_nodes: List[Node] = []

    @property
    def shape(self) -> Tuple[int, ...]:
        return self.batch_shape[1:]

    def get_config(self) -> dict:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False, "name": self.name}

    @classmethod
    def from_config(cls, c: dict) -> "InputLayer":
        bs = c.get("batch_shape")
        if not isinstance(bs, list) or not bs or bs[0] is not None:
            raise ValueError(f"InputLayer: batch_shape must be a list [None, ...]; found {bs!r}")
        for flag in ("sparse", "ragged", "optional"):
            if c.get(flag, False):
                raise ValueError(f"InputLayer: {flag} inputs are not supported")
        return cls(tuple(bs[1:]), c.get("dtype", "float32"), c.get("name"), owner="InputLayer")

    def count_params(self) -> int:
        return 0

    trainable = False

    @property
    def weights(self) -> List[np.ndarray]:
        return []  # an input has no weights (Keras: [])

    def get_weights(self) -> List[np.ndarray]:
        return []

    def __repr__(self) -> str:
        return f"<InputLayer name={self.name} shape={self.batch_shape}>"


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,  # noqa: N802
          name: Optional[str] = None, tensor=None, optional: bool = False) -> KerasTensor:
    """A symbolic model input (Keras 3's ``keras.Input``) of per-sample ``shape`` (or
    ``batch_shape = (None, *shape)``): ``dnnx.Input(shape=(12,), name="num")`` or
    ``dnnx.Input(shape=(1,), dtype="int64", name="item")`` for IDs (kept exact as int64).

    Returns a ``KerasTensor`` of shape ``(None, *shape)``. ``shape=()`` is one value per
    sample. ``dtype`` defaults to float32. dnnx models take any batch size, so a fixed
    ``batch_size`` (or a batch_shape not starting with None) is refused, as are sparse,
    ragged, optional inputs and ``tensor=``.
    """
    if shape is not None and batch_shape is not None:
        raise ValueError("Input: pass shape or batch_shape, not both. Received: "
                         f"shape={shape!r}, batch_shape={batch_shape!r}")
    if batch_shape is not None:
        if not isinstance(batch_shape, (tuple, list)) or not batch_shape:
            raise ValueError(f"Input: batch_shape must be a tuple (batch, *shape). Received: batch_shape={batch_shape!r}")
        batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
    if shape is None:
        raise ValueError("Input: shape (or batch_shape) is required, e.g. dnnx.Input(shape=(12,))")
    if batch_size is not None:
        raise ValueError(f"Input: a fixed batch_size is not supported (dnnx models take any batch size). "
                         f"Received: batch_size={batch_size!r}")
    for flag, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
        if value:
            raise ValueError(f"Input: {flag} inputs are not supported. Received: {flag}={value!r}")
    if tensor is not None:
        raise ValueError("Input: tensor= is not supported (dnnx inputs are symbolic)")
    return InputLayer(shape, "float32" if dtype is None else dtype, name).output
