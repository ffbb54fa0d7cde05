"""``compile`` arguments per output, resolved the Keras 3 way (trainers/compile_utils.py).

- ``loss``: one loss (applied to every output), a list (one per output, None = no loss) or a
  dict ``{output_name: loss}`` (missing outputs get none).
- ``loss_weights``: a float (one output), a list or a dict; default 1.
- ``metrics`` (unweighted) / ``weighted_metrics`` (sample-weighted): for one output a list;
  for several outputs a list with one entry (a metric or a list) per output, or a dict.
- Log keys: ``loss``; ``<output>_loss`` for each output's unweighted loss when more than one
  output has a loss; metrics ``<name>`` (one output) or ``<output>_<name>``; a weighted
  metric whose key is taken gets ``weighted_`` in front, as Keras does.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

from . import losses as _losses
from . import metrics as _metrics


def _per_output(value, names: Sequence[str], arg: str, leaf) -> List:
    """One entry per output from a leaf, a list/tuple or a dict keyed by output name."""
    n = len(names)
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"compile: {arg} has key(s) {unknown} that name no model output; the outputs are "
                             f"{list(names)}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)) and n > 1:
        if len(value) != n:
            raise ValueError(f"compile: {arg} given as a list must have one entry per output ({n}: {list(names)}); "
                             f"received {len(value)} entries")
        return list(value)
    if leaf:
        return [value] * n
    return [value]


class OutputConfig:
    """What one output trains and reports: its loss and weight, and its metrics."""

    def __init__(self, name: str, loss: Optional[_losses.Loss], weight: float):
        self.name = name
        self.loss = loss
        self.weight = weight
        self.metrics: List[_metrics.Metric] = []
        self.weighted: List[bool] = []
        self.keys: List[str] = []

    @property
    def sparse(self) -> bool:
        """Labels are class indices: for a sparse loss, or (no loss) a sparse metric."""
        if self.loss is not None:
            return self.loss.sparse
        return any(m.kind.startswith("sparse_") for m in self.metrics)

    @property
    def needs_labels(self) -> bool:
        return self.loss is not None or bool(self.metrics)


class CompileConfig:
    def __init__(self, output_names: Sequence[str], loss, loss_weights=None, metrics=None, weighted_metrics=None):
        names = list(output_names)
        multi = len(names) > 1
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mse' or "
                             "loss='sparse_categorical_crossentropy'")
        losses = _per_output(loss, names, "loss", leaf=not isinstance(loss, (list, tuple, dict)))
        if not multi and isinstance(loss, (list, tuple)):
            if len(loss) != 1:
                raise ValueError(f"compile: the model has one output; loss given as a list must have one entry; "
                                 f"received {len(loss)}")
            losses = list(loss)
        losses = [None if l is None else _losses.get(l) for l in losses]
        if all(l is None for l in losses):
            raise ValueError(f"compile: no output has a loss; received loss={loss!r}")
        if loss_weights is None:
            weights = [1.0] * len(names)
        else:
            if not multi and isinstance(loss_weights, (int, float)) and not isinstance(loss_weights, bool):
                weights = [loss_weights]
            elif not isinstance(loss_weights, (list, tuple, dict)):
                raise TypeError(f"compile: loss_weights must be a float (one output), a list or a dict; received "
                                f"{loss_weights!r}")
            else:
                weights = _per_output(loss_weights, names, "loss_weights", leaf=False)
                if not multi and isinstance(loss_weights, (list, tuple)):
                    if len(loss_weights) != 1:
                        raise ValueError(f"compile: loss_weights must have one entry per output (1); received "
                                         f"{len(loss_weights)}")
                    weights = list(loss_weights)
            weights = [1.0 if w is None else w for w in weights]
            for name, w in zip(names, weights):
                if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
                    raise ValueError(f"compile: the loss weight of output {name!r} must be a number >= 0; received "
                                     f"{w!r}")
        self.outputs = [OutputConfig(n, l, float(w)) for n, l, w in zip(names, losses, weights)]
        self.multi = multi
        used = {"loss"}
        self.per_output_loss_keys = sum(o.loss is not None for o in self.outputs) > 1
        if self.per_output_loss_keys:
            used.update(f"{o.name}_loss" for o in self.outputs if o.loss is not None)
        for arg, value, weighted in (("metrics", metrics, False), ("weighted_metrics", weighted_metrics, True)):
            if value is None:
                continue
            if not isinstance(value, (list, tuple, dict)):
                raise TypeError(f"compile: {arg} must be a list or a dict; received {value!r}")
            entries = _per_output(value, names, arg, leaf=False) if multi or isinstance(value, dict) else [value]
            for out, ms in zip(self.outputs, entries):
                if ms is None:
                    continue
                for m in ms if isinstance(ms, (list, tuple)) else [ms]:
                    if m is None:
                        continue
                    metric = _metrics.get(m)
                    key = f"{out.name}_{metric.name}" if multi else metric.name
                    if key in used:
                        if not weighted or key == "loss":
                            raise ValueError(f"compile: metric key {key!r} is used twice (or collides with a loss "
                                             f"key); give the metric another name")
                        key = f"{out.name}_weighted_{metric.name}" if multi else f"weighted_{metric.name}"
                        if key in used:
                            raise ValueError(f"compile: metric key {key!r} is used twice")
                    used.add(key)
                    out.metrics.append(metric)
                    out.weighted.append(weighted)
                    out.keys.append(key)

    @property
    def metrics_names(self) -> List[str]:
        names = ["loss"]
        if self.per_output_loss_keys:
            names += [f"{o.name}_loss" for o in self.outputs if o.loss is not None]
        for o in self.outputs:
            names += o.keys
        return names

    def core_config(self, output_dims: Sequence[int]):
        """(loss, metrics) in the form ``Network.set_training_config`` takes."""
        def mspecs(o: OutputConfig, dim: int) -> List[dict]:
            out = []
            for m, weighted, key in zip(o.metrics, o.weighted, o.keys):
                if _metrics.is_python(m):
                    continue  # a custom metric runs in NumPy on the recorded outputs (_py_metrics)
                s = _metrics.resolve(m, o.loss, dim)
                s["key"] = key
                s["weighted"] = weighted
                out.append(s)
            return out

        if not self.multi:
            o = self.outputs[0]
            loss = o.loss.spec()
            if o.weight != 1.0:
                loss["weight"] = o.weight
            return loss, mspecs(o, output_dims[0])
        losses = []
        for o in self.outputs:
            if o.loss is None:
                losses.append(None)
                continue
            s = o.loss.spec()
            s["weight"] = o.weight
            s["key"] = f"{o.name}_loss"
            losses.append(s)
        return losses, [mspecs(o, d) for o, d in zip(self.outputs, output_dims)]

    def get_config(self) -> Dict:
        """Per-output, file-safe form (names and plain numbers only)."""
        return {
            "loss": {o.name: (o.loss.get_config() if o.loss is not None else None) for o in self.outputs},
            "loss_weights": {o.name: o.weight for o in self.outputs},
            "metrics": {o.name: [_metrics.serialize(m) for m, w in zip(o.metrics, o.weighted) if not w]
                        for o in self.outputs},
            "weighted_metrics": {o.name: [_metrics.serialize(m) for m, w in zip(o.metrics, o.weighted) if w]
                                 for o in self.outputs},
        }
