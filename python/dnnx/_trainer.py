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

from . import _batches, _validation
from . import callbacks as _callbacks
from . import optimizers as _optimizers
from ._compile import CompileConfig
from ._layer import KerasTensor, is_int_dtype, width
from .distributed import _training as _distributed

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


def _shaped(out: np.ndarray, t) -> np.ndarray:
    """A core output (n, width) in the per-sample shape of graph output ``t``."""
    return out if len(t.shape) == 2 else out.reshape(out.shape[0], *t.shape[1:])


def _holding(what: str):
    """Run the method with the network held (``_core.Network.hold``): a call from another
    thread, a nested call of the same kind or ``compile`` from a callback raises RuntimeError
    instead of interleaving with it."""
    def decorate(method):
        @functools.wraps(method)
        def run(self, x=None, *args, **kwargs):
            if self._net is None and x is not None and self.compiled and not _batches.is_batch_source(x):
                self._ensure_built(x)  # a Sequential built from the data: hold it from the start
            if self._net is None:
                return method(self, x, *args, **kwargs)
            net = self._net  # a custom loss traced again for new target shapes replaces self._net
            net.hold(what)
            try:
                return method(self, x, *args, **kwargs)
            finally:
                net.release()
        return run
    return decorate


def _verbose(verbose, what: str) -> int:
    if verbose == "auto":
        return 1  # Keras: "auto" is 1 for fit, evaluate and predict
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"{what}: verbose must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return int(verbose)


def _steps(value, name: str, what: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what}: {name} must be None or a positive integer. Received: {name}={value!r}")
    return int(value)


def _no_arrays_args(what: str, x, **given) -> None:
    """Keras: a generator, iterable or PyDataset carries its own targets and weights."""
    for name, value in given.items():
        if value is not None:
            raise ValueError(f"{what}: {name} is not supported when x is a {type(x).__name__} (a generator, an "
                             f"iterable of batches or a PyDataset): its batches carry (x, y, sample_weight)")


class _Prepared:
    """A batch already converted for the core (from arrays given with ``steps``)."""

    __slots__ = ("xs", "ys", "sw")

    def __init__(self, xs, ys, sw):
        self.xs, self.ys, self.sw = xs, ys, sw


