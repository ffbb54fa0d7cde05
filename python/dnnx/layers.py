"""Layers: configuration objects (Keras names) that the C++ network is built from.

A layer holds no arrays of its own: once its model is built, ``layer.weights`` are zero-copy
views into the network's parameter arena and ``get_weights()`` returns copies. Calling a
layer on symbolic tensors (``dnnx.Input``) records the functional graph (see ``_layer``).
"""

from __future__ import annotations

from typing import Optional, Sequence

from . import activations as _activations
from . import initializers as _initializers
from . import regularizers as _regularizers
from ._layer import Input, InputLayer, KerasTensor, Layer
from ._layer import declared_default as _d
from ._discretization import Discretization
from ._lookup import IntegerLookup, StringLookup
from ._merging import Add, Average, Concatenate, Maximum, Multiply, Subtract
from ._numeric_column import NumericColumn
from ._preprocessing import CategoryEncoding, Normalization
from ._registry import check_number
from ._reshaping import Flatten, GlobalAveragePooling1D, Identity, Reshape


class Dense(Layer):
    """Fully connected layer: ``y = activation(x @ kernel + bias)``.

    Args:
        units: output features (>= 1).
        activation: name (``"relu"``...) or None for linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: names or Initializer objects.
        kernel_regularizer, bias_regularizer: None, names or Regularizer objects.

    Input shape: ``(batch, ..., in_features)``. Output shape: ``(batch, ..., units)`` (applied
    to the last axis, as Keras does). The kernel is stored ``(in_features, units)``.
    """

    type_name = "dense"
    default_name = "dense"

    def __init__(self, units: int, activation=None, use_bias: bool = _d("dense", "use_bias"),
                 kernel_initializer=_d("dense", "kernel_initializer")["name"],
                 bias_initializer=_d("dense", "bias_initializer")["name"],
                 kernel_regularizer=None, bias_regularizer=None, name: Optional[str] = None,
                 input_shape: Optional[Sequence[int]] = None, input_dim: Optional[int] = None,
                 trainable: bool = True):
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        super().__init__(name, input_shape, trainable)
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

    def compute_output_shape(self, input_shape):
        self._require_features_axis(input_shape)
        return (*input_shape[:-1], self.units)

    def node_steps(self, input_shapes) -> int:
        return self._last_axis_steps(input_shapes[0])

    @property
    def kernel(self):
        """Zero-copy view of the kernel ``(in_features, units)`` (writes change the model)."""
        return self.weights[0]

    @property
    def bias(self):
        """Zero-copy view of the bias ``(units,)``, or None with ``use_bias=False``."""
        return self.weights[1] if self.use_bias else None


class Activation(Layer):
    """Applies an activation function: ``y = activation(x)`` (softmax over the last axis)."""

    type_name = "activation"
    default_name = "activation"

    def __init__(self, activation, name: Optional[str] = None, input_shape=None, trainable: bool = True):
        super().__init__(name, input_shape, trainable)
        self.activation = _activations.get(activation)

    def node_steps(self, input_shapes) -> int:
        return self._last_axis_steps(input_shapes[0]) if len(input_shapes[0]) > 1 else 1



class Dropout(Layer):
    """Zeroes inputs with probability ``rate`` while training; kept ones are scaled by 1/(1-rate).

    The mask comes from a counter-based RNG keyed by seed, step and element: reproducible
    and independent of the thread count. Identity at inference.
    """

    type_name = "dropout"
    default_name = "dropout"

    def __init__(self, rate: float, seed: Optional[int] = None, name: Optional[str] = None, input_shape=None,
                 trainable: bool = True):
        super().__init__(name, input_shape, trainable)
        check_number("Dropout", "rate", rate, low=0, high=1, high_open=True)
        if seed is not None:
            check_number("Dropout", "seed", seed, low=0, integer=True)
        self.rate = float(rate)
        self.seed = seed



class BatchNormalization(Layer):
    """``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` over the batch.

    Training uses the batch statistics and updates ``moving = moving * momentum +
    batch * (1 - momentum)``; inference uses the moving statistics.
    Weights (Keras order): gamma, beta, moving_mean, moving_variance.
    """

    type_name = "batch_normalization"
    default_name = "batch_normalization"

    def __init__(self, momentum: float = _d("batch_normalization", "momentum"),
                 epsilon: float = _d("batch_normalization", "epsilon"), center: bool = _d("batch_normalization", "center"),
                 scale: bool = _d("batch_normalization", "scale"), name: Optional[str] = None, input_shape=None,
                 axis: int = -1, trainable: bool = True):
        super().__init__(name, input_shape, trainable)
        if axis not in (-1, 1):
            raise ValueError(f"BatchNormalization: only the feature axis (-1) is supported. Received: axis={axis}")
        check_number("BatchNormalization", "momentum", momentum, low=0, high=1)
        check_number("BatchNormalization", "epsilon", epsilon, low=0, low_open=True)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def compute_output_shape(self, input_shape):
        self._require_features_axis(input_shape)
        return input_shape

    def node_steps(self, input_shapes) -> int:
        return self._last_axis_steps(input_shapes[0])



