"""Discretization (Keras ``layers.Discretization``): floats to bucket indices, in NumPy.

``index = #{boundaries <= x}`` (``np.digitize``), so with boundaries ``[0, 1]`` the buckets
are ``(-inf, 0)``, ``[0, 1)``, ``[1, inf)``. ``adapt`` computes ``num_bins - 1`` quantile
boundaries with Keras's own approximate-quantile summary (ported here, same results).
NaN falls in the last bucket (as ``np.digitize`` puts it).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._host import HostLayer, check_output_mode, optional_positive


def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    values = np.sort(np.reshape(values, [-1]))
    step = max(np.size(values) / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def _compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum = summary[1].cumsum()
    pct = cum / cum[-1]
    bins = np.interp(percents, pct, summary[0])
    cum = np.interp(percents, pct, cum)
    return np.stack((bins, cum - np.concatenate((np.array([0]), cum[:-1])))).astype("float32")


class Discretization(HostLayer):
    """Buckets float values by ``bin_boundaries`` (or ``num_bins`` quantiles learned by
    ``adapt``): ``output_mode="int"`` gives int64 bucket indices, ``"one_hot"``,
    ``"multi_hot"`` or ``"count"`` their encodings (``len(bin_boundaries) + 1`` columns).

    Input: a float ``dnnx.Input``. Runs in NumPy before the network (its integer output
    feeds Embedding or CategoryEncoding, which read network inputs).
    """

    type_name = "discretization"
    default_name = "discretization"
    input_kind = "float"

    def __init__(self, bin_boundaries=None, num_bins: Optional[int] = None, epsilon: float = 0.01,
                 output_mode: str = "int", sparse: bool = False, name: Optional[str] = None, trainable: bool = True,
                 input_shape=None, dtype=None):
        super().__init__(name, input_shape, trainable)
        if sparse:
            raise ValueError("Discretization: sparse=True is not supported by dnnx")
        self.output_mode = check_output_mode("Discretization", output_mode)
        self.num_bins = optional_positive("Discretization", "num_bins", num_bins, low=0)
        if (num_bins is None) == (bin_boundaries is None):
            raise ValueError("Discretization: set exactly one of num_bins and bin_boundaries. Received: "
                             f"num_bins={num_bins!r}, bin_boundaries={bin_boundaries!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 < epsilon < 1:
            raise ValueError(f"Discretization: epsilon must be in (0, 1). Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)
        self.bin_boundaries = None
        if bin_boundaries is not None:
            b = np.asarray(bin_boundaries, dtype=np.float64).reshape(-1)
            if not np.all(np.isfinite(b)) or np.any(np.diff(b) < 0):
                raise ValueError(f"Discretization: bin_boundaries must be finite and sorted. Received: "
                                 f"bin_boundaries={bin_boundaries!r}")
            self.bin_boundaries = [float(v) for v in b]

    @property
    def depth(self) -> int:
        if self.bin_boundaries is not None:
            return len(self.bin_boundaries) + 1
        return self.num_bins

    def adapt(self, data) -> None:
        """Learn ``num_bins - 1`` boundaries from ``data`` (Keras's quantile summary)."""
        if self.num_bins is None:
            raise ValueError("Discretization.adapt: the layer was given bin_boundaries; use num_bins to adapt")
        data = np.asarray(data, dtype=np.float32)
        if data.size == 0:
            raise ValueError("Discretization.adapt: data is empty")
        summary = _compress(_summarize(data, self.epsilon), self.epsilon)
        self.bin_boundaries = [float(v) for v in _compress(summary, 1.0 / self.num_bins)[0, :-1]]

    def _indices(self, x: np.ndarray) -> np.ndarray:
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization {self.name or ''}: pass bin_boundaries or call adapt(data) first")
        x = np.asarray(x)
        if x.dtype.kind not in "fiu":
            raise TypeError(f"Discretization {self.name}: expects numbers; received dtype {x.dtype}")
        return np.digitize(x.astype(np.float32), np.asarray(self.bin_boundaries, np.float32)).astype(np.int64)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self._trainable, "bin_boundaries": self.bin_boundaries,
                "num_bins": self.num_bins, "epsilon": self.epsilon, "output_mode": self.output_mode,
                "sparse": False}

    @classmethod
    def from_config(cls, c: dict) -> "Discretization":
        c = dict(c)
        if c.get("bin_boundaries") is not None and c.get("num_bins") is not None:
            boundaries = c.pop("bin_boundaries")
            layer = cls(**c)  # adapted: keep num_bins (adapt can run again) and the boundaries
            layer.bin_boundaries = [float(v) for v in boundaries]
            return layer
        return cls(**c)
