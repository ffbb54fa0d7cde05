"""Tracing a subclassed ``Layer`` or ``Model``: its ``call()`` runs once on symbolic tensors.

What ``call()`` does with its sublayers (Dense, Dropout, other subclassed layers, nested)
is recorded as ordinary graph nodes, so the traced model is one C++ network that trains
whole epochs with no Python per step. This module holds the pieces the layer and model
classes share:

- ``TRAINING``: the ``training`` argument a traced ``call()`` receives. The mode is chosen
  at run time (fit: training, evaluate/predict: inference) by the nodes themselves, so
  ``training=training`` passed on to a Dropout or BatchNormalization is right in every
  mode; branching on it in Python (``if training:``) cannot be traced and raises.
- ``trace_call(owner, inputs, kwargs)``: runs ``owner.call`` inside a scope that marks the
  nodes it creates (``Node.owners``, outer first) and turns an error raised there into the
  same error naming the file and line of the user's ``call()``.
- ``tracked``: the layers a subclass holds as attributes (lists and dicts too), in the
  order they were assigned: Keras's weight order.
"""

from __future__ import annotations

import inspect
import linecache
import os
from typing import List

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_NUMPY_DIR = None

# The composite calls being traced, outermost first: each leaf node records this stack.
_scope: List[object] = []
# How many call()s (layers' and models') are being traced right now.
_depth = [0]


def tracing() -> bool:
    """True while some call() is being traced on symbolic tensors."""
    return _depth[0] > 0


class _Training:
    """``training`` inside a traced ``call()``: decided per run, so it has no truth value."""

    __slots__ = ()

    def __bool__(self):
        raise TypeError("training has no truth value while call() is traced: dnnx traces call() once, and the "
                        "Dropout and BatchNormalization nodes switch between training (fit) and inference "
                        "(evaluate, predict) by themselves. Pass it on (self.dropout(x, training=training)) "
                        "instead of branching on it")

    def __repr__(self) -> str:
        return "<training: set per run (fit: True, evaluate/predict: False)>"


TRAINING = _Training()


def check_training(owner: str, training) -> None:
    """A sublayer's ``training=``: None or the traced placeholder (the run decides)."""
    if training is None or training is TRAINING:
        return
    if isinstance(training, bool):
        raise ValueError(f"{owner}: training={training} is not supported inside a traced model: dnnx runs "
                         f"Dropout and BatchNormalization in training mode during fit and in inference mode "
                         f"in evaluate/predict; pass training=training (or nothing)")
    raise TypeError(f"{owner}: training must be None, a bool or the training argument call() received. "
                    f"Received: training={training!r}")


def accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _is_library(filename: str) -> bool:
    global _NUMPY_DIR
    if _NUMPY_DIR is None:
        import numpy
        _NUMPY_DIR = os.path.dirname(os.path.abspath(numpy.__file__))
    path = os.path.abspath(filename)
    return path.startswith(_PACKAGE_DIR + os.sep) or path.startswith(_NUMPY_DIR + os.sep)


def _user_line(tb, call_code):
    """(file, line, function) of the innermost user frame at or below the traced call()."""
    frames = []
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno))
        tb = tb.tb_next
    start = next((i for i, (code, _) in enumerate(frames) if code is call_code), None)
    if start is None:
        return None
    hit = frames[start]
    for code, line in frames[start + 1:]:
        if not _is_library(code.co_filename):
            hit = (code, line)
    code, line = hit
    return code.co_filename, line, code.co_name


def _annotate(e: BaseException, owner, call_code) -> BaseException:
    where = _user_line(e.__traceback__, call_code)
    if where is None or getattr(e, "_dnnx_traced", False):
        return e
    filename, line, func = where
    source = linecache.getline(filename, line).strip()
    msg = (f"while tracing {type(owner).__name__}.call ({filename}, line {line}, in {func}: `{source}`): "
           f"{e}")
    try:
        new = type(e)(msg)
    except Exception:  # an exception class that does not take one message
        return e
    new._dnnx_traced = True
    return new.with_traceback(e.__traceback__)


def trace_call(owner, inputs, kwargs: dict, record=None):
    """``owner.call(inputs, **kwargs)`` on symbolic tensors; nodes made inside are marked
    with ``record`` (the composite call they belong to) unless it is None."""
    call = owner.call
    code = getattr(getattr(call, "__func__", call), "__code__", None)
    if record is not None:
        _scope.append(record)
    _depth[0] += 1
    try:
        return call(inputs, **kwargs)
    except Exception as e:
        new = _annotate(e, owner, code)
        if new is e:
            raise
        raise new from None
    finally:
        _depth[0] -= 1
        if record is not None:
            _scope.pop()


def current_owners() -> tuple:
    return tuple(_scope)


def track(obj, name: str, value) -> None:
    """Remember a layer (or model, or a list/tuple/dict of them) assigned as an attribute."""
    from ._layer import Layer
    from ._trainer import Trainer
    tracked = obj.__dict__.setdefault("_tracked_attrs", {})

    def holds(v):
        if isinstance(v, (Layer, Trainer)):
            return True
        if isinstance(v, (list, tuple)):
            return any(holds(i) for i in v)
        if isinstance(v, dict):
            return any(holds(i) for i in v.values())
        return False

    if holds(value):
        tracked[name] = value
    else:
        tracked.pop(name, None)