class LayerNormalization(Layer):
    """``y = gamma * (x - mean) / sqrt(var + epsilon) + beta`` over each sample's features."""

    type_name = "layer_normalization"
    default_name = "layer_normalization"

    def __init__(self, epsilon: float = _d("layer_normalization", "epsilon"),
                 center: bool = _d("layer_normalization", "center"), scale: bool = _d("layer_normalization", "scale"),
                 name: Optional[str] = None, input_shape=None, axis: int = -1, trainable: bool = True):
        super().__init__(name, input_shape, trainable)
        if axis not in (-1, 1):
            raise ValueError(f"LayerNormalization: only the feature axis (-1) is supported. Received: axis={axis}")
        check_number("LayerNormalization", "epsilon", epsilon, low=0, low_open=True)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)

    def compute_output_shape(self, input_shape):
        self._require_features_axis(input_shape)
        return input_shape

    def node_steps(self, input_shapes) -> int:
        return self._last_axis_steps(input_shapes[0])



class Embedding(Layer):
    """Turns integer IDs into dense vectors: ``y[b, i] = embeddings[ids[b, i]]``.

    Args:
        input_dim: vocabulary size; IDs must be in ``[0, input_dim)`` (else ValueError).
        output_dim: vector size.
        embeddings_initializer: default ``"uniform"`` (U(-0.05, 0.05), as Keras).
        embeddings_regularizer: None, a name or a Regularizer.

    Input shape: ``(batch, k)`` int64 IDs from an integer ``dnnx.Input`` (``(batch,)`` for
    ``shape=()``). Output shape: ``(batch, k, output_dim)`` (``(batch, output_dim)``).
    Repeated IDs in a batch accumulate their gradients.
    """

    type_name = "embedding"
    default_name = "embedding"

    def __init__(self, input_dim: int, output_dim: int,
                 embeddings_initializer=_initializers.deserialize(_d("embedding", "embeddings_initializer")),
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero: bool = False,
                 weights=None, lora_rank=None, name: Optional[str] = None, trainable: bool = True,
                 input_shape=None):
        super().__init__(name, input_shape, trainable)
        self.input_dim = int(check_number("Embedding", "input_dim", input_dim, low=1, integer=True))
        self.output_dim = int(check_number("Embedding", "output_dim", output_dim, low=1, integer=True))
        for arg, value, ok in (("embeddings_constraint", embeddings_constraint, None), ("mask_zero", mask_zero, False),
                               ("lora_rank", lora_rank, None)):
            if value is not ok and value != ok:
                raise ValueError(f"Embedding: {arg} is not supported by dnnx (dense MLPs have no masking, "
                                 f"constraints or LoRA). Received: {arg}={value!r}")
        self.embeddings_initializer = _initializers.get(embeddings_initializer)
        self.embeddings_regularizer = _regularizers.get(embeddings_regularizer)
        self._initial_weights = None if weights is None else list(weights)

    reads_ids = True

    def compute_output_shape(self, input_shape):
        if len(input_shape) > 2:
            raise ValueError(f"Embedding {self.name or ''}: expects IDs of shape (batch,) or (batch, k); "
                             f"received shape {input_shape}")
        return (*input_shape, self.output_dim)

    def _output_dtype(self, tensors) -> str:
        return "float32"  # follows the model dtype; the model checks its float inputs

    @property
    def embeddings(self):
        """Zero-copy view of the table ``(input_dim, output_dim)`` (writes change the model)."""
        return self.weights[0]


_ALL = (Dense, Activation, Dropout, BatchNormalization, LayerNormalization, Embedding, Add, Subtract, Multiply,
        Average, Maximum, Concatenate, Flatten, GlobalAveragePooling1D, Reshape, Identity, Normalization,
        CategoryEncoding, Discretization, StringLookup, IntegerLookup, NumericColumn)
# C++ layer types (the pre-graph file layout names layers by type; host-stage layers have none)
LAYER_CLASSES = {cls.type_name: cls for cls in _ALL if not getattr(cls, "host", False)}
CLASS_NAMES = {cls.__name__: cls for cls in _ALL}       # Keras layout: class_name

__all__ = ["Input", "InputLayer", "KerasTensor", "Layer"] + [cls.__name__ for cls in _ALL]