class _ArrayBatches:
    """Converted arrays as a sized, re-iterable source of batches (arrays given with
    ``steps_per_epoch``/``steps``/``validation_steps``, or with test/predict batch hooks);
    ``shuffle`` draws a new order every pass from ``seed``."""

    def __init__(self, xs, ys, sw, batch_size: int, shuffle: bool = False, seed: int = 0):
        self.xs, self.ys, self.sw, self.bs = xs, ys, sw, batch_size
        self.n = xs[0].shape[0]
        self.shuffle, self.seed, self._passes = shuffle, seed, 0

    def __len__(self) -> int:
        return math.ceil(self.n / self.bs)

    def __iter__(self):
        self._passes += 1
        order = np.random.default_rng([self.seed, self._passes]).permutation(self.n) if self.shuffle else None
        for i0 in range(0, self.n, self.bs):
            rows = slice(i0, i0 + self.bs) if order is None else order[i0:i0 + self.bs]
            take = (lambda a: a[rows]) if order is None else (lambda a: np.ascontiguousarray(a[rows]))
            yield _Prepared([take(a) for a in self.xs], None if self.ys is None else
                            [None if a is None else take(a) for a in self.ys],
                            None if self.sw is None else take(self.sw))


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
        names = self._graph.output_names if self._net is not None else self._pending_output_names(args)
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
        self._update_loss_plan()
        loss, metrics = self._compile_config.core_config(self._output_widths)
        plan = getattr(self, "_loss_plan", None)
        if plan is not None:  # custom losses and add_loss terms: extra outputs with a "value" loss
            if not self._compile_config.multi:
                loss, metrics = [loss], [metrics]
            loss = list(loss) + list(plan.specs)
            metrics = list(metrics) + [[] for _ in plan.specs]
            if all(l is None for l in loss[:len(self._graph.outputs)]) and len(loss) == 1:
                loss = loss[0]
        self._net.set_training_config(loss, self.optimizer.spec(), metrics)

    def _update_loss_plan(self) -> None:
        """Models with a graph (functional, Sequential) trace custom losses and add_loss
        terms into it; the plain trainer has none."""

    def _resolved_compile(self) -> CompileConfig:
        if self._compile_config is not None:
            return self._compile_config
        return CompileConfig(self._pending_output_names(), **self._compile_args)

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{what}: the model must be compiled first; call model.compile(optimizer=..., "
                               f"loss=...)")

    def _python_metrics(self):
        """The compiled custom metrics (``_py_metrics``); falsy when there are none."""
        from ._py_metrics import PythonMetrics
        pm = PythonMetrics(self._compile_config)
        if pm and _distributed.active():
            raise ValueError("custom Metric subclasses are not supported in distributed training (their state "
                             "lives in one process); use dnnx's built-in metrics")
        return pm

    def _with_python_metrics(self, logs: Dict[str, float], pm) -> Dict[str, float]:
        from ._py_metrics import ordered
        return ordered({**logs, **pm.results()}, self.metrics_names)

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
            if o.loss is not None and o.loss.traced and not o.metrics:
                from ._loss_terms import target_array
                raw = _validation._as_array(value, name)
                self._note_target_shape(o.name, tuple(raw.shape[1:]))
                out.append(target_array(raw, n, self._np_dtype, name))
                continue
            a = _validation._as_array(value, name)
            if o.loss is not None and o.loss.traced:
                self._note_target_shape(o.name, tuple(a.shape[1:]))
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
        """Arrays as ``_core`` takes them: a bare array for one input / output, else a list.
        With custom losses or add_loss terms (dnnx._loss_terms) the targets of each custom
        loss are also network inputs (zeros for predict), and the loss terms are outputs
        without labels."""
        plan = getattr(self, "_loss_plan", None)
        if plan is not None:
            n = xs[0].shape[0]
            if ys is None:
                extra = [np.zeros((n, w), dtype=self._np_dtype) for _, w in plan.label_inputs()]
            else:
                extra = [ys[o] for o, _ in plan.label_inputs()]
            xs = list(xs) + extra
            if ys is not None:
                cfg = self._compile_config
                ys = [None if o.loss is not None and o.loss.traced and not o.metrics else y
                      for o, y in zip(cfg.outputs, ys)] + [None] * len(plan.specs)
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
        self.__dict__.pop("_call_losses", None)  # model.losses: only a direct model(x) call leaves its add_loss values
        self._require_compiled("fit")
        stream = _batches.is_batch_source(x)
        if x is None or y is None and not stream:
            raise ValueError("fit: x and y are required")
        if stream:
            _no_arrays_args("fit", x, y=y, sample_weight=sample_weight)
            if validation_split:
                raise ValueError(f"fit: validation_split is only supported for arrays; x is a "
                                 f"{type(x).__name__} (pass validation_data)")
        steps_per_epoch = _steps(steps_per_epoch, "steps_per_epoch", "fit")
        validation_steps = _steps(validation_steps, "validation_steps", "fit")
        batch_size = _DEFAULT_BATCH_SIZE if batch_size is None else _validation.positive_int(batch_size, "batch_size",
                                                                                              "fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer. Received: epochs={epochs!r}")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
            raise ValueError(f"fit: initial_epoch must be a non-negative integer. Received: {initial_epoch!r}")
        if not (0.0 <= float(validation_split) < 1.0):
            raise ValueError(f"fit: validation_split must be in [0, 1). Received: {validation_split!r}")
        validation_freq = _validation.positive_int(validation_freq, "validation_freq", "fit")
        verbose = _verbose(verbose, "fit")
        if stream or steps_per_epoch is not None or validation_steps is not None or (
                validation_data is not None and _batches.is_batch_source(validation_data)):
            if _distributed.active():
                raise ValueError("fit: after dnnx.distributed.init(), fit takes this rank's shard as arrays (x, y, "
                                 "validation_data); generators, iterables, PyDatasets and steps_per_epoch / "
                                 "validation_steps are not supported in distributed mode")
            return self._fit_batches(x, y, sample_weight, batch_size, epochs, verbose, callbacks, validation_split,
                                     validation_data, shuffle, class_weight, initial_epoch, steps_per_epoch,
                                     validation_steps, validation_batch_size, validation_freq)
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
        # After dnnx.distributed.init(): data-parallel training with the other ranks (None: alone).
        dist = _distributed.fit_session(self, xs[0].shape[0], None if val is None else val[0][0].shape[0], batch_size,
                                        {"batch_size": batch_size, "epochs": int(epochs), "shuffle": bool(shuffle),
                                         "initial_epoch": int(initial_epoch), "validation_freq": validation_freq,
                                         "validation_batch_size": validation_batch_size})
        if dist is None and xs[0].shape[0] == 0:
            raise ValueError("fit: x is empty")
        steps = dist.steps if dist else math.ceil(xs[0].shape[0] / batch_size)
        history = _callbacks.History()
        if dist:
            verbose, callbacks = dist.verbose(verbose), dist.callbacks(list(callbacks or []))  # rank 0 prints/writes
        cblist = self._callback_list("fit", callbacks, verbose, {"epochs": epochs, "steps": steps,
                                                                 "batch_size": batch_size}, history)
        batch_hooks = cblist.wants_batch_hooks
        every = 1
        if batch_hooks and not any(c.wants_batch_hooks for c in cblist.callbacks
                                   if not isinstance(c, _callbacks.ProgbarLogger)):
            every = max(1, steps // 100)  # progress bar only: ~100 updates per epoch are plenty

        pm = self._python_metrics()
        record = {"epoch": None, "ran": steps}  # custom metrics: this epoch's recorded outputs (_py_metrics)

        def on_batch(batch: int, logs: Dict[str, float]) -> bool:
            rec = record["epoch"]
            if rec is not None:
                rec.replay(batch + 1, ys, sw)
                logs = self._with_python_metrics(logs, pm)
            cblist.on_train_batch_end(batch, dict(logs))
            if batch + 1 < steps:
                cblist.on_train_batch_begin(batch + 1)
            if self.stop_training:
                record["ran"] = batch + 1
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
            train_epoch = dist.train_epoch if dist else self._net.train_epoch
            if pm:
                from ._py_metrics import EpochRecord
                pm.reset()
                rec = record["epoch"] = EpochRecord(pm, xs[0].shape[0], self._output_widths, self._np_dtype,
                                                    batch_size)
                record["ran"] = steps
                logs = dict(train_epoch(cx, cy, sw, batch_size, bool(shuffle), epoch, lrs,
                                        on_batch if batch_hooks else None, every, record_outputs=rec.outputs,
                                        record_rows=rec.rows))
                rec.replay(record["ran"], ys, sw)
                logs = self._with_python_metrics(logs, pm)
            else:
                logs = dict(train_epoch(cx, cy, sw, batch_size, bool(shuffle), epoch, lrs,
                                        on_batch if batch_hooks else None, every))
            if val is not None and (epoch + 1) % validation_freq == 0:
                vlogs = self._evaluate_arrays(val[0], val[1], val[2], validation_batch_size or batch_size, cblist)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            cblist.on_epoch_end(epoch, logs)
            if dist:
                self.stop_training = dist.end_epoch(self.stop_training)  # the same decision on every rank
            if self.stop_training:
                break
        cblist.on_train_end(logs)
        if dist:
            dist.close()
        return history

    def evaluate(self, x=None, y=None, batch_size: Optional[int] = None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict: bool = False):
        """Loss and metrics on ``(x, y)`` (arrays, or batches from a generator, an iterable or
        a PyDataset): a scalar, a list (``metrics_names`` order), or a dict. ``callbacks``
        get the test hooks; ``verbose`` 1 or 2 prints Keras's progress line."""
        self.__dict__.pop("_call_losses", None)
        self._require_compiled("evaluate")
        verbose = _distributed.verbose(_verbose(verbose, "evaluate"))  # distributed: rank 0 shows progress
        steps = _steps(steps, "steps", "evaluate")
        batch_size = _DEFAULT_BATCH_SIZE if batch_size is None else _validation.positive_int(batch_size, "batch_size",
                                                                                              "evaluate")
        if _batches.is_batch_source(x):
            _no_arrays_args("evaluate", x, y=y, sample_weight=sample_weight)
            stream = _batches.BatchStream(x, steps, "evaluate")
        else:
            xs, ys, sw = self._data(x, y, sample_weight)
            if xs[0].shape[0] == 0 and not _distributed.active():  # distributed: the other ranks' rows count
                raise ValueError("evaluate: x is empty")
            stream = None
            if steps is not None:
                stream = _batches.BatchStream(_ArrayBatches(xs, ys, sw, batch_size), steps, "evaluate")
        hint = stream.steps_hint if stream is not None else math.ceil(xs[0].shape[0] / batch_size)
        cblist = self._callback_list("evaluate", callbacks, verbose, {"steps": hint})
        if stream is None:
            logs = self._evaluate_arrays(xs, ys, sw, batch_size, cblist)
        else:
            logs = self._evaluate_stream(stream, cblist, verbose == 1)
        return self._pack(logs, return_dict)

    def _evaluate_arrays(self, xs, ys, sw, batch_size: int, cblist) -> Dict[str, float]:
        """Converted arrays: one C++ call, or batch by batch when a callback wants the test
        batch hooks."""
        if cblist.wants_test_batch_hooks and not _distributed.active():  # distributed: merged, no batch hooks
            return self._evaluate_stream(_batches.BatchStream(_ArrayBatches(xs, ys, sw, batch_size), None,
                                                              "evaluate"), cblist, True)
        cblist.on_test_begin()
        self._pull_shared()
        self._sync_views()
        cx, cy = self._core(xs, ys)
        logs = _distributed.evaluate(self, cx, cy, sw, batch_size, xs[0].shape[0])  # merged over ranks
        if logs is None:
            logs = dict(self._net.evaluate(cx, cy, sw, batch_size))
        pm = self._python_metrics()
        if pm:  # custom metrics: one inference pass, fed to them batch by batch
            from ._py_metrics import replay_predictions
            out = self._net.predict(cx, batch_size)
            pm.reset()
            replay_predictions(pm, out if isinstance(out, list) else [out], ys, sw, batch_size)
            logs = self._with_python_metrics(logs, pm)
        cblist.on_test_end(logs)
        return logs

    def _evaluate_stream(self, stream, cblist, hooks: bool) -> Dict[str, float]:
        """One C++ evaluate per batch, accumulated into the running logs."""
        hooks = hooks or cblist.wants_test_batch_hooks
        cblist.on_test_begin()
        self._pull_shared()
        self._sync_views()
        logs = None
        batches = stream.epoch()
        pm = None
        try:
            for step, batch in enumerate(batches):
                if hooks:
                    cblist.on_test_batch_begin(step)
                cx, cy, sw, n = self._batch_arrays(batch, None, stream.what)
                if step == 0:
                    self._net.reset_running()  # after the first batch has built the model, if need be
                    pm = self._python_metrics()
                    if pm:
                        pm.reset()
                logs = self._net.evaluate(cx, cy, sw, max(1, n), True)
                if pm:
                    out = self._net.predict(cx, 0)
                    pm.update(cy if isinstance(cy, list) else [cy], out if isinstance(out, list) else [out], sw)
                    logs = self._with_python_metrics(dict(logs), pm)
                if hooks:
                    cblist.on_test_batch_end(step, dict(logs))
        finally:
            batches.close()
        if logs is None:
            raise ValueError(f"{stream.what}: the data gave no batches")
        logs = dict(logs)
        cblist.on_test_end(logs)
        return logs

    def predict(self, x, batch_size: Optional[int] = None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` (arrays, or batches from a generator, an iterable or a
        PyDataset): an ndarray of the model dtype (a list of them for several outputs).
        ``callbacks`` get the predict hooks; ``verbose`` 1 or 2 prints Keras's progress line."""
        self.__dict__.pop("_call_losses", None)
        if (batch_size is None and steps is None and not callbacks and verbose == 0 and type(x) is np.ndarray
                and x.dtype == self._np_dtype and x.ndim == 2 and x.shape[1] == self._plain_width
                and x.flags.c_contiguous and not self._shared and not self._live_views
                and not _validation.checks_finite()):
            return self._net.predict(x, 0)  # one float input and output, 2-D: small predicts are all overhead
        verbose = _distributed.verbose(_verbose(verbose, "predict"))  # distributed: rank 0 shows progress
        if batch_size is not None:
            _validation.positive_int(batch_size, "batch_size", "predict")  # before any use of it
        steps = _steps(steps, "steps", "predict")
        if _batches.is_batch_source(x):
            stream = _batches.BatchStream(x, steps, "predict")
        else:
            xs = self._inputs(x)
            stream = None
            if steps is not None or callbacks and any(getattr(c, "wants_predict_batch_hooks", False)
                                                      for c in callbacks):
                bs = _DEFAULT_BATCH_SIZE if batch_size is None else _validation.positive_int(batch_size,
                                                                                             "batch_size", "predict")
                stream = _batches.BatchStream(_ArrayBatches(xs, None, None, bs), steps, "predict")
        if stream is not None:
            hint = stream.steps_hint
        else:
            hint = math.ceil(xs[0].shape[0] / (batch_size or _DEFAULT_BATCH_SIZE)) if xs[0].shape[0] else 0
        cblist = self._callback_list("predict", callbacks, verbose, {"steps": hint})
        if stream is not None:
            return self._predict_stream(stream, cblist, verbose == 1)
        bs = 0 if batch_size is None else _validation.positive_int(batch_size, "batch_size", "predict")
        cblist.on_predict_begin()
        self._pull_shared()
        self._sync_views()
        out = self._shape_outputs(self._net.predict(self._core(xs), bs))
        cblist.on_predict_end()
        return out

    def _predict_stream(self, stream, cblist, hooks: bool):
        hooks = hooks or cblist.wants_predict_batch_hooks
        cblist.on_predict_begin()
        self._pull_shared()
        self._sync_views()
        outs = []
        batches = stream.epoch()
        try:
            for step, batch in enumerate(batches):
                if hooks:
                    cblist.on_predict_batch_begin(step)
                if isinstance(batch, _Prepared):
                    xs = batch.xs
                else:
                    xb, _, _ = _batches.unpack(batch, stream.what)
                    xs = self._inputs(_batches.to_numpy(xb), f"{stream.what}: batch {step}: x")
                out = self._shape_outputs(self._net.predict(self._core(xs), 0))
                outs.append(out if isinstance(out, list) else [out])
                if hooks:
                    cblist.on_predict_batch_end(step, {"outputs": out})
        finally:
            batches.close()
        if not outs:
            raise ValueError(f"{stream.what}: the data gave no batches")
        cblist.on_predict_end()
        joined = [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
        return joined if len(joined) > 1 else joined[0]

    # -- batch by batch (generators, iterables, PyDataset, steps) ---------------------------
    def _callback_list(self, what: str, callbacks, verbose: int, params: dict, history=None):
        cbs = list(callbacks or [])
        for c in cbs:
            if not isinstance(c, _callbacks.Callback):
                raise TypeError(f"{what}: callbacks must be dnnx.callbacks.Callback instances; received {c!r}")
        if verbose:
            cbs.append(_callbacks.ProgbarLogger(verbose))
        if history is not None:
            cbs.append(history)
        return _callbacks.CallbackList(cbs, self, dict(params, verbose=verbose))

    def _batch_arrays(self, batch, class_weight, what: str):
        """``(x, y, sample_weight, rows)`` of one batch, as ``_core`` takes them."""
        if isinstance(batch, _Prepared):
            xs, ys, sw = batch.xs, batch.ys, batch.sw
        else:
            xb, yb, swb = _batches.unpack(batch, what)
            xs, ys, sw = self._data(_batches.to_numpy(xb), _batches.to_numpy(yb), _batches.to_numpy(swb))
            if xs[0].shape[0] == 0:
                raise ValueError(f"{what}: a batch is empty")
        if class_weight is not None:
            sw = self._class_weight(class_weight, ys, sw)
        cx, cy = self._core(xs, ys)
        return cx, cy, sw, xs[0].shape[0]

    def _step_lr(self) -> float:
        from .optimizers.schedules import LearningRateSchedule
        lr = self.optimizer._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(self.optimizer.learning_rates(self._net.iterations, 1)[0])
        return float(lr)

    def _fit_batches(self, x, y, sample_weight, batch_size, epochs, verbose, callbacks, validation_split,
                     validation_data, shuffle, class_weight, initial_epoch, steps_per_epoch, validation_steps,
                     validation_batch_size, validation_freq) -> _callbacks.History:
        """``fit`` one C++ step per batch: a generator, an iterable, a PyDataset, or arrays
        with ``steps_per_epoch`` (each step's logs are the running epoch means, as
        ``train_epoch`` reports them)."""
        seed = getattr(self, "_seed", 0) or 0
        if _batches.is_batch_source(x):
            train = _batches.BatchStream(x, steps_per_epoch, "fit", shuffle, seed)
        else:
            xs, ys, sw = self._data(x, y, sample_weight)
            if validation_split > 0:
                n = xs[0].shape[0]
                cut = int(math.floor(n * (1.0 - validation_split)))
                if cut == 0 or cut == n:
                    raise ValueError(f"fit: validation_split={validation_split} leaves an empty training or "
                                     f"validation set for {n} samples")
                validation_data = _Prepared([a[cut:] for a in xs], [None if a is None else a[cut:] for a in ys],
                                            None if sw is None else sw[cut:])
                xs, ys = [a[:cut] for a in xs], [None if a is None else a[:cut] for a in ys]
                sw = None if sw is None else sw[:cut]
            sw = self._class_weight(class_weight, ys, sw)
            class_weight = None
            if xs[0].shape[0] == 0:
                raise ValueError("fit: x is empty")
            train = _batches.BatchStream(_ArrayBatches(xs, ys, sw, batch_size, bool(shuffle), seed),
                                         steps_per_epoch, "fit")
        val = self._validation_stream(validation_data, validation_steps, validation_batch_size or batch_size)
        history = _callbacks.History()
        cblist = self._callback_list("fit", callbacks, verbose, {"epochs": epochs, "steps": train.steps_hint},
                                     history)
        hooks = cblist.wants_batch_hooks
        self.stop_training = False
        cblist.on_train_begin()
        logs: Dict[str, float] = {}
        for epoch in range(int(initial_epoch), int(epochs)):
            cblist.on_epoch_begin(epoch)
            self._pull_shared()
            self._sync_views()
            step_logs = None
            batches = train.epoch()
            pm = None
            try:
                for step, batch in enumerate(batches):
                    if hooks:
                        cblist.on_train_batch_begin(step)
                    cx, cy, sw, n = self._batch_arrays(batch, class_weight, "fit")
                    if step == 0:
                        self._net.reset_running()  # after the first batch has built the model, if need be
                        pm = self._python_metrics()
                        if pm:
                            pm.reset()
                    if pm:  # custom metrics see this step's outputs (_py_metrics)
                        outs = [np.empty((n, w), self._np_dtype) for w in self._output_widths]
                        step_logs = self._net.train_batch(cx, cy, sw, self._step_lr(), True, record_outputs=outs)
                        pm.update(cy if isinstance(cy, list) else [cy], outs, sw)
                        step_logs = self._with_python_metrics(dict(step_logs), pm)
                    else:
                        step_logs = self._net.train_batch(cx, cy, sw, self._step_lr(), True)
                    if hooks:
                        cblist.on_train_batch_end(step, dict(step_logs))
                    if self.stop_training:
                        break
            finally:
                batches.close()
            if step_logs is None:  # nothing left to train on (an exhausted generator)
                if not train.ran_out:
                    import warnings
                    warnings.warn(_batches.RAN_OUT, UserWarning, stacklevel=3)
                break
            logs = dict(step_logs)
            if val is not None and (epoch + 1) % validation_freq == 0:
                vlogs = self._evaluate_stream(val, cblist, False)
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            cblist.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        train.close()
        cblist.on_train_end(logs)
        return history

    def _validation_stream(self, validation_data, steps, batch_size):
        """A stream kept for the whole ``fit`` (Keras caches its validation iterator)."""
        if validation_data is None:
            return None
        if isinstance(validation_data, _Prepared):
            v = validation_data
            return _batches.BatchStream(_ArrayBatches(v.xs, v.ys, v.sw, batch_size), steps, "validation_data")
        if _batches.is_batch_source(validation_data):
            return _batches.BatchStream(validation_data, steps, "validation_data")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                             "sample_weight_val), a generator, an iterable of batches or a PyDataset")
        vsw = validation_data[2] if len(validation_data) == 3 else None
        vx, vy, vw = self._data(validation_data[0], validation_data[1], vsw, what="validation_data")
        return _batches.BatchStream(_ArrayBatches(vx, vy, vw, batch_size), steps, "validation_data")

    def _note_target_shape(self, name: str, shape: tuple) -> None:
        """A custom loss was traced for targets of another per-sample shape: trace it again."""

    def _shape_outputs(self, out):
        touts = self._graph.outputs
        if not isinstance(out, list):  # one network output: no list per call (1-sample predict pays for each step)
            return _shaped(out, touts[0])
        shaped = [_shaped(o, t) for o, t in zip(out, touts)]  # zip drops loss terms (dnnx._loss_terms): not predictions
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
        pm = self._python_metrics()
        if not pm:
            return self._pack(dict(self._net.train_batch(cx, cy, sw, lr)), return_dict)
        outs = [np.empty((xs[0].shape[0], w), self._np_dtype) for w in self._output_widths]
        logs = dict(self._net.train_batch(cx, cy, sw, lr, record_outputs=outs))
        pm.reset()  # Keras: train_on_batch resets the metrics first
        pm.update(ys, outs, sw)
        return self._pack(self._with_python_metrics(logs, pm), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        self._require_compiled("test_on_batch")
        xs, ys, sw = self._data(x, y, sample_weight)
        self._pull_shared()
        self._sync_views()
        cx, cy = self._core(xs, ys)
        logs = dict(self._net.evaluate(cx, cy, sw, max(1, xs[0].shape[0])))
        pm = self._python_metrics()
        if pm:
            out = self._net.predict(cx, 0)
            pm.reset()
            pm.update(ys, out if isinstance(out, list) else [out], sw)
            logs = self._with_python_metrics(logs, pm)
        return self._pack(logs, return_dict)

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
