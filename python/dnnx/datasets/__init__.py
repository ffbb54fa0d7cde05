"""Small real datasets bundled with dnnx (no download at run time).

- ``load_digits()``: 1,797 8x8 handwritten digits (64 features, 10 classes), the UCI
  optical-recognition test set as distributed with scikit-learn (BSD-3-Clause).
- ``load_breast_cancer()``: 569 samples, 30 tabular features, binary target (UCI
  Wisconsin Diagnostic Breast Cancer, as distributed with scikit-learn).
- ``load_penguins()``: the Palmer Archipelago penguins table (344 rows; numeric and
  categorical columns with missing values), Gorman, Williams & Fraser (2014), CC0, as
  distributed in the palmerpenguins package.
"""

from __future__ import annotations

import gzip
import os
from typing import Dict, Tuple

import numpy as np

_DATA = os.path.join(os.path.dirname(__file__), "data")


def _read(name: str, skip_header: int = 0) -> np.ndarray:
    with gzip.open(os.path.join(_DATA, name), "rt") as f:
        return np.loadtxt(f, delimiter=",", skiprows=skip_header, dtype=np.float64)


def load_digits() -> Tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: x float32 (1797, 64) with pixel values 0..16, y int64 labels 0..9."""
    d = _read("digits.csv.gz")
    return d[:, :-1].astype(np.float32), d[:, -1].astype(np.int64)


def load_breast_cancer() -> Tuple[np.ndarray, np.ndarray]:
    """``(x, y)``: x float32 (569, 30), y int64 in {0 (malignant), 1 (benign)}."""
    d = _read("breast_cancer.csv.gz", skip_header=1)
    return d[:, :-1].astype(np.float32), d[:, -1].astype(np.int64)


def load_penguins() -> Dict[str, np.ndarray]:
    """The penguins table as columns: ``species``, ``island``, ``sex`` (str arrays, ``""``
    where missing), ``bill_length_mm``, ``bill_depth_mm``, ``flipper_length_mm``,
    ``body_mass_g`` (float64, NaN where missing) and ``year`` (int64)."""
    import csv
    with gzip.open(os.path.join(_DATA, "penguins.csv.gz"), "rt", newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    cols: Dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        vals = [r[j] for r in rows]
        if name in ("species", "island", "sex"):
            cols[name] = np.array(["" if v == "NA" else v for v in vals])
        elif name == "year":
            cols[name] = np.array(vals, dtype=np.int64)
        else:
            cols[name] = np.array([np.nan if v == "NA" else float(v) for v in vals])
    return cols


def train_test_split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.25, seed: int = 0):
    """Seeded shuffle and split: ``(x_train, x_test, y_train, y_test)``."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    te, tr = idx[:n_test], idx[n_test:]
    return x[tr], x[te], y[tr], y[te]
