"""``Sequential``: a linear stack of layers, the one-path functional model."""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from . import layers as _layers
from ._functional import Model, _check_dtype
from ._graph import Graph
from ._layer import InputLayer, KerasTensor, Layer, is_int_dtype, width


class Sequential(Model):
    """A linear stack of layers: the one-path functional model.

    Args:
        layers: optional list of layers (a ``dnnx.Input`` may come first).
        dtype: ``"float32"`` (default) or ``"float64"`` for every weight and computation.
        name: model name.
        seed: RNG seed for initializers, dropout and shuffling (default: drawn from
            ``dnnx.utils.set_random_seed`` or fresh entropy).

    The model is built (its C++ network made) on ``build(input_shape)`` or on first use:
    from the ``Input`` when it has one, else from the data's shape, as Keras does. Built,
    it is the functional chain ``Input -> layers[0] -> ... -> layers[-1]``.

    Example:
        >>> model = dnnx.Sequential([dnnx.Input(shape=(4,)), dnnx.layers.Dense(3, activation="softmax")])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    """

    def __init__(self, layers: Optional[Sequence] = None, dtype: str = "float32", name: str = "sequential",
                 seed: Optional[int] = None, trainable: bool = True):
        self._init_model(name, seed)
        self._set_dtype(_check_dtype(dtype, "Sequential"))
        self._layers: List[Layer] = []
        self._input_layer: Optional[InputLayer] = None
        self._traced: List[KerasTensor] = []  # each layer's output once the input is known (Keras builds on add)
        for layer in layers or []:
            self.add(layer)
        if not trainable:
            self.trainable = False

    # -- construction ---------------------------------------------------------------
    def add(self, layer) -> None:
        """Append a layer (or set the input with ``dnnx.Input`` first)."""
        if isinstance(layer, KerasTensor) and isinstance(layer._keras_history[0], InputLayer):
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("Sequential: an Input can only be the first element")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a dnnx layer or dnnx.Input; received {layer!r}")
        if layer.takes_list:
            raise TypeError(f"Sequential: {type(layer).__name__} merges several tensors; use dnnx.Model")
        if any(l is layer for l in self._layers):
            raise ValueError(f"Sequential: layer {layer.name!r} is already in this model")
        if layer._input_spec is not None and not self._layers and self._input_layer is None:
            self._input_layer = layer._input_spec
        counts = sum(1 for l in self._layers if l.default_name == layer.default_name)
        if layer.name is None:
            layer.name = layer.default_name if counts == 0 else f"{layer.default_name}_{counts}"
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"Sequential: duplicate layer name {layer.name!r}")
        if self._input_layer is not None:
            prev = self._traced[-1] if self._traced else self._input_layer.output
            out = layer(prev)  # raises on an incompatible shape before anything changes
            self._unbuild()
            self._traced.append(out)
        self._layers.append(layer)

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer (Keras ``Sequential.pop``). The other layers keep
        their weights; the network is rebuilt (now, or on first use with rebuild=False)."""
        if not self._layers:
            raise TypeError("Sequential.pop: there are no layers in the model")
        self._unbuild()
        layer = self._layers.pop()
        self._traced = self._traced[:len(self._layers)]
        if rebuild and self._layers and self._input_layer is not None:
            self.build()
        return layer

    def _unbuild(self) -> None:
        """Drop the C++ network (its layers keep their current weights, for the next one)."""
        if self._net is None:
            return
        sync = self.__dict__.get("_variable_sync")
        if sync is not None:
            sync()  # add_weight variables keep the network's values (see Model._watch_variables)
        leaves = [leaf for layer in self._layers for leaf in (layer._leaves() if layer._is_composite() else [layer])]
        for layer in self._layers:
            if layer._is_composite():
                layer._models.discard(self)
        for layer in leaves:
            if getattr(layer, "_variables", None):
                layer._initial_weights = [v._value for v in layer._variables]
            elif not isinstance(getattr(type(layer), "_initial_weights", None), property):
                w = layer.get_weights()
                layer._initial_weights = w if w else None
            layer._models.discard(self)
            if layer._home is not None and layer._home() is self:
                layer._home = None
        self._net = None
        self._graph = None
        self._slices = {}
        self._shared = []
        self._compile_config = None
        self._plain_width = -1

    def build(self, input_shape=None) -> None:
        """Create the weights for ``input_shape = (batch, *features)`` (or ``(features,)``)."""
        if self._net is not None:
            return
        if input_shape is not None:
            shape = tuple(input_shape)
            shape = shape if len(shape) == 1 else shape[1:]
            if self._input_layer is not None and tuple(self._input_layer.shape) != shape:
                raise ValueError(f"Sequential: model expects input shape {self._input_layer.shape}; received {shape}")
            if self._input_layer is None:
                first_ids = bool(self._layers) and isinstance(self._layers[0], _layers.Embedding)
                self._input_layer = InputLayer(shape, "int64" if first_ids else "float32", owner="Sequential.build")
        if self._input_layer is None:
            raise ValueError("Sequential: the input shape is unknown; pass dnnx.Input(shape=(features,)) first, "
                             "call build((None, features)) or fit on data")
        if not self._layers:
            raise ValueError("Sequential: the model has no layers")
        x = self._traced[-1] if len(self._traced) == len(self._layers) else self._input_layer.output
        for layer in self._layers[len(self._traced):]:
            x = layer(x)
            self._traced.append(x)
        self._graph = Graph(self._input_layer.output, x)
        self._build_network()

    def _build_for_tensors(self, x) -> None:
        t = x[0] if isinstance(x, (list, tuple)) else x
        if self._input_layer is None:
            self._input_layer = InputLayer(t.shape[1:], t.dtype if is_int_dtype(t.dtype) else self.dtype,
                                           owner="Sequential")
        self.build()

    def _ensure_built(self, x) -> None:
        if self._net is not None:
            return
        if self._input_layer is None:
            from ._validation import _as_array
            a = x if isinstance(x, np.ndarray) else _as_array(x, "x")
            if a.ndim < 2:
                raise ValueError(f"x must be 2-D with shape (n, features); received shape {a.shape}")
            self.build((None, *a.shape[1:]))
        else:
            self.build()

    def _pending_output_names(self, args=None) -> List[str]:
        return [self._layers[-1].name] if self._layers else ["output"]

    def _require_built(self, what: str) -> None:
        if self._net is None and self._input_layer is not None and self._layers:
            self.build()  # like Keras: a model that knows its input shape is built
        super()._require_built(what)

    @property
    def layers(self) -> List[Layer]:
        return list(self._layers)

    @property
    def input_dim(self) -> Optional[int]:
        return width(self._input_layer.batch_shape) if self._input_layer is not None else None

    @property
    def trainable(self) -> bool:
        return all(l.trainable for l in self._layers)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for layer in self._layers:
            layer.trainable = value

    def get_config(self) -> dict:
        """Keras's Sequential layout: name, dtype, layers (an InputLayer first when known)."""
        from ._serialization import sequential_config
        if self._net is None and self._input_layer is not None and self._layers:
            self.build()  # names the input
        return sequential_config(self)
