"""Layers: configuration objects (Keras names) that the C++ network is built from.

A layer holds no arrays of its own: once its model is built, ``layer.weights`` are zero-copy
views into the network's parameter arena and ``get_weights()`` returns copies.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from . import activations as _activations
from . import initializers as _initializers
from . import regularizers as _regularizers
from ._registry import check_number


class InputSpec:
    """``dnnx.Input(shape=(features,))``: declares the model's input width."""

    def __init__(self, shape: Sequence[int], name: Optional[str] = None):
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        if len(shape) != 1 or not isinstance(shape[0], (int, np.integer)) or isinstance(shape[0], bool) \
                or shape[0] < 1:
            raise ValueError(f"Input: shape must be (features,) with features >= 1 (dense models take "
                             f"2-D (batch, features) data). Received: shape={shape!r}")
        self.shape = (int(shape[0]),)
        self.name = name or "input"

    def __repr__(self) -> str:
        return f"Input(shape={self.shape})"


def Input(shape: Sequence[int], name: Optional[str] = None) -> InputSpec:  # noqa: N802 (Keras name)
    """Declare the input shape, e.g. ``dnnx.Input(shape=(784,))``."""
    return InputSpec(shape, name)


class Layer:
    """Base class: a name, a config, and (once built) views of its weights."""

    type_name = "layer"
    default_name = "layer"

    def __init__(self, name: Optional[str] = None, input_shape: Optional[Sequence[int]] = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{type(self).__name__}: name must be a string. Received: name={name!r}")
        self.name = name
        self._input_spec = InputSpec(input_shape) if input_shape is not None else None
        self._model = None
        self._first_param = 0
        self._n_params = 0
        self.output_dim: Optional[int] = None

    # -- weights ---------------------------------------------------------------
    def _views(self) -> List[np.ndarray]:
        if self._model is None or self._model._net is None:
            return []
        return self._model._net.params()[self._first_param:self._first_param + self._n_params]

    @property
    def weights(self) -> List[np.ndarray]:
        """Zero-copy views of this layer's weights (writes change the model)."""
        return self._views()

    def get_weights(self) -> List[np.ndarray]:
        """Copies of this layer's weights, in Keras order."""
        return [w.copy() for w in self._views()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        views = self._views()
        if len(weights) != len(views):
            raise ValueError(f"{self.name}: set_weights expects {len(views)} arrays; received {len(weights)}")
        for v, w in zip(views, weights):
            w = np.asarray(w)
            if w.shape != v.shape:
                raise ValueError(f"{self.name}: weight shape mismatch: expected {v.shape}, received {w.shape}")
        for v, w in zip(views, weights):
            v[...] = w
        if self._model is not None:
            self._model._weights_changed()
        if self._model is not None:
            self._model._weights_changed()

    def count_params(self) -> int:
        return int(sum(v.size for v in self._views()))

    def param_count(self) -> int:
        """How many weight arrays this layer owns (Keras get_weights order)."""
        return 0

    # -- config ----------------------------------------------------------------
    def get_config(self) -> dict:
        return {"name": self.name}

    def spec(self) -> dict:
        raise NotImplementedError

    def output_features(self, input_dim: int) -> int:
        return input_dim

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``.

    Args:
        units: output features (>= 1).
        activation: name (``"relu"``...) or None for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: names or Initializer objects.
        kernel_regularizer, bias_regularizer: None, names or Regularizer objects.

    Input shape: ``(batch, in_features)``. Output shape: ``(batch, units)``.
    The kernel is stored ``(in_features, units)``, as Keras does.
    """

    type_name = "dense"
    default_name = "dense"

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, name: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, input_dim: Optional[int] = None):
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        super().__init__(name, input_shape)
        check_number("Dense", "units", units, low=1, integer=True)
        if not isinstance(use_bias, bool):
            raise TypeError(f"Dense: use_bias must be a bool. Received: use_bias={use_bias!r}")
        self.units = int(units)
        self.activation = _activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = _initializers.get(kernel_initializer)
        self.bias_initializer = _initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)

    def output_features(self, input_dim: int) -> int:
        return self.units

    def param_count(self) -> int:
        return 2 if self.use_bias else 1

    def spec(self) -> dict:
        return {
            "type": "dense", "units": self.units, "activation": self.activation.name,
            "activation_alpha": self.activation.alpha, "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer.spec(),
            "bias_initializer": self.bias_initializer.spec(),
            "kernel_regularizer": self.kernel_regularizer.spec() if self.kernel_regularizer else None,
            "bias_regularizer": self.bias_regularizer.spec() if self.bias_regularizer else None,
        }

    def get_config(self) -> dict:
        return {
            "name": self.name, "units": self.units,
            "activation": _activations.serialize(self.activation), "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer.get_config(),
            "bias_initializer": self.bias_initializer.get_config(),
            "kernel_regularizer": self.kernel_regularizer.spec() if self.kernel_regularizer else None,
            "bias_regularizer": self.bias_regularizer.spec() if self.bias_regularizer else None,
        }

    @classmethod
    def from_config(cls, c: dict) -> "Dense":
        return cls(c["units"], activation=_activations.deserialize(c["activation"]), use_bias=c["use_bias"],
                   kernel_initializer=_initializers.deserialize(c["kernel_initializer"]),
                   bias_initializer=_initializers.deserialize(c["bias_initializer"]),
                   kernel_regularizer=_regularizers.deserialize(c.get("kernel_regularizer")),
                   bias_regularizer=_regularizers.deserialize(c.get("bias_regularizer")), name=c.get("name"))

    @property
    def kernel(self) -> np.ndarray:
        """Zero-copy view of the kernel ``(in_features, units)``."""
        return self._views()[0]

    @property
    def bias(self) -> Optional[np.ndarray]:
        """Zero-copy view of the bias ``(units,)``, or None with ``use_bias=False``."""
        v = self._views()
        return v[1] if self.use_bias else None


class Activation(Layer):
    """Applies an activation function: ``y = activation(x)``."""

    type_name = "activation"
    default_name = "activation"

    def __init__(self, activation, name: Optional[str] = None, input_shape=None):
        super().__init__(name, input_shape)
        self.activation = _activations.get(activation)

    def spec(self) -> dict:
        return {"type": "activation", "activation": self.activation.name,
                "activation_alpha": self.activation.alpha}

    def get_config(self) -> dict:
        return {"name": self.name, "activation": _activations.serialize(self.activation)}

    @classmethod
    def from_config(cls, c: dict) -> "Activation":
        return cls(_activations.deserialize(c["activation"]), name=c.get("name"))


class Dropout(Layer):
    """Zeroes inputs with probability ``rate`` while training; kept ones are scaled by 1/(1-rate).

    The mask comes from a counter-based RNG keyed by seed, step and element: reproducible
    and independent of the thread count. Identity at inference.
    """

    type_name = "dropout"
    default_name = "dropout"

    def __init__(self, rate: float, seed: Optional[int] = None, name: Optional[str] = None, input_shape=None):
        super().__init__(name, input_shape)
        check_number("Dropout", "rate", rate, low=0, high=1, high_open=True)
        if seed is not None:
            check_number("Dropout", "seed", seed, low=0, integer=True)
        self.rate = float(rate)
        self.seed = seed

    def spec(self) -> dict:
        return {"type": "dropout", "rate": self.rate, "seed": self.seed}

    def get_config(self) -> dict:
        return {"name": self.name, "rate": self.rate, "seed": self.seed}

    @classmethod
    def from_config(cls, c: dict) -> "Dropout":
        return cls(c["rate"], seed=c.get("seed"), name=c.get("name"))


class BatchNormalization(Layer):
    """``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` over the batch.

    Training uses the batch statistics and updates ``moving = moving * momentum +
    batch * (1 - momentum)``; inference uses the moving statistics.
    Weights (Keras order): gamma, beta, moving_mean, moving_variance.
    """

    type_name = "batch_normalization"
    default_name = "batch_normalization"

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 name: Optional[str] = None, input_shape=None, axis: int = -1):
        super().__init__(name, input_shape)
        if axis not in (-1, 1):
            raise ValueError(f"BatchNormalization: only the feature axis (-1) is supported. Received: axis={axis}")
        check_number("BatchNormalization", "momentum", momentum, low=0, high=1)
        check_number("BatchNormalization", "epsilon", epsilon, low=0, low_open=True)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def param_count(self) -> int:
        return int(self.scale) + int(self.center) + 2

    def spec(self) -> dict:
        return {"type": "batch_normalization", "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}

    def get_config(self) -> dict:
        return {"name": self.name, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale}

    @classmethod
    def from_config(cls, c: dict) -> "BatchNormalization":
        return cls(c["momentum"], c["epsilon"], c["center"], c["scale"], name=c.get("name"))


class LayerNormalization(Layer):
    """``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` over each sample's features."""

    type_name = "layer_normalization"
    default_name = "layer_normalization"

    def __init__(self, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 name: Optional[str] = None, input_shape=None, axis: int = -1):
        super().__init__(name, input_shape)
        if axis not in (-1, 1):
            raise ValueError(f"LayerNormalization: only the feature axis (-1) is supported. Received: axis={axis}")
        check_number("LayerNormalization", "epsilon", epsilon, low=0, low_open=True)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def param_count(self) -> int:
        return int(self.scale) + int(self.center)

    def spec(self) -> dict:
        return {"type": "layer_normalization", "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale}

    def get_config(self) -> dict:
        return {"name": self.name, "epsilon": self.epsilon, "center": self.center, "scale": self.scale}

    @classmethod
    def from_config(cls, c: dict) -> "LayerNormalization":
        return cls(c["epsilon"], c["center"], c["scale"], name=c.get("name"))


LAYER_CLASSES = {cls.type_name: cls for cls in (Dense, Activation, Dropout, BatchNormalization,
                                                 LayerNormalization)}

__all__ = ["Input", "InputSpec", "Layer", "Dense", "Activation", "Dropout", "BatchNormalization",
           "LayerNormalization"]