def tracked(obj) -> list:
    """The layers and models ``obj`` holds as attributes, in assignment order (flattened)."""
    from ._layer import Layer
    from ._trainer import Trainer
    out: list = []

    def walk(v):
        if isinstance(v, (Layer, Trainer)):
            if v is not obj and all(v is not o for o in out):
                out.append(v)
        elif isinstance(v, (list, tuple)):
            for i in v:
                walk(i)
        elif isinstance(v, dict):
            for i in v.values():
                walk(i)

    for value in obj.__dict__.get("_tracked_attrs", {}).values():
        walk(value)
    return out


def leaf_order(obj) -> list:
    """The leaf layers under ``obj`` in Keras's weight order: each tracked attribute in turn,
    a subclassed layer or a model expanded into its own."""
    from ._layer import InputLayer, Layer
    out: list = []

    def add(layer):
        if all(layer is not o for o in out):
            out.append(layer)

    def own(v):  # the op nodes holding v's own weights (add_weight), first: Keras's order
        for var in getattr(v, "_own_variables", lambda: [])():
            if var._holder is not None:
                add(var._holder)

    def walk(v):
        if isinstance(v, InputLayer):
            return
        if isinstance(v, Layer) and not v._is_composite():
            add(v)
            return
        if isinstance(v, Layer) or getattr(v, "_subclassed", False):
            own(v)
            for sub in tracked(v):
                walk(sub)
        else:  # a functional or Sequential model held as an attribute
            for sub in v.layers:
                walk(sub)

    own(obj)
    for v in tracked(obj):
        walk(v)
    return out


def _plain(v) -> bool:
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, (list, tuple)):
        return all(_plain(i) for i in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(i) for k, i in v.items())
    return False


def capture_config(cls, args, kwargs):
    """Keras's auto config: the constructor arguments of a subclassed layer or model when
    all are plain values (numbers, strings, lists, dicts), else None (get_config must then
    be written by hand)."""
    try:
        bound = inspect.signature(cls.__init__).bind(None, *args, **kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    config = {}
    for i, (key, value) in enumerate(bound.arguments.items()):
        if i == 0:
            continue  # self
        param = inspect.signature(cls.__init__).parameters[key]
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            config.update(value)
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                return None
        else:
            config[key] = value
    return config if _plain(config) else None


def auto_config(obj, base: dict) -> dict:
    """``get_config`` of a subclass that does not write its own: the base config plus the
    constructor arguments it was made with."""
    captured = obj.__dict__.get("_auto_config")
    if captured is None:
        raise NotImplementedError(
            f"{type(obj).__name__} takes constructor arguments that are not plain values (numbers, strings, "
            f"lists, dicts), so it must override get_config() (and from_config() if cls(**config) cannot "
            f"rebuild it) to be saved or copied")
    return {**base, **{k: v for k, v in captured.items() if k not in base}}


def snake_case(name: str) -> str:
    """Keras's default layer/model name from a class name: ``TwoTower`` -> ``two_tower``."""
    import re
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()


# -- the inputs a subclassed model is traced on -------------------------------------------
def _structure(x, what: str, is_leaf):
    """(kind, [(name or None, leaf)]) for one value, a list/tuple or a dict of them."""
    if isinstance(x, dict):
        if not x or not all(isinstance(k, str) and k for k in x):
            raise TypeError(f"{what}: a dict of inputs must map non-empty names to values; received keys "
                            f"{list(x)!r}")
        return "dict", list(x.items())
    if isinstance(x, (list, tuple)) and x and all(is_leaf(v) for v in x):
        return "list", [(None, v) for v in x]
    return "tensor", [(None, x)]


def specs_from_data(x, float_dtype: str, owner: str):
    """Input specs (kind, [{"name", "shape", "dtype"}]) from the first data a subclassed model
    sees: one array, a list (one per input) or a dict keyed by input name. Integer arrays
    become int64 ID inputs, others the model's float dtype."""
    import numpy as np
    kind, items = _structure(x, owner, lambda v: isinstance(v, np.ndarray) or hasattr(v, "__array__"))
    specs = []
    for name, value in items:
        a = value if isinstance(value, np.ndarray) else np.asarray(value)
        if a.ndim < 1:
            raise ValueError(f"{owner}: input data must have a batch axis; received a scalar")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{owner}: input data must be numbers (floats, or integer IDs); received dtype "
                            f"{a.dtype}")
        dtype = "int64" if a.dtype.kind in "iu" else float_dtype
        specs.append({"name": name, "shape": list(a.shape[1:]), "dtype": dtype})
    return kind, specs


def specs_from_shapes(input_shape, float_dtype: str, owner: str):
    """Input specs from ``build(input_shape)``: ``(None, d)``, a list or a dict of them."""
    def is_shape(v):
        return isinstance(v, (tuple, list)) and all(d is None or isinstance(d, int) for d in v)
    if input_shape is None:
        raise ValueError(f"{owner}.build: input_shape is required for a subclassed model, e.g. build((None, 8))")
    kind = "tensor" if is_shape(input_shape) else None
    items = [(None, input_shape)] if kind else None
    if kind is None:
        kind, items = _structure(input_shape, f"{owner}.build", is_shape)
    specs = []
    for name, shape in items:
        if not is_shape(shape) or not shape:
            raise ValueError(f"{owner}.build: input_shape must be a tuple (batch, *features), a list or a dict of "
                             f"them. Received: input_shape={input_shape!r}")
        specs.append({"name": name, "shape": list(shape[1:]), "dtype": float_dtype})
    return kind, specs


def specs_from_tensors(x, owner: str):
    from ._layer import KerasTensor
    kind, items = _structure(x, owner, lambda v: isinstance(v, KerasTensor))
    return kind, [{"name": name, "shape": list(t.shape[1:]), "dtype": t.dtype} for name, t in items]
