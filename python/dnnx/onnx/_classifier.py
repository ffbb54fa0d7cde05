"""``Classifier``: what ``dnnx.onnx.load`` returns for a graph that ends in class labels
(skl2onnx's ``ArgMax`` + ``ArrayFeatureExtractor`` label tail, or a ``ZipMap``)."""

from __future__ import annotations

import numpy as np


class Classifier:
    """A dnnx model of class probabilities plus the labels of its classes.

    Attributes:
        model: the ``dnnx.Model`` (predicts, trains, saves like any other). Several classes:
            its output is the ``(n, n_classes)`` probabilities (softmax). Two classes
            written as one sigmoid (skl2onnx's binary form ``[1 - p, p]``): its output is
            ``p``, shape ``(n, 1)``, the probability of ``classes_[1]``, so it trains with
            binary cross-entropy.
        classes_: the class labels (an ndarray of int64 or str), in probability-column order.
        binary: True for the one-sigmoid form.

    ``predict_proba(x)`` is the graph's probabilities output, ``predict(x)`` its label output
    (``classes_[argmax]``, the first class on a tie, as ArgMax), and ``fit(x, y)`` trains
    ``model`` further on labels from ``classes_``. ``dnnx.onnx.export(classifier, path)``
    writes skl2onnx's outputs (``label`` and ``probabilities``, or a ZipMap with
    ``zipmap=True``); wrap any dnnx classifier as ``Classifier(model, classes)`` to export
    it with its labels (``binary`` defaults to a one-unit output).
    """

    def __init__(self, model, classes, binary=None):
        from .._functional import Model
        if not isinstance(model, Model):
            raise TypeError(f"Classifier: model must be a dnnx Model. Received: {type(model).__name__}")
        classes = np.asarray(classes)
        if classes.ndim != 1 or len(classes) < 2 or classes.dtype.kind not in "iuUSO" or \
                len(set(classes.tolist())) != len(classes):
            raise ValueError(f"Classifier: classes must be 1-D, distinct integer or string labels, at least 2. "
                             f"Received: classes={classes.tolist()!r}")
        if classes.dtype.kind == "O":
            classes = classes.astype(str)
        width = model.output_dim
        if binary is None:
            binary = width == 1
        if len(model.outputs) != 1 or (width != 1 if binary else width != len(classes)) or binary and len(classes) != 2:
            raise ValueError(f"Classifier: the model must have one output of {len(classes)} probabilities (or 1, the "
                             f"second of two classes); it has {len(model.outputs)} output(s) of width {width}")
        self.model = model
        self.classes_ = classes
        self.binary = bool(binary)

    def __repr__(self) -> str:
        return f"<dnnx.onnx.Classifier classes={self.classes_.tolist()!r} model={self.model.name!r}>"

    def predict_proba(self, x) -> np.ndarray:
        """Class probabilities, ``(n, n_classes)`` in ``classes_`` order."""
        p = self.model.predict(x, verbose=0)
        return np.concatenate([1 - p, p], axis=1) if self.binary else p

    def predict(self, x) -> np.ndarray:
        """The most probable class label of each sample."""
        return self.classes_[np.argmax(self.predict_proba(x), axis=1)]

    def encode(self, y) -> np.ndarray:
        """Labels -> their column index in ``classes_`` (ValueError naming an unknown label)."""
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"Classifier.fit: y must be 1-D class labels; received shape {y.shape}")
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        try:
            return np.array([index[v] for v in y.tolist()], dtype=np.int64)
        except KeyError as e:
            raise ValueError(f"Classifier.fit: label {e.args[0]!r} is not one of classes_ "
                             f"{self.classes_.tolist()!r}") from None

    def fit(self, x, y, **fit_kwargs) -> "Classifier":
        """Train ``model`` further on ``(x, y)``, ``y`` labels from ``classes_``. An uncompiled
        model is compiled first with Adam and the matching cross-entropy (binary for the
        sigmoid form, sparse categorical otherwise); ``fit_kwargs`` go to ``model.fit``.
        Returns self; the History is in ``history_``."""
        codes = self.encode(y)
        if not self.model.compiled:
            self.model.compile(optimizer="adam",
                               loss="binary_crossentropy" if self.binary else "sparse_categorical_crossentropy")
        target = codes.astype(self.model._np_dtype)[:, None] if self.binary else codes
        self.history_ = self.model.fit(x, target, **fit_kwargs)
        return self
