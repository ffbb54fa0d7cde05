"""From a table to a trained dnnx model whose preprocessing lives inside it.

Per feature column, one model input named after the column:

- numeric: ``NumericColumn`` (median imputation, a missing indicator when the training
  column had missing values, a quantile transform when it is heavily skewed), then, for
  all numeric columns together, one ``Normalization`` node (robust scaling: median and
  interquartile range; the quantile-transformed columns to zero mean, unit variance);
- categorical (text): ``StringLookup`` (unseen values at predict time go to its OOV
  index; values seen once in training are merged into it too, so it is trained), then an
  ``Embedding`` for 4 or more levels, a one-hot ``CategoryEncoding`` below that.

The parts are concatenated and feed an MLP (or a residual MLP); the head follows the task
detected from the target: sigmoid (binary), softmax (multiclass), or a linear unit followed
by ``Normalization(invert=True)`` with the target's mean and variance (regression: the
network learns standardized values, the model outputs the target's units). Training holds
out a random validation split and stops early on its loss, keeping the best weights.

The model file is an ordinary dnnx model (safetensors + JSON) whose ``extra`` metadata
records the task, the target column, the classes and the feature columns.
"""

from __future__ import annotations

import math
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from ._io import Table, TableError

DEFAULTS = {
    "hidden": (256, 128), "epochs": 200, "batch_size": None, "learning_rate": 1e-3, "val_split": 0.2,
    "patience": 10, "dropout": 0.1, "residual": False, "seed": 0,
}
EMBEDDING_MIN_LEVELS = 4       # categorical columns with at least this many levels get an Embedding
SKEW_THRESHOLD = 2.0           # |sample skewness| above this: quantile transform
MAX_CLASSES_FROM_NUMBERS = 20  # integer targets with at most this many values are classes (task auto)
METADATA_KEY = "dnnx_tabular"


def _auto_batch_size(n: int) -> int:
    return int(min(512, max(32, 2 ** int(math.log2(max(n, 1) / 100.0 + 1)))))


def _skewness(v: np.ndarray) -> float:
    sd = v.std()
    if v.size < 3 or sd == 0:
        return 0.0
    return float(np.mean(((v - v.mean()) / sd) ** 3))


def is_text(a: np.ndarray) -> bool:
    return a.dtype.kind in "US"


def detect_task(y: np.ndarray, task: str, column: str):
    """(task, classes or None, encoded targets, keep mask): classes sorted; rows with a
    missing target are left out (keep mask)."""
    if task not in ("auto", "classification", "regression"):
        raise TableError(f"--task must be auto, classification or regression; received {task!r}")
    if is_text(y):
        keep = y != ""
        if task == "regression":
            raise TableError(f"target column {column!r} holds text; regression needs numbers (use --task "
                             f"classification or auto)")
        task = "classification"
        vals = y[keep]
    else:
        keep = np.isfinite(y)
        vals = y[keep]
        if task == "auto":
            integral = vals.size and np.all(vals == np.round(vals))
            task = "classification" if integral and len(np.unique(vals)) <= MAX_CLASSES_FROM_NUMBERS else "regression"
        if task == "classification":
            if not np.all(vals == np.round(vals)):
                raise TableError(f"target column {column!r} holds fractional numbers; classification needs classes "
                                 f"(use --task regression)")
            vals = vals.astype(np.int64)
    if vals.size == 0:
        raise TableError(f"target column {column!r} has no values")
    if task == "regression":
        return "regression", None, vals.astype(np.float64), keep
    classes, codes = np.unique(vals, return_inverse=True)
    if len(classes) < 2:
        raise TableError(f"target column {column!r} has a single class ({classes[0].item()!r}); classification "
                         f"needs at least two")
    kind = "binary" if len(classes) == 2 else "multiclass"
    return kind, [c.item() for c in classes], codes.astype(np.int64), keep


