"""Callbacks: Keras hook names, each receiving a ``logs`` dict (``{}`` for the begin hooks).

Per-batch hooks cost a return to Python; ``fit`` only asks C++ for them when some callback
overrides ``on_train_batch_begin``/``on_train_batch_end`` (or a progress bar is shown), and
``evaluate``/``predict`` only run batch by batch when a callback overrides their batch hooks.
"""

from __future__ import annotations

import csv
import math
import os
import sys
import time
from typing import Callable, Dict, List, Optional

import numpy as np


class Callback:
    """Base class. Override any hook; ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None
        self.params: Dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: Dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass

    def _overrides(self, *hooks: str) -> bool:
        cls = type(self)
        return any(getattr(cls, h) is not getattr(Callback, h) for h in hooks)

    @property
    def wants_batch_hooks(self) -> bool:
        return self._overrides("on_train_batch_begin", "on_train_batch_end")

    @property
    def wants_test_batch_hooks(self) -> bool:
        return self._overrides("on_test_batch_begin", "on_test_batch_end")

    @property
    def wants_predict_batch_hooks(self) -> bool:
        return self._overrides("on_predict_batch_begin", "on_predict_batch_end")


class CallbackList:
    def __init__(self, callbacks: List[Callback], model, params: Dict):
        self.callbacks = list(callbacks)
        for c in self.callbacks:
            c.set_model(model)
            c.set_params(params)

    @property
    def wants_batch_hooks(self) -> bool:
        return any(c.wants_batch_hooks for c in self.callbacks)

    @property
    def wants_test_batch_hooks(self) -> bool:
        return any(c.wants_test_batch_hooks for c in self.callbacks)

    @property
    def wants_predict_batch_hooks(self) -> bool:
        return any(c.wants_predict_batch_hooks for c in self.callbacks)

    def __getattr__(self, hook: str):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        indexed = hook.startswith("on_epoch_") or "_batch_" in hook  # (epoch | batch, logs)

        def call(*args, logs=None):
            if len(args) > int(indexed):
                *args, logs = args
            logs = {} if logs is None else logs  # Keras: the hooks always get a dict
            for c in self.callbacks:
                getattr(c, hook)(*args, logs=logs)
        return call


class History(Callback):
    """Records every epoch's logs in ``history`` (a dict of lists) and ``epoch``."""

    def __init__(self):
        super().__init__()
        self.history: Dict[str, List[float]] = {}
        self.epoch: List[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self


def _monitor_op(mode: str, monitor: str, owner: str):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"{owner}: mode must be 'auto', 'min' or 'max'. Received: mode={mode!r}")
    if mode == "auto":
        mode = "max" if any(s in monitor for s in ("acc", "auc", "precision", "recall")) else "min"
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the weights of the best epoch are put back when
    training ends, whether or not it stopped early (Keras 3)."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: Optional[float] = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.verbose = verbose
        self.mode = _monitor_op(mode, monitor, "EarlyStopping")
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.stopped_epoch = 0
        self.best_epoch = 0

    def _better(self, cur, ref) -> bool:
        if self.mode == "min":
            return cur < ref - self.min_delta
        return cur > ref + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        cur = (logs or {}).get(self.monitor)
        if cur is None:
            import warnings
            warnings.warn(f"EarlyStopping: monitor '{self.monitor}' is not in logs "
                          f"(available: {', '.join(sorted(logs or {}))})", RuntimeWarning, stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # never set yet: the current weights are the best
            self.best_epoch = epoch
        self.wait += 1
        if self._better(cur, self.best):
            self.best = cur
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(cur, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            # As Keras 3: at the end of training, whether or not it stopped early.
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after each epoch; ``filepath`` may use ``{epoch}``
    and log keys, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.dnnx"``."""

    def __init__(self, filepath: str, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto"):
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = _monitor_op(mode, monitor, "ModelCheckpoint")
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            cur = logs.get(self.monitor)
            if cur is None:
                import warnings
                warnings.warn(f"ModelCheckpoint: monitor '{self.monitor}' is not in logs; skipping",
                              RuntimeWarning, stacklevel=2)
                return
            improved = cur < self.best if self.mode == "min" else cur > self.best
            if not improved:
                return
            if self.verbose > 0:
                print(f"Epoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {cur:.5f}, "
                      f"saving model to {path}")
            self.best = cur
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """At each epoch start: ``lr = schedule(epoch, lr)`` (or ``schedule(epoch)``)."""

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(opt.learning_rate))
        except TypeError:
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating)) or isinstance(lr, bool):
            raise ValueError(f"LearningRateScheduler: the schedule must return a float. Received: {lr!r}")
        opt.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be < 1. Received: factor={factor}")
        self.monitor, self.factor, self.patience = monitor, float(factor), int(patience)
        self.verbose, self.min_delta, self.cooldown, self.min_lr = verbose, min_delta, cooldown, min_lr
        self.mode = _monitor_op(mode, monitor, "ReduceLROnPlateau")

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(self.model.optimizer.learning_rate)
        cur = logs.get(self.monitor)
        if cur is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        better = cur < self.best - self.min_delta if self.mode == "min" else cur > self.best + self.min_delta
        if better:
            self.best = cur
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(self.model.optimizer.learning_rate)
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Stream epoch results to a CSV file (``epoch`` plus every log key)."""

    def __init__(self, filename: str, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self._file = None
        self._writer = None
        self._keys: Optional[List[str]] = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._keys = None
        self._has_header = exists

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self._keys, delimiter=self.sep)
            if not self._has_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update({k: logs.get(k, "NA") for k in self._keys})
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


class LambdaCallback(Callback):
    """Build a callback from plain functions: ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None):
        super().__init__()
        for name, fn in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                         ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                         ("on_train_batch_begin", on_train_batch_begin),
                         ("on_train_batch_end", on_train_batch_end)):
            if fn is not None:
                setattr(self, name, fn)
        self._batch = on_train_batch_begin is not None or on_train_batch_end is not None

    @property
    def wants_batch_hooks(self) -> bool:
        return self._batch


