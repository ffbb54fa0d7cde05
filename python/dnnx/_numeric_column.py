"""NumericColumn (a dnnx layer, not in Keras): one raw numeric column made ready for a
network, in NumPy before it (see ``_host``).

    x' = fill_value where x is NaN (median imputation), else x
    x' = interp(x', quantiles, linspace(0, 1, len(quantiles)))   when quantiles are set
    out = [x', isnan(x)]  with missing_indicator, else [x']

``adapt(data)`` sets ``fill_value`` to the median of the non-missing values and, with
``quantile_transform=True``, ``quantiles`` to ``n_quantiles`` evenly spaced empirical
quantiles (scikit-learn's QuantileTransformer with a uniform output; a value outside the
training range maps to 0 or 1). Scaling (robust or standard) follows as a Normalization
node inside the network.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._host import HostLayer


class NumericColumn(HostLayer):
    """Median imputation, an optional missing-value indicator and an optional quantile
    transform of one numeric column (input ``dnnx.Input(shape=(1,))``; output
    ``(batch, 2)`` with the indicator, else ``(batch, 1)``)."""

    type_name = "numeric_column"
    default_name = "numeric_column"
    input_kind = "float"
    output_mode = "values"

    def __init__(self, fill_value: float = 0.0, missing_indicator: bool = False, quantiles=None,
                 name: Optional[str] = None, trainable: bool = True, input_shape=None):
        super().__init__(name, input_shape, trainable)
        if isinstance(fill_value, bool) or not isinstance(fill_value, (int, float)) or not np.isfinite(fill_value):
            raise ValueError(f"NumericColumn: fill_value must be a finite number. Received: fill_value={fill_value!r}")
        if not isinstance(missing_indicator, bool):
            raise TypeError(f"NumericColumn: missing_indicator must be a bool. Received: {missing_indicator!r}")
        self.fill_value = float(fill_value)
        self.missing_indicator = missing_indicator
        self.quantiles = None
        if quantiles is not None:
            q = np.asarray(quantiles, np.float64).reshape(-1)
            if q.size < 2 or not np.all(np.isfinite(q)) or np.any(np.diff(q) < 0):
                raise ValueError("NumericColumn: quantiles must be at least 2 finite, sorted numbers")
            self.quantiles = [float(v) for v in q]

    def adapt(self, data, missing_indicator: Optional[bool] = None, quantile_transform: bool = False,
              n_quantiles: int = 1000) -> None:
        a = np.asarray(data, np.float64).reshape(-1)
        ok = a[np.isfinite(a)]
        self.fill_value = float(np.median(ok)) if ok.size else 0.0
        if missing_indicator is not None:
            self.missing_indicator = bool(missing_indicator)
        self.quantiles = None
        if quantile_transform and ok.size >= 2:
            q = np.quantile(ok, np.linspace(0.0, 1.0, min(n_quantiles, ok.size)))
            self.quantiles = [float(v) for v in q]

    def compute_output_shape(self, input_shape):
        if tuple(input_shape[1:]) not in ((1,), ()):
            raise ValueError(f"NumericColumn {self.name or ''}: expects one column, shape (batch, 1); received "
                             f"{input_shape}")
        return (input_shape[0], 2 if self.missing_indicator else 1)

    def _output_dtype(self, tensors) -> str:
        return "float32"

    def host_call(self, x: np.ndarray, dtype=np.float32) -> np.ndarray:
        a = np.asarray(x, np.float64).reshape(-1)
        missing = ~np.isfinite(a)
        v = np.where(missing, self.fill_value, a)
        if self.quantiles is not None:
            q = np.asarray(self.quantiles)
            # Ties in the quantiles (a repeated value): the mean of the two interpolations
            # (scikit-learn's rule), so a value maps to the middle of its flat run.
            refs = np.linspace(0.0, 1.0, q.size)
            v = 0.5 * (np.interp(v, q, refs) - np.interp(-v, -q[::-1], -refs[::-1]))
        cols = [v, missing.astype(np.float64)] if self.missing_indicator else [v]
        return np.ascontiguousarray(np.stack(cols, axis=1), dtype=dtype)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self._trainable, "fill_value": self.fill_value,
                "missing_indicator": self.missing_indicator, "quantiles": self.quantiles}