class TabularModel:
    """A dnnx model with its preprocessing, plus what it was trained for (``info``)."""

    def __init__(self, model, info: dict):
        self.model = model
        self.info = info
        self.history = None

    # -- building --------------------------------------------------------------------------
    @classmethod
    def build(cls, table: Table, target: str, task: str = "auto", hidden: Sequence[int] = DEFAULTS["hidden"],
              residual: bool = DEFAULTS["residual"], dropout: float = DEFAULTS["dropout"],
              seed: int = DEFAULTS["seed"]) -> "TabularModel":
        """The untrained model for ``table`` (its preprocessing adapted to the table)."""
        import dnnx
        from dnnx import layers

        if target not in table:
            raise TableError(f"unknown target column {target!r}; the table has columns {list(table)}")
        features = [c for c in table if c != target]
        if not features:
            raise TableError("the table has no feature columns besides the target")
        kind, classes, _, keep = detect_task(table[target], task, target)
        if any(not str(c) for c in features):
            raise TableError("every column needs a name")
        dnnx.utils.set_random_seed(seed)
        inputs, parts, numeric_out, centers, scales, columns = [], [], [], [], [], []
        for col in features:
            v = table[col][keep]
            if is_text(v):
                inp = dnnx.Input(shape=(1,), dtype="string", name=col)
                levels = len(np.unique(v))
                lookup = layers.StringLookup(min_frequency=2 if levels >= EMBEDDING_MIN_LEVELS else None)
                lookup.adapt(v)
                size = lookup.vocabulary_size()
                ids = lookup(inp)
                if size - 1 >= EMBEDDING_MIN_LEVELS:
                    dim = int(min(32, max(2, round(1.6 * size ** 0.56))))
                    parts.append(layers.Flatten()(layers.Embedding(size, dim)(ids)))
                    enc = "embedding"
                else:
                    parts.append(layers.CategoryEncoding(num_tokens=size, output_mode="one_hot")(ids))
                    enc = "one_hot"
                columns.append({"name": col, "kind": "categorical", "levels": size - 1, "encoding": enc})
            else:
                inp = dnnx.Input(shape=(1,), name=col)
                v = v.astype(np.float64)
                ok = v[np.isfinite(v)]
                nc = layers.NumericColumn()
                skewed = ok.size > 10 and len(np.unique(ok)) > 10 and abs(_skewness(ok)) > SKEW_THRESHOLD
                nc.adapt(v, missing_indicator=bool(ok.size < v.size), quantile_transform=skewed)
                numeric_out.append(nc(inp))
                if skewed:
                    centers.append(0.5)
                    scales.append(1.0 / math.sqrt(12.0))  # uniform on [0, 1]
                elif ok.size:
                    q25, q50, q75 = np.quantile(ok, [0.25, 0.5, 0.75])
                    iqr = q75 - q25
                    centers.append(float(q50))
                    scales.append(float(iqr if iqr > 0 else (ok.std() if ok.std() > 0 else 1.0)))
                else:
                    centers.append(0.0)
                    scales.append(1.0)
                if nc.missing_indicator:
                    centers.append(0.0)
                    scales.append(1.0)
                columns.append({"name": col, "kind": "numeric", "missing_indicator": nc.missing_indicator,
                                "quantile_transform": skewed})
            inputs.append(inp)
        if numeric_out:
            num = numeric_out[0] if len(numeric_out) == 1 else layers.Concatenate()(numeric_out)
            scale = np.asarray(scales)
            parts.insert(0, layers.Normalization(mean=np.asarray(centers), variance=scale * scale)(num))
        h = parts[0] if len(parts) == 1 else layers.Concatenate()(parts)
        for i, w in enumerate(hidden):
            if residual:
                h = layers.Dense(w)(h) if h.shape[-1] != w else h
                inner = layers.Dense(w, activation="relu")(h)
                if dropout:
                    inner = layers.Dropout(dropout)(inner)
                h = layers.Add()([h, layers.Dense(w)(inner)])
                h = layers.Activation("relu")(h)
            else:
                h = layers.Dense(w, activation="relu")(h)
                if dropout:
                    h = layers.Dropout(dropout)(h)
        y = table[target][keep]
        info = {"task": kind, "target": target, "classes": classes, "columns": columns}
        if kind == "binary":
            out = layers.Dense(1, activation="sigmoid", name="output")(h)
        elif kind == "multiclass":
            out = layers.Dense(len(classes), activation="softmax", name="output")(h)
        else:
            yv = y.astype(np.float64)
            mu, var = float(yv.mean()), float(yv.var()) or 1.0
            out = layers.Normalization(mean=[mu], variance=[var], invert=True, name="output")(
                layers.Dense(1, name="standardized_output")(h))
        model = dnnx.Model(inputs, out, name="tabular")
        return cls(model, info)

    # -- data --------------------------------------------------------------------------------
    @property
    def feature_columns(self) -> List[str]:
        return [c["name"] for c in self.info["columns"]]

    @property
    def numeric_columns(self) -> List[str]:
        return [c["name"] for c in self.info["columns"] if c["kind"] == "numeric"]

    def inputs(self, table: Table, what: str = "the table") -> Dict[str, np.ndarray]:
        """The model's input arrays (one per feature column) from a table."""
        x = {}
        for c in self.info["columns"]:
            name = c["name"]
            if name not in table:
                raise TableError(f"column {name!r}, which the model uses, is missing from {what}")
            v = table[name]
            if c["kind"] == "categorical":
                x[name] = v if is_text(v) else np.array([_text(t) for t in v.tolist()], dtype=str)
            else:
                if is_text(v):
                    from ._io import parse_numbers
                    v = parse_numbers(v, name)
                x[name] = v.astype(np.float64)
        return x

    def targets(self, table: Table, what: str = "the table"):
        """(encoded targets, keep mask) of the target column, by the model's classes."""
        t = self.info["target"]
        if t not in table:
            raise TableError(f"target column {t!r} is missing from {what}")
        y = table[t]
        if self.info["task"] == "regression":
            if is_text(y):
                from ._io import parse_numbers
                y = parse_numbers(y, t)
            keep = np.isfinite(y)
            return y[keep].astype(np.float64), keep
        classes = self.info["classes"]
        if is_text(y) or isinstance(classes[0], str):
            y = np.array([_text(v) for v in y.tolist()], dtype=str) if not is_text(y) else y
            keep = y != ""
            labels = np.array([str(c) for c in classes])
        else:
            keep = np.isfinite(y)
            y = y.astype(np.float64)
            labels = np.array(classes, dtype=np.float64)
        vals = y[keep]
        order = np.argsort(labels)
        pos = np.minimum(np.searchsorted(labels[order], vals), len(labels) - 1)
        found = labels[order][pos] == vals
        if not np.all(found):
            bad = vals[~found][0]
            raise TableError(f"target column {t!r} holds the class {bad.item()!r}, which the model was not trained "
                             f"on (classes: {classes})")
        return order[pos].astype(np.int64), keep

    # -- training ----------------------------------------------------------------------------
    def fit(self, table: Table, epochs: int = DEFAULTS["epochs"], batch_size: Optional[int] = None,
            learning_rate: float = DEFAULTS["learning_rate"], val_split: float = DEFAULTS["val_split"],
            patience: int = DEFAULTS["patience"], seed: int = DEFAULTS["seed"], callbacks=(), verbose: int = 0):
        """Train with early stopping on a random held-out split; returns the validation
        metrics (on that split, with the best weights) and sets ``self.history`` and
        ``self.info["fit"]``."""
        import dnnx
        if not 0.0 < val_split < 1.0:
            raise TableError(f"--val-split must be in (0, 1); received {val_split}")
        y, keep = self.targets(table)
        x = {k: v[keep] for k, v in self.inputs(table).items()}
        n = len(y)
        n_val = int(round(n * val_split))
        if n_val < 1 or n - n_val < 1:
            raise TableError(f"--val-split {val_split} leaves an empty training or validation set for {n} rows")
        perm = np.random.default_rng(seed).permutation(n)
        tr, va = perm[n_val:], perm[:n_val]
        # after dnnx.distributed.init(): this rank trains and validates on its shard of the rows
        # (the logs are merged over ranks); the result below is computed on all of them
        from .. import distributed
        tr_rank, va_rank = distributed.shard(tr), distributed.shard(va)
        xtr = {k: v[tr_rank] for k, v in x.items()}
        xva = {k: v[va] for k, v in x.items()}
        task = self.info["task"]
        loss = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy",
                "regression": "mse"}[task]
        metrics = ["mae"] if task == "regression" else ["accuracy"]
        self.model.compile(optimizer=dnnx.optimizers.Adam(learning_rate=learning_rate), loss=loss, metrics=metrics)
        bs = batch_size or _auto_batch_size(len(tr))
        stop = dnnx.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        t0 = time.perf_counter()
        self.history = self.model.fit(xtr, y[tr_rank], batch_size=bs, epochs=epochs,
                                      validation_data=({k: v[va_rank] for k, v in x.items()}, y[va_rank]),
                                      callbacks=[stop, *callbacks], verbose=verbose)
        seconds = time.perf_counter() - t0
        result = self.metrics(self.predict_proba_or_values(xva), y[va])
        self.info["fit"] = {"rows_train": int(len(tr)), "rows_validation": int(n_val), "batch_size": int(bs),
                            "epochs_run": len(self.history.history["loss"]), "seconds": round(seconds, 3),
                            "validation": result}
        return result

    # -- inference ---------------------------------------------------------------------------
    def predict_proba_or_values(self, x: Dict[str, np.ndarray]) -> np.ndarray:
        out = np.asarray(self.model.predict(x, batch_size=4096, verbose=0))
        if self.info["task"] == "binary":
            p1 = out.reshape(-1)
            return np.stack([1.0 - p1, p1], axis=1)
        if self.info["task"] == "regression":
            return out.reshape(-1)
        return out

    def predict(self, table: Table, what: str = "the table"):
        """(predicted class labels or values, class probabilities or None) for every row."""
        out = self.predict_proba_or_values(self.inputs(table, what))
        if self.info["task"] == "regression":
            return out, None
        labels = np.array(self.info["classes"], dtype=object)[np.argmax(out, axis=1)]
        return labels, out

    def metrics(self, pred: np.ndarray, y: np.ndarray) -> Dict[str, float]:
        if self.info["task"] == "regression":
            err = pred - y
            ss = float(np.sum((y - y.mean()) ** 2))
            return {"rmse": float(np.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err))),
                    "r2": float(1.0 - np.sum(err ** 2) / ss) if ss > 0 else float("nan")}
        p = np.clip(pred[np.arange(len(y)), y], 1e-15, 1.0)
        m = {"accuracy": float(np.mean(np.argmax(pred, axis=1) == y)), "log_loss": float(-np.mean(np.log(p)))}
        if self.info["task"] == "binary":
            m["auc"] = roc_auc(y, pred[:, 1])
        return m

    def evaluate(self, table: Table, what: str = "the table") -> Dict[str, float]:
        y, keep = self.targets(table, what)
        x = {k: v[keep] for k, v in self.inputs(table, what).items()}
        if len(y) == 0:
            raise TableError(f"{what} has no rows with a target value")
        return self.metrics(self.predict_proba_or_values(x), y)

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str) -> None:
        self.model._file_metadata = {METADATA_KEY: self.info}
        self.model.save(path)

    @classmethod
    def load(cls, path: str) -> "TabularModel":
        import os

        import dnnx
        from dnnx.saving import InvalidModelFile
        if not os.path.isfile(path):
            raise TableError(f"{path}: no such model file")
        try:
            model = dnnx.load_model(path)
        except InvalidModelFile as e:
            raise TableError(f"{path} is not a dnnx model file ({e})") from None
        info = (getattr(model, "_file_metadata", None) or {}).get(METADATA_KEY)
        if not isinstance(info, dict) or not isinstance(info.get("columns"), list) or info.get("task") not in (
                "binary", "multiclass", "regression"):
            raise TableError(f"{path} is a dnnx model but not one made by `dnnx train` (it records no table schema)")
        return cls(model, info)


def _text(v) -> str:
    if isinstance(v, float):
        if v != v:
            return ""
        if v == int(v):
            return str(int(v))
    return str(v)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half)."""
    pos = y == 1
    npos, nneg = int(pos.sum()), int((~pos).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    _, inv, counts = np.unique(score, return_inverse=True, return_counts=True)
    r = (np.cumsum(counts) - 0.5 * (counts - 1))[inv.reshape(-1)]  # 1-based ranks, ties averaged
    return float((r[pos].sum() - npos * (npos + 1) / 2) / (npos * nneg))