class ProgbarLogger(Callback):
    """Keras-style progress: fit shows a live tqdm bar per epoch (verbose=1) or Keras's one
    line per epoch (verbose=2); evaluate and predict print Keras's progress line."""

    def __init__(self, verbose: int = 1):
        super().__init__()
        self.verbose = verbose
        self._bar = None
        self._line: Optional[Progbar] = None
        self._in_fit = False

    @property
    def wants_batch_hooks(self) -> bool:
        return self.verbose == 1

    @property
    def wants_test_batch_hooks(self) -> bool:
        return self.verbose == 1

    wants_predict_batch_hooks = wants_test_batch_hooks

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        epochs = self.params.get("epochs", 0)
        steps = self.params.get("steps")
        print(f"Epoch {epoch + 1}/{epochs}")
        self._seen = 0
        if self.verbose == 1:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=steps, unit="step", leave=True, dynamic_ncols=True,
                             bar_format="{n_fmt}/{total_fmt} {bar} {elapsed} {rate_fmt}{postfix}")
        else:
            self._line = Progbar(steps, self.verbose)

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(batch + 1 - self._seen)
            if logs:
                self._bar.set_postfix_str(_fmt(logs), refresh=False)
        self._seen = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None:
            self._bar.set_postfix_str(_fmt(logs or {}), refresh=False)
            self._bar.close()
            self._bar = None
        elif self._line is not None:
            steps = self.params.get("steps") or self._seen
            self._line.target = steps
            self._line.update(steps, logs, finalize=True)
            self._line = None

    # evaluate / predict (not the validation inside fit, as Keras)
    def _begin(self):
        if not self._in_fit:
            self._line = Progbar(self.params.get("steps"), self.verbose)
            self._seen = 0

    def _batch(self, batch, logs):
        if not self._in_fit and self._line is not None:
            self._seen = batch + 1
            self._line.update(batch + 1, logs)

    def _end(self, logs):
        if not self._in_fit and self._line is not None:
            steps = self.params.get("steps") or self._seen
            self._line.target = steps
            self._line.update(steps, logs, finalize=True)
            self._line = None

    def on_test_begin(self, logs=None):
        self._begin()

    def on_test_batch_end(self, batch, logs=None):
        self._batch(batch, logs)

    def on_test_end(self, logs=None):
        self._end(logs)

    def on_predict_begin(self, logs=None):
        self._begin()

    def on_predict_batch_end(self, batch, logs=None):
        self._batch(batch, {})

    def on_predict_end(self, logs=None):
        self._end({})


