"""``Sequential``: the Keras model API over one C++ ``_core.Network``.

Python decides, C++ computes: ``fit`` hands whole arrays to C++, which shuffles, batches,
steps and tracks metrics for a full epoch per call; Python only runs callbacks.
"""

from __future__ import annotations

import math
import weakref
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import _core, _validation
from . import callbacks as _callbacks
from . import layers as _layers
from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers
from .utils import next_seed

_DTYPES = {"float32": np.float32, "float64": np.float64}


class Sequential:
    """A linear stack of layers.

    Args:
        layers: optional list of layers (an ``dnnx.Input`` may come first).
        dtype: ``"float32"`` (default) or ``"float64"`` for every weight and computation.
        name: model name.
        seed: RNG seed for initializers, dropout and shuffling (default: drawn from
            ``dnnx.utils.set_random_seed`` or fresh entropy).

    Example:
        >>> model = dnnx.Sequential([dnnx.Input(shape=(4,)), dnnx.layers.Dense(3, activation="softmax")])
        >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    """

    def __init__(self, layers: Optional[Sequence] = None, dtype: str = "float32", name: str = "sequential",
                 seed: Optional[int] = None):
        if dtype not in _DTYPES:
            dt = getattr(np.dtype(dtype) if isinstance(dtype, type) else None, "name", dtype)
            if dt in _DTYPES:
                dtype = dt
            else:
                raise ValueError(f"Sequential: dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")
        self.dtype = dtype
        self._np_dtype = np.dtype(_DTYPES[dtype])
        self.name = name
        self._seed = seed
        self.layers: List[_layers.Layer] = []
        self._input_dim: Optional[int] = None
        self._net = None
        self._live_views: List[weakref.ref] = []  # weight views handed to the user (see _sync_views)
        self.optimizer: Optional[_optimizers.Optimizer] = None
        self.loss: Optional[_losses.Loss] = None
        self._metrics: List[_metrics.Metric] = []
        self.compiled = False
        self.stop_training = False
        self.history: Optional[_callbacks.History] = None
        for layer in layers or []:
            self.add(layer)

    # -- construction ---------------------------------------------------------------
    def add(self, layer) -> None:
        """Append a layer (or set the input with ``dnnx.Input`` first)."""
        if isinstance(layer, _layers.InputSpec):
            if self.layers or self._input_dim is not None:
                raise ValueError("Sequential: an Input can only be the first element")
            self._input_dim = layer.shape[0]
            return
        if not isinstance(layer, _layers.Layer):
            raise TypeError(f"Sequential.add expects a dnnx layer or dnnx.Input; received {layer!r}")
        if self._net is not None:
            raise ValueError("Sequential: cannot add layers after the model is built")
        if layer._model is not None:
            raise ValueError(f"Sequential: layer {layer.name!r} already belongs to a model")
        if layer._input_spec is not None and not self.layers and self._input_dim is None:
            self._input_dim = layer._input_spec.shape[0]
        counts = sum(1 for l in self.layers if l.default_name == layer.default_name)
        if layer.name is None:
            layer.name = layer.default_name if counts == 0 else f"{layer.default_name}_{counts}"
        if any(l.name == layer.name for l in self.layers):
            raise ValueError(f"Sequential: duplicate layer name {layer.name!r}")
        self.layers.append(layer)

    def build(self, input_shape=None) -> None:
        """Create the weights for ``input_shape = (batch, features)`` (or ``(features,)``)."""
        if self._net is not None:
            return
        if input_shape is not None:
            dim = input_shape[-1]
            if self._input_dim is not None and dim != self._input_dim:
                raise ValueError(f"Sequential: model expects {self._input_dim} input features; received {dim}")
            self._input_dim = int(dim)
        if self._input_dim is None:
            raise ValueError("Sequential: the input shape is unknown; pass dnnx.Input(shape=(features,)) first, "
                             "call build((None, features)) or fit on data")
        if not self.layers:
            raise ValueError("Sequential: the model has no layers")
        self._seed = next_seed(self._seed)
        spec = {"dtype": self.dtype, "input_dim": self._input_dim, "seed": self._seed,
                "layers": [l.spec() for l in self.layers], "loss": None, "optimizer": None, "metrics": []}
        self._net = _core.Network(spec)
        dims = self._net.output_shapes()
        i = 0
        for layer, out in zip(self.layers, dims):
            layer._model = self
            layer.output_dim = out
            layer._first_param = i
            layer._n_params = layer.param_count()
            i += layer._n_params
        if i != len(self._net.params()):
            raise RuntimeError(f"internal error: layers declare {i} weight arrays, the network has "
                               f"{len(self._net.params())}")
        if self.compiled:
            self._push_training_config()

    @property
    def built(self) -> bool:
        return self._net is not None

    @property
    def input_dim(self) -> Optional[int]:
        return self._input_dim

    @property
    def output_dim(self) -> int:
        self._require_built("output_dim")
        return self._net.output_dim

    def _require_built(self, what: str) -> None:
        if self._net is None and self._input_dim is not None and self.layers:
            self.build()  # like Keras: a model that knows its input shape is built
        if self._net is None:
            raise ValueError(f"{what}: the model is not built yet; give it an Input, call build() or fit()")

    # -- compile ----------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, jit_compile=None) -> None:
        """Configure training: optimizer, loss and metrics (names or objects)."""
        self.optimizer = _optimizers.get(optimizer)
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mse' or "
                             "loss='sparse_categorical_crossentropy'")
        self.loss = _losses.get(loss)
        metrics = list(metrics or []) + list(weighted_metrics or [])
        self._metrics = [_metrics.get(m) for m in metrics]
        keys = [m.name for m in self._metrics]
        if len(set(keys)) != len(keys) or "loss" in keys:
            raise ValueError(f"compile: metric names must be unique and not 'loss'; received {keys}")
        self.optimizer._model = self
        self.compiled = True
        if self._net is not None:
            self._push_training_config()

    def _push_training_config(self) -> None:
        out = self._net.output_dim
        mspecs = [_metrics.resolve(m, self.loss, out) for m in self._metrics]
        self._net.set_training_config(self.loss.spec(), self.optimizer.spec(), mspecs)

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{what}: the model must be compiled first; call model.compile(optimizer=..., "
                               f"loss=...)")

    @property
    def metrics_names(self) -> List[str]:
        return ["loss"] + [m.name for m in self._metrics]

    # -- data -------------------------------------------------------------------------
    def _x(self, x, name: str = "x") -> np.ndarray:
        # Fast path (small predicts are dominated by Python overhead): an array that is
        # already what _core takes passes as is.
        if (type(x) is np.ndarray and self._net is not None and x.dtype == self._np_dtype and x.ndim == 2
                and x.shape[1] == self._input_dim and x.flags.c_contiguous):
            return x
        if self._net is None:
            a = _validation.features(x, self._np_dtype, name, self._input_dim)
            self.build((None, a.shape[1]))
            return a
        return _validation.features(x, self._np_dtype, name, self._input_dim)

    def _xy(self, x, y, sample_weight=None, class_weight=None, name="x"):
        x = self._x(x, name)
        y = _validation.targets(y, self._np_dtype, x.shape[0], self._net.output_dim, self.loss.sparse,
                                "y" if name == "x" else f"{name}_y")
        sw = _validation.sample_weights(sample_weight, self._np_dtype, x.shape[0])
        if class_weight is not None:
            cw = _validation.class_weights(class_weight, y, self.loss.sparse, self._net.output_dim, self._np_dtype)
            sw = cw if sw is None else np.ascontiguousarray(sw * cw)
        return x, y, sw

    # -- training -----------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: Optional[int] = None, epochs: int = 1, verbose="auto",
            callbacks: Optional[Sequence[_callbacks.Callback]] = None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight: Optional[Dict[int, float]] = None,
            sample_weight=None, initial_epoch: int = 0, validation_batch_size: Optional[int] = None,
            validation_freq: int = 1) -> _callbacks.History:
        """Train for ``epochs`` epochs; returns a ``History`` (``history.history[key]`` lists).

        Each epoch is one C++ call: shuffle (seeded), gather batches, forward, loss,
        backward, update, metrics. ``validation_split`` takes the last fraction of the
        data before shuffling, as Keras does.
        """
        self._require_compiled("fit")
        if x is None or y is None:
            raise ValueError("fit: x and y are required")
        batch_size = 32 if batch_size is None else _validation.positive_int(batch_size, "batch_size", "fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer. Received: epochs={epochs!r}")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
            raise ValueError(f"fit: initial_epoch must be a non-negative integer. Received: {initial_epoch!r}")
        if not (0.0 <= float(validation_split) < 1.0):
            raise ValueError(f"fit: validation_split must be in [0, 1). Received: {validation_split!r}")
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"fit: verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
        x, y, sw = self._xy(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 "sample_weight_val)")
            vx, vy = validation_data[0], validation_data[1]
            vsw = validation_data[2] if len(validation_data) == 3 else None
            val = self._xy(vx, vy, vsw, None, name="validation_data")
        elif validation_split > 0:
            n_val = int(x.shape[0] * validation_split)
            if n_val == 0 or n_val == x.shape[0]:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                 f"validation set for {x.shape[0]} samples")
            cut = x.shape[0] - n_val
            val = (x[cut:], y[cut:], None if sw is None else sw[cut:])
            x, y, sw = x[:cut], y[:cut], (None if sw is None else sw[:cut])
        if x.shape[0] == 0:
            raise ValueError("fit: x is empty")
        steps = math.ceil(x.shape[0] / batch_size)
        history = _callbacks.History()
        cbs = list(callbacks or [])
        for c in cbs:
            if not isinstance(c, _callbacks.Callback):
                raise TypeError(f"fit: callbacks must be dnnx.callbacks.Callback instances; received {c!r}")
        if verbose:
            cbs.append(_callbacks.ProgbarLogger(verbose))
        cbs.append(history)
        cblist = _callbacks.CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose,
                                                     "batch_size": batch_size})
        batch_hooks = cblist.wants_batch_hooks
        every = 1
        if batch_hooks and not any(c.wants_batch_hooks for c in cbs if not isinstance(c, _callbacks.ProgbarLogger)):
            every = max(1, steps // 100)  # progress bar only: ~100 updates per epoch are plenty

        def on_batch(batch: int, logs: Dict[str, float]) -> bool:
            logs = dict(logs)
            cblist.on_train_batch_end(batch, logs)
            if batch + 1 < steps:
                cblist.on_train_batch_begin(batch + 1, logs)
            return bool(self.stop_training)

        self.stop_training = False
        cblist.on_train_begin()
        logs: Dict[str, float] = {}
        for epoch in range(int(initial_epoch), int(epochs)):
            cblist.on_epoch_begin(epoch)
            if batch_hooks:
                cblist.on_train_batch_begin(0)
            lrs = self.optimizer.learning_rates(self._net.iterations, steps)
            logs = dict(self._net.train_epoch(x, y, sw, batch_size, bool(shuffle), epoch, lrs,
                                              on_batch if batch_hooks else None, every))
            if val is not None and (epoch + 1) % validation_freq == 0:
                vlogs = self._net.evaluate(val[0], val[1], val[2], validation_batch_size or batch_size)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            cblist.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cblist.on_train_end(logs)
        return history

    def evaluate(self, x=None, y=None, batch_size: Optional[int] = None, verbose="auto", sample_weight=None,
                 return_dict: bool = False, callbacks=None):
        """Loss and metrics on ``(x, y)``: a scalar, a list, or a dict with ``return_dict``."""
        self._require_compiled("evaluate")
        batch_size = 32 if batch_size is None else _validation.positive_int(batch_size, "batch_size", "evaluate")
        x, y, sw = self._xy(x, y, sample_weight)
        if x.shape[0] == 0:
            raise ValueError("evaluate: x is empty")
        self._sync_views()
        logs = dict(self._net.evaluate(x, y, sw, batch_size))
        if return_dict:
            return logs
        vals = [logs[k] for k in self.metrics_names]
        return vals[0] if len(vals) == 1 else vals

    def predict(self, x, batch_size: Optional[int] = None, verbose="auto", callbacks=None) -> np.ndarray:
        """Outputs for ``x`` as an ndarray of the model dtype, shape ``(n, output_dim)``."""
        x = self._x(x)
        bs = 0 if batch_size is None else _validation.positive_int(batch_size, "batch_size", "predict")
        self._sync_views()
        return self._net.predict(x, bs)

    def __call__(self, x) -> np.ndarray:
        return self.predict(x)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One optimizer step on exactly this batch; returns the batch loss (and metrics)."""
        self._require_compiled("train_on_batch")
        x, y, sw = self._xy(x, y, sample_weight, class_weight)
        lr = float(self.optimizer.learning_rates(self._net.iterations, 1)[0])
        logs = dict(self._net.train_batch(x, y, sw, lr))
        return self._pack(logs, return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        x, y, sw = self._xy(x, y, sample_weight)
        self._sync_views()
        logs = dict(self._net.evaluate(x, y, sw, max(1, x.shape[0])))
        return self._pack(logs, return_dict)

    def predict_on_batch(self, x) -> np.ndarray:
        x = self._x(x)
        self._sync_views()
        return self._net.predict(x, 0)

    def _pack(self, logs, return_dict):
        if return_dict:
            return logs
        vals = [logs[k] for k in self.metrics_names]
        return vals[0] if len(vals) == 1 else vals

    def compute_gradients(self, x, y, sample_weight=None):
        """``(loss, grads)``: the compiled objective (mean loss + regularization) and its
        gradient with respect to every weight, in ``get_weights()`` order (copies)."""
        self._require_compiled("compute_gradients")
        x, y, sw = self._xy(x, y, sample_weight)
        loss = self._net.compute_gradients(x, y, sw)
        return float(loss), [g.copy() for g in self._net.grads()]

    # -- weights --------------------------------------------------------------------------
    def get_weights(self) -> List[np.ndarray]:
        """Copies of all weights in Keras order (kernel (in, out), bias (out,), ...)."""
        self._require_built("get_weights")
        return [p.copy() for p in self._net.params()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Copy ``weights`` (Keras order and shapes) into the model."""
        self._require_built("set_weights")
        views = self._net.params()
        weights = list(weights)
        if len(weights) != len(views):
            raise ValueError(f"set_weights: the model has {len(views)} weight arrays; received {len(weights)}")
        arrays = []
        for i, (v, w) in enumerate(zip(views, weights)):
            w = np.asarray(w)
            if w.shape != v.shape:
                raise ValueError(f"set_weights: weight {i} ({self._net.param_names()[i]}) must have shape {v.shape}; "
                                 f"received {w.shape}")
            arrays.append(w)
        for v, w in zip(views, arrays):
            v[...] = w
        self._weights_changed()

    def _weights_changed(self) -> None:
        hook = getattr(self._net, "params_changed", None)
        if hook is not None:
            hook()

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
        views = self._net.params()
        self._track_views(views)
        return views

    def count_params(self) -> int:
        self._require_built("count_params")
        return int(sum(p.size for p in self._net.params()))

    def summary(self, print_fn=None) -> None:
        """Print layers, output shapes and parameter counts."""
        print_fn = print_fn or print
        if self._input_dim is not None:
            self._require_built("summary")
        rows = [("Layer (type)", "Output Shape", "Param #")]
        trainable = non_trainable = 0
        flags = self._net.param_trainable() if self._net is not None else []
        for layer in self.layers:
            n = layer.count_params()
            out = f"(None, {layer.output_dim})" if layer.output_dim is not None else "?"
            rows.append((f"{layer.name} ({type(layer).__name__})", out, f"{n:,}"))
            for j, v in enumerate(layer._views()):
                if flags and flags[layer._first_param + j]:
                    trainable += v.size
                else:
                    non_trainable += v.size
        w = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        line = "-" * sum(w)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        for i, r in enumerate(rows):
            print_fn(r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].rjust(w[2]))
            print_fn("=" * sum(w) if i == 0 else line)
        print_fn(f"Total params: {trainable + non_trainable:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {non_trainable:,}")

    # -- config and saving --------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "input_dim": self._input_dim,
                "layers": [{"class": l.type_name, "config": l.get_config()} for l in self.layers]}

    def save(self, filepath) -> None:
        """Save architecture, weights, optimizer state and RNG position to one safetensors
        file, atomically (a crash mid-save leaves any previous file intact)."""
        from .saving import save_model
        save_model(self, filepath)

    def save_weights(self, filepath) -> None:
        from .saving import save_weights
        save_weights(self, filepath)

    def load_weights(self, filepath) -> None:
        from .saving import load_weights
        load_weights(self, filepath)


Model = Sequential
