"""``compile`` / ``fit`` / ``evaluate`` / ``predict`` for every model (Keras's Trainer).

Python decides, C++ computes: ``fit`` hands whole arrays to C++, which shuffles, batches,
steps and tracks metrics for a full epoch per call; Python only runs callbacks. Data come
as one array, a list (one per input / output) or a dict keyed by input / output name.
"""

from __future__ import annotations

import functools
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import _validation
from . import callbacks as _callbacks
from . import optimizers as _optimizers
from ._compile import CompileConfig
from ._layer import KerasTensor, is_int_dtype, width

_DEFAULT_BATCH_SIZE = 32  # Keras's default for fit, evaluate and predict


def _by_name(data, names: Sequence[str], what: str, kind: str, allow_missing: bool) -> List:
    """One entry per name (``kind``: "inputs" or "outputs") from one value, a list or a dict."""
    if isinstance(data, dict):
        unknown = [k for k in data if k not in names]
        if unknown:
            raise ValueError(f"{what}: unknown key(s) {unknown}; expected keys from {list(names)}")
        missing = [k for k in names if k not in data]
        if missing and not allow_missing:
            raise ValueError(f"{what}: no data for {missing} (expected keys {list(names)})")
        return [data.get(k) for k in names]
    if len(names) == 1:
        if isinstance(data, (list, tuple)) and len(data) == 1 and isinstance(data[0], np.ndarray):
            return [data[0]]
        return [data]
    if not isinstance(data, (list, tuple)):
        raise ValueError(f"{what}: the model has {len(names)} {kind} {list(names)}; pass a list or a dict keyed by "
                         f"name, received {type(data).__name__}")
    if len(data) != len(names):
        raise ValueError(f"{what}: expected {len(names)} arrays (one per {list(names)}); received {len(data)}")
    return list(data)


def _fit_rank(a: np.ndarray, shape: tuple, name: str, kind: str) -> np.ndarray:
    """``a`` as ``(n, *shape)``; like Keras, a missing or extra trailing axis of size 1 is fine."""
    if a.shape[1:] == shape:
        return a
    if a.ndim == len(shape) and shape and shape[-1] == 1 and a.shape[1:] == shape[:-1]:
        return a.reshape(*a.shape, 1)
    if a.ndim == len(shape) + 2 and a.shape[-1] == 1 and a.shape[1:-1] == shape:
        return a.reshape(a.shape[:-1])
    expected = "(n, " + ", ".join(str(d) for d in shape) + ")" if shape else "(n,)"
    if a.ndim != len(shape) + 1:
        raise ValueError(f"{name} must be {len(shape) + 1}-D with shape {expected}; received shape {a.shape}")
    raise ValueError(f"{name} must have shape {expected} (the model's {kind}); received shape {a.shape}")


def _holding(what: str):
    """Run the method with the network held (``_core.Network.hold``): a call from another
    thread, a nested call of the same kind or ``compile`` from a callback raises RuntimeError
    instead of interleaving with it."""
    def decorate(method):
        @functools.wraps(method)
        def run(self, x=None, *args, **kwargs):
            if self._net is None and x is not None and self.compiled:
                self._ensure_built(x)  # a Sequential built from the data: hold it from the start
            if self._net is None:
                return method(self, x, *args, **kwargs)
            self._net.hold(what)
            try:
                return method(self, x, *args, **kwargs)
            finally:
                self._net.release()
        return run
    return decorate