class Progbar:
    """Keras's progress line (keras.utils.Progbar with every value stateful): verbose=1
    redraws ``3/4 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.5000 - loss: 0.7000`` in
    place; verbose=2 prints ``4/4 - 0s - 2ms/step - accuracy: 0.5000 - loss: 0.7000`` when
    done. Values are the logs as given (already running means), keys sorted as Keras prints
    them."""

    width = 20
    interval = 0.05  # seconds between verbose=1 redraws

    def __init__(self, target: Optional[int], verbose: int = 1, unit_name: str = "step"):
        self.target = target
        self.verbose = verbose
        self.unit_name = unit_name
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _time_per_unit(self, current: int, now: float) -> float:
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            per = (now - self._time_after_first_step) / (current - 1)
        else:
            per = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return per

    def _format_time(self, per: float) -> str:
        if per >= 1 or per == 0:
            return f" {per:.0f}s/{self.unit_name}"
        if per >= 1e-3:
            return f" {per * 1000.0:.0f}ms/{self.unit_name}"
        return f" {per * 1000000.0:.0f}us/{self.unit_name}"

    @staticmethod
    def _values(logs: Optional[Dict], strict: bool) -> str:
        out = ""
        for k in sorted(logs or {}):
            v = logs[k]
            if not isinstance(v, (int, float, np.floating)):
                continue
            big = (v if strict else abs(v)) > 1e-3
            out += f" - {k}: {v:.4f}" if big else f" - {k}: {v:.4e}"
        return out

    def update(self, current: int, logs: Optional[Dict] = None, finalize: Optional[bool] = None) -> None:
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        now = time.time()
        per = self._time_per_unit(current, now)
        if self.verbose == 1:
            if now - self._last_update < self.interval and not finalize:
                return
            self._last_update = now
            message = "\b" * self._prev_total_width + "\r"
            special = 0
            if self.target is not None and self.target > 0:
                digits = int(math.log10(self.target)) + 1
                bar = f"\x1b[1m{current:>{digits}d}/{self.target}\x1b[0m "
                special += 8
                filled = int(self.width * float(current) / self.target)
                if filled > 0:
                    bar += f"\33[32m{'━' * filled}\x1b[0m"
                    special += 9
                bar += f"\33[37m{'━' * (self.width - filled)}\x1b[0m"
                special += 9
            else:
                bar = "%7d/Unknown" % current
            if self.target is not None and self.target > 0 and not finalize:
                eta = per * (self.target - current)
                eta_fmt = ("%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60) if eta > 3600 else
                           "%d:%02d" % (eta // 60, eta % 60) if eta > 60 else "%ds" % eta)
                info = f" \x1b[1m{eta_fmt}\x1b[0m"
            else:
                info = f" \x1b[1m{now - self._start:.0f}s\x1b[0m"
            special += 8
            info += self._format_time(per) + self._values(logs, strict=False)
            total = len(bar) + len(info) - special
            if self._prev_total_width > total:
                info += " " * (self._prev_total_width - total)
            if finalize:
                info += "\n"
            sys.stdout.write(message + bar + info)
            sys.stdout.flush()
            self._prev_total_width = total
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            line = f"{current:>{digits}d}/{self.target} - {now - self._start:.0f}s -{self._format_time(per)}"
            print(line + self._values(logs, strict=True))


def _fmt(logs: Dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items() if isinstance(v, (int, float)))
