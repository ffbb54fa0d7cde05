"""Custom (Python) metrics during fit / evaluate, without Python in the training step.

fit hands ``Network.train_epoch`` one buffer per output that needs them: each step copies
its outputs (the training forward pass, before the update) there, and the row order (the
shuffle). After the epoch, or at a batch callback that asks for the running logs, the
metrics' ``update_state`` replays those batches in order, as Keras calls it after each
step. Evaluation runs inference once over the data (one C++ predict) and replays it batch
by batch. What it costs: one copy of the outputs per step in C++, an ``(n, width)`` buffer
per output, the metric's own NumPy work per batch after the epoch, and for evaluate a
second inference pass over the data.
"""

from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

from .metrics import is_python


class PythonMetrics:
    """The compiled custom metrics: ``(output index, metric, weighted, log key)``."""

    def __init__(self, config):
        self.items = [(i, m, w, k) for i, o in enumerate(config.outputs)
                      for m, w, k in zip(o.metrics, o.weighted, o.keys) if is_python(m)]
        self.outputs = sorted({i for i, _, _, _ in self.items})

    def __bool__(self) -> bool:
        return bool(self.items)

    def reset(self) -> None:
        for _, m, _, _ in self.items:
            m.reset_state()

    def update(self, ys: List, preds: List, sw) -> None:
        """One batch: per output targets and outputs (lists indexed by output)."""
        for i, m, weighted, _ in self.items:
            m.update_state(ys[i], preds[i], sample_weight=sw if weighted else None)

    def results(self) -> Dict[str, float]:
        out = {}
        for _, m, _, key in self.items:
            r = np.asarray(m.result())
            if r.size != 1:
                raise ValueError(f"metric {m.name!r}: result() must be one number for the logs; it returned shape "
                                 f"{r.shape}")
            out[key] = float(r.reshape(()))
        return out


def ordered(logs: Dict[str, float], names: List[str]) -> Dict[str, float]:
    """Logs in ``metrics_names`` order (Keras's), anything else after."""
    head = {k: logs[k] for k in names if k in logs}
    return {**head, **{k: v for k, v in logs.items() if k not in head}}


class EpochRecord:
    """The buffers one ``train_epoch`` fills, and the replay of its batches."""

    def __init__(self, metrics: PythonMetrics, n: int, widths: List[int], dtype, batch_size: int):
        self.metrics, self.n, self.bs = metrics, n, batch_size
        self.outputs = [np.empty((n, w), dtype) if o in metrics.outputs else None for o, w in enumerate(widths)]
        self.rows = np.empty(n, np.int64)
        self.done = 0  # batches replayed

    def replay(self, upto: int, ys: List[Optional[np.ndarray]], sw) -> None:
        for s in range(self.done, upto):
            i0, i1 = s * self.bs, min(self.n, (s + 1) * self.bs)
            rows = self.rows[i0:i1]
            self.metrics.update([None if y is None else y[rows] for y in ys],
                                [None if p is None else p[i0:i1] for p in self.outputs],
                                None if sw is None else sw[rows])
        self.done = max(self.done, upto)


def replay_predictions(metrics: PythonMetrics, preds: List[np.ndarray], ys: List, sw, batch_size: int) -> None:
    """Evaluate: outputs of the whole data, fed to the metrics batch by batch."""
    n = preds[0].shape[0]
    for i0 in range(0, n, batch_size):
        i1 = min(n, i0 + batch_size)
        metrics.update([None if y is None else y[i0:i1] for y in ys], [p[i0:i1] for p in preds],
                       None if sw is None else sw[i0:i1])