class Trainer:
    """Training, evaluation and inference over ``self._net`` (a ``_core.Network``).

    Subclasses provide ``_graph`` (inputs, outputs, names and shapes), ``_ensure_built(x)``
    and the weight bookkeeping (``_pull_shared``, ``_sync_views``).
    """

    _plain_width = -1  # set once built: the input width when one 2-D float input feeds one 2-D output

    def _init_trainer(self) -> None:
        self.optimizer: Optional[_optimizers.Optimizer] = None
        self.loss = None
        self._compile_config: Optional[CompileConfig] = None
        self._compile_args: Optional[dict] = None
        self.compiled = False
        self.stop_training = False
        self.history: Optional[_callbacks.History] = None

    # -- compile ----------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=None, jit_compile=None, steps_per_execution=None, auto_scale_loss=None) -> None:
        """Configure training: optimizer, loss(es), loss weights, metrics (Keras arguments).

        ``metrics`` ignore ``sample_weight``/``class_weight``; ``weighted_metrics`` use them.
        Several outputs take per-output lists or dicts (see ``dnnx._compile``).
        """
        if self._net is not None:
            self._net.check("compile", "configure")  # not from a callback or while another thread trains
        opt = _optimizers.get(optimizer)
        args = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics, "weighted_metrics": weighted_metrics}
        names = self._graph.output_names if self._net is not None else self._pending_output_names()
        config = CompileConfig(names, **args)  # checks every argument before anything changes
        self._compile_args = args
        self.optimizer = opt
        self.loss = loss
        self.optimizer._model = self
        self.compiled = True
        self._compile_config = None
        if self._net is not None:
            self._configure(config)

    def _configure(self, config: Optional[CompileConfig] = None) -> None:
        """Resolve the compile arguments against the built model and hand them to C++."""
        self._compile_config = config or CompileConfig(self._graph.output_names, **self._compile_args)
        loss, metrics = self._compile_config.core_config(self._output_widths)
        self._net.set_training_config(loss, self.optimizer.spec(), metrics)

    def _resolved_compile(self) -> CompileConfig:
        if self._compile_config is not None:
            return self._compile_config
        return CompileConfig(self._pending_output_names(), **self._compile_args)

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{what}: the model must be compiled first; call model.compile(optimizer=..., "
                               f"loss=...)")

    @property
    def metrics_names(self) -> List[str]:
        """The log keys: ``loss``, per-output losses (several outputs with a loss), metrics."""
        return self._resolved_compile().metrics_names if self.compiled else []

    @property
    def _output_widths(self) -> List[int]:
        return [width(t.shape) for t in self._graph.outputs]

    # -- data ---------------------------------------------------------------------------
    def _inputs(self, x, what: str = "x") -> List[np.ndarray]:
        """One ``(n, width)`` C-contiguous array per input: model dtype, or int64 for ID inputs."""
        if x is None:
            raise ValueError(f"{what} is required")
        self._ensure_built(x)
        layers = self._graph.input_layers
        if type(x) is np.ndarray and x.dtype == self._np_dtype and x.ndim == 2 and x.shape[1] == self._plain_width \
                and x.flags.c_contiguous:
            return [_validation.finite(x, what)]
        names = [l.name for l in layers]
        arrays = []
        for layer, value in zip(layers, _by_name(x, names, what, "inputs", allow_missing=False)):
            name = what if len(layers) == 1 else f"{what}[{layer.name!r}]"
            if isinstance(value, KerasTensor):
                raise TypeError(f"{name} is a symbolic KerasTensor: fit/evaluate/predict take arrays; to apply the "
                                f"model to tensors, call it: model(tensor)")
            if layer.dtype == "string":
                from ._host import string_array
                raw = string_array(value, name)
            else:
                raw = _validation._as_array(value, name)
            a = _fit_rank(raw, layer.shape, name,
                          "input features" if len(layer.shape) == 1 else f"input shape {layer.batch_shape}")
            a = a.reshape(a.shape[0], width(layer.batch_shape))
            if layer.dtype == "string":
                pass
            elif is_int_dtype(layer.dtype):
                a = _validation.ids(a, name, layer.name)
            else:
                a = _validation.finite(np.ascontiguousarray(a, dtype=self._np_dtype), name)
            arrays.append(a)
        rows = {l.name: a.shape[0] for l, a in zip(layers, arrays)}
        if len(set(rows.values())) > 1:
            raise ValueError(f"{what}: all inputs must have the same number of samples; received {rows}")
        return self._graph.network_inputs(arrays, self._np_dtype)

    def _targets(self, y, n: int, what: str = "y") -> List[Optional[np.ndarray]]:
        cfg = self._compile_config
        names = self._graph.output_names
        values = _by_name(y, names, what, "outputs", allow_missing=True)
        out: List[Optional[np.ndarray]] = []
        for o, t, value in zip(cfg.outputs, self._graph.outputs, values):
            name = what if len(names) == 1 else f"{what}[{o.name!r}]"
            if not o.needs_labels:
                out.append(None)
                continue
            if value is None:
                raise ValueError(f"{what}: output {o.name!r} has a loss or metrics but no targets were given")
            a = _validation._as_array(value, name)
            if len(t.shape) > 2 and a.shape[1:] == t.shape[1:]:
                a = a.reshape(a.shape[0], width(t.shape))
            out.append(_validation.finite(_validation.targets(a, self._np_dtype, n, width(t.shape), o.sparse, name), name))
        return out

    def _data(self, x, y, sample_weight=None, what: str = "x"):
        xs = self._inputs(x, what)
        n = xs[0].shape[0]
        ys = self._targets(y, n, "y" if what == "x" else f"{what}_y")
        per_output = isinstance(sample_weight, (list, tuple)) and len(self._graph.outputs) > 1 and any(
            isinstance(v, (np.ndarray, list, tuple)) for v in sample_weight)
        if isinstance(sample_weight, dict) or per_output:
            raise TypeError("sample_weight must be one array of shape (n,) (it weighs every output); per-output "
                            "sample weights are not supported")
        sw = _validation.sample_weights(sample_weight, self._np_dtype, n)
        return xs, ys, sw

    def _core(self, xs, ys=None):
        """Arrays as ``_core`` takes them: a bare array for one input / output, else a list."""
        cx = xs[0] if len(xs) == 1 else xs
        if ys is None:
            return cx
        return cx, (ys[0] if len(ys) == 1 else ys)

    def _class_weight(self, class_weight, ys, sw):
        if class_weight is None:
            return sw
        labelled = [i for i, o in enumerate(self._compile_config.outputs) if o.needs_labels]
        if len(labelled) != 1:
            raise ValueError("class_weight is only supported for models with a single output; use sample_weight")
        i = labelled[0]
        o = self._compile_config.outputs[i]
        cw = _validation.class_weights(class_weight, ys[i], o.sparse, self._output_widths[i], self._np_dtype)
        return cw if sw is None else np.ascontiguousarray(sw * cw)

    # -- training -----------------------------------------------------------------------
    @_holding("fit")
    def fit(self, x=None, y=None, batch_size: Optional[int] = None, epochs: int = 1, verbose="auto",
            callbacks: Optional[Sequence[_callbacks.Callback]] = None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, class_weight: Optional[Dict[int, float]] = None,
            sample_weight=None, initial_epoch: int = 0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size: Optional[int] = None, validation_freq: int = 1) -> _callbacks.History:
        """Train for ``epochs`` epochs; returns a ``History`` (``history.history[key]`` lists).

        Each epoch is one C++ call: shuffle (seeded), gather batches, forward, loss,
        backward, update, metrics. ``validation_split`` holds out the last
        ``n - floor(n * (1 - validation_split))`` samples before shuffling, as Keras does;
        ``class_weight`` weighs the training samples only.
        """
        self._require_compiled("fit")
        if x is None or y is None:
            raise ValueError("fit: x and y are required")
        if steps_per_epoch is not None or validation_steps is not None:
            raise ValueError("fit: steps_per_epoch and validation_steps are for dataset iterators; dnnx trains on "
                             "whole arrays (use batch_size and epochs)")
        batch_size = _DEFAULT_BATCH_SIZE if batch_size is None else _validation.positive_int(batch_size, "batch_size",
                                                                                              "fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer. Received: epochs={epochs!r}")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
            raise ValueError(f"fit: initial_epoch must be a non-negative integer. Received: {initial_epoch!r}")
        if not (0.0 <= float(validation_split) < 1.0):
            raise ValueError(f"fit: validation_split must be in [0, 1). Received: {validation_split!r}")
        validation_freq = _validation.positive_int(validation_freq, "validation_freq", "fit")
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"fit: verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
        xs, ys, sw = self._data(x, y, sample_weight)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                                 "sample_weight_val)")
            vsw = validation_data[2] if len(validation_data) == 3 else None
            val = self._data(validation_data[0], validation_data[1], vsw, what="validation_data")
        elif validation_split > 0:
            n = xs[0].shape[0]
            cut = int(math.floor(n * (1.0 - validation_split)))
            if cut == 0 or cut == n:
                raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                 f"validation set for {n} samples")
            val = ([a[cut:] for a in xs], [None if a is None else a[cut:] for a in ys],
                   None if sw is None else sw[cut:])
            xs, ys = [a[:cut] for a in xs], [None if a is None else a[:cut] for a in ys]
            sw = None if sw is None else sw[:cut]
        sw = self._class_weight(class_weight, ys, sw)
        if xs[0].shape[0] == 0:
            raise ValueError("fit: x is empty")
        steps = math.ceil(xs[0].shape[0] / batch_size)
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

        cx, cy = self._core(xs, ys)
        self.stop_training = False
        cblist.on_train_begin()
        logs: Dict[str, float] = {}
        for epoch in range(int(initial_epoch), int(epochs)):
            cblist.on_epoch_begin(epoch)
            if batch_hooks:
                cblist.on_train_batch_begin(0)
            lrs = self.optimizer.learning_rates(self._net.iterations, steps)
            self._pull_shared()  # callbacks may have used other models that share layers with this one
            self._sync_views()
            logs = dict(self._net.train_epoch(cx, cy, sw, batch_size, bool(shuffle), epoch, lrs,
                                                    on_batch if batch_hooks else None, every))
            if val is not None and (epoch + 1) % validation_freq == 0:
                vx, vy = self._core(val[0], val[1])
                vlogs = dict(self._net.evaluate(vx, vy, val[2], validation_batch_size or batch_size))
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            cblist.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cblist.on_train_end(logs)
        return history

    def evaluate(self, x=None, y=None, batch_size: Optional[int] = None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict: bool = False):
        """Loss and metrics on ``(x, y)``: a scalar, a list (``metrics_names`` order), or a dict."""
        self._require_compiled("evaluate")
        batch_size = _DEFAULT_BATCH_SIZE if batch_size is None else _validation.positive_int(batch_size, "batch_size",
                                                                                              "evaluate")
        xs, ys, sw = self._data(x, y, sample_weight)
        if xs[0].shape[0] == 0:
            raise ValueError("evaluate: x is empty")
        self._pull_shared()
        self._sync_views()
        cx, cy = self._core(xs, ys)
        return self._pack(dict(self._net.evaluate(cx, cy, sw, batch_size)), return_dict)

    def predict(self, x, batch_size: Optional[int] = None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x``: an ndarray of the model dtype (a list of them for several outputs)."""
        if (batch_size is None and type(x) is np.ndarray and x.dtype == self._np_dtype and x.ndim == 2
                and x.shape[1] == self._plain_width and x.flags.c_contiguous and not self._shared
                and not self._live_views and not _validation.checks_finite()):
            return self._net.predict(x, 0)  # one float input and output, 2-D: small predicts are all overhead
        xs = self._inputs(x)
        bs = 0 if batch_size is None else _validation.positive_int(batch_size, "batch_size", "predict")
        self._pull_shared()
        self._sync_views()
        return self._shape_outputs(self._net.predict(self._core(xs), bs))

    def _shape_outputs(self, out):
        outs = out if isinstance(out, list) else [out]
        shaped = [o.reshape(o.shape[0], *t.shape[1:]) if len(t.shape) > 2 else o
                  for o, t in zip(outs, self._graph.outputs)]
        return shaped if len(shaped) > 1 else shaped[0]

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One optimizer step on exactly this batch; returns the batch loss (and metrics)."""
        self._require_compiled("train_on_batch")
        xs, ys, sw = self._data(x, y, sample_weight)
        sw = self._class_weight(class_weight, ys, sw)
        lr = float(self.optimizer.learning_rates(self._net.iterations, 1)[0])
        self._pull_shared()
        self._sync_views()
        cx, cy = self._core(xs, ys)
        return self._pack(dict(self._net.train_batch(cx, cy, sw, lr)), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        xs, ys, sw = self._data(x, y, sample_weight)
        self._pull_shared()
        self._sync_views()
        cx, cy = self._core(xs, ys)
        return self._pack(dict(self._net.evaluate(cx, cy, sw, max(1, xs[0].shape[0]))), return_dict)

    def predict_on_batch(self, x):
        xs = self._inputs(x)
        self._pull_shared()
        self._sync_views()
        return self._shape_outputs(self._net.predict(self._core(xs), 0))

    def _pack(self, logs, return_dict):
        if return_dict:
            return logs
        vals = [logs[k] for k in self.metrics_names]
        return vals[0] if len(vals) == 1 else vals

    def compute_gradients(self, x, y, sample_weight=None):
        """``(loss, grads)``: the compiled objective (weighted sum of the output losses +
        regularization) and its gradient with respect to every weight, in ``get_weights()``
        order (copies). Frozen layers' gradients are zero."""
        self._require_compiled("compute_gradients")
        xs, ys, sw = self._data(x, y, sample_weight)
        self._pull_shared()
        self._sync_views()
        cx, cy = self._core(xs, ys)
        loss = self._net.compute_gradients(cx, cy, sw)
        return float(loss), [g.copy() for g in self._net.grads()]
