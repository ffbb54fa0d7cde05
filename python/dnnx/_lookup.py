"""StringLookup and IntegerLookup (Keras 3's IndexLookup semantics), vectorized in NumPy.

Indices, as Keras numbers them: with ``output_mode="int"`` and a ``mask_token``, index 0 is
the mask; then come ``num_oov_indices`` out-of-vocabulary indices; then the vocabulary.
(In the encoding modes the mask is dropped, so the OOV indices start at 0.) ``adapt`` orders
the vocabulary by decreasing frequency, ties by decreasing value (Keras's
``np.lexsort((tokens, counts))[::-1]``), and keeps the ``max_tokens - (specials)`` most
frequent: everything else, and anything unseen at predict time, maps to the OOV index.
``min_frequency`` (a dnnx extension, as scikit-learn's OneHotEncoder has it) merges values
seen fewer times into OOV as well.

Lookup is one ``np.searchsorted`` over the sorted vocabulary: no Python loop per value.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from ._host import HostLayer, check_output_mode, optional_positive, string_array


class _IndexLookup(HostLayer):
    _oov_default = None
    _mask_default = None

    def __init__(self, max_tokens=None, num_oov_indices: int = 1, mask_token=None, oov_token=None, vocabulary=None,
                 output_mode: str = "int", pad_to_max_tokens: bool = False, min_frequency: Optional[int] = None,
                 invert: bool = False, sparse: bool = False, idf_weights=None, name: Optional[str] = None,
                 trainable: bool = True, input_shape=None, **ignored):
        super().__init__(name, input_shape, trainable)
        owner = type(self).__name__
        for key, value in ignored.items():  # Keras config keys with no effect here when at their default
            if key not in ("vocabulary_size", "oov_method", "salt", "dtype", "encoding", "vocabulary_dtype") or (
                    key == "oov_method" and value not in (None, "floormod")) or (key == "salt" and value is not None):
                raise TypeError(f"{owner}: unexpected argument {key}={value!r}")
        if invert or sparse or idf_weights is not None:
            raise ValueError(f"{owner}: invert=True, sparse=True and idf_weights are not supported by dnnx")
        self.max_tokens = optional_positive(owner, "max_tokens", max_tokens)
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, (int, np.integer)) \
                or num_oov_indices < 0:
            raise ValueError(f"{owner}: num_oov_indices must be an integer >= 0. Received: "
                             f"num_oov_indices={num_oov_indices!r}")
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = self._token(mask_token, "mask_token") if mask_token is not None else None
        self.oov_token = self._token(self._oov_default if oov_token is None else oov_token, "oov_token")
        self.output_mode = check_output_mode(owner, output_mode)
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise ValueError(f"{owner}: pad_to_max_tokens=True needs max_tokens")
        self.min_frequency = optional_positive(owner, "min_frequency", min_frequency)
        if self.max_tokens is not None and self.max_tokens <= self._token_start():
            raise ValueError(f"{owner}: max_tokens={self.max_tokens} leaves no room for a vocabulary after the "
                             f"{self._token_start()} special indices (mask and OOV)")
        self._vocab = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    # -- Keras's index layout -------------------------------------------------------------
    def _oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_start() + self.num_oov_indices

    def _check_built(self) -> None:
        if self._vocab is None:
            raise ValueError(f"{type(self).__name__} {self.name or ''}: no vocabulary; pass vocabulary= or call "
                             f"adapt(data) before using the layer")

    @property
    def depth(self) -> int:
        self._check_built()
        if self.pad_to_max_tokens:
            return self.max_tokens
        return self._token_start() + len(self._vocab)

    def vocabulary_size(self) -> int:
        """The number of indices (special ones included), as Keras counts them."""
        self._check_built()
        return self._token_start() + len(self._vocab)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The token of every index, in index order (Keras)."""
        self._check_built()
        vocab = [self._python(v) for v in self._vocab]
        if not include_special_tokens:
            return vocab
        specials = [self.mask_token] if self._oov_start() else []
        return specials + [self.oov_token] * self.num_oov_indices + vocab

    # -- vocabulary ------------------------------------------------------------------------
    def set_vocabulary(self, vocabulary) -> None:
        owner = type(self).__name__
        values = self._array(vocabulary, "vocabulary").reshape(-1)
        specials = [t for t in (self.mask_token, self.oov_token) if t is not None]
        bad = [self._python(t) for t in specials if np.any(values == t)]
        if bad:
            raise ValueError(f"{owner}: the vocabulary must not contain the special tokens {bad} (they get their "
                             f"own indices)")
        if len(np.unique(values)) != len(values):
            raise ValueError(f"{owner}: the vocabulary has repeated entries")
        if self.max_tokens is not None and self._token_start() + len(values) > self.max_tokens:
            raise ValueError(f"{owner}: a vocabulary of {len(values)} plus {self._token_start()} special indices is "
                             f"more than max_tokens={self.max_tokens}")
        self._set(values)

    def _set(self, values: np.ndarray) -> None:
        self._vocab = values
        order = np.argsort(values, kind="stable")
        self._sorted = values[order]
        self._sorted_index = (order + self._token_start()).astype(np.int64)

    def adapt(self, data) -> None:
        """Learn the vocabulary from ``data``: the most frequent values first (ties: larger
        value first), the special tokens left out, at most ``max_tokens`` indices in all,
        values seen fewer than ``min_frequency`` times left to OOV."""
        values = self._array(data, "data").reshape(-1)
        if values.size == 0:
            raise ValueError(f"{type(self).__name__}.adapt: data is empty")
        tokens, counts = np.unique(values, return_counts=True)
        drop = np.zeros(len(tokens), bool)
        for t in (self.mask_token, self.oov_token):
            if t is not None:
                drop |= tokens == t
        if self.min_frequency is not None:
            drop |= counts < self.min_frequency
        tokens, counts = tokens[~drop], counts[~drop]
        order = np.lexsort((tokens, counts))[::-1]
        if self.max_tokens is not None:
            order = order[:self.max_tokens - self._token_start()]
        self._set(tokens[order])

    # -- lookup ------------------------------------------------------------------------------
    def _indices(self, x: np.ndarray) -> np.ndarray:
        self._check_built()
        x = self._array(x, "x")
        out = np.full(x.shape, -1, np.int64)
        if len(self._sorted):
            pos = np.minimum(np.searchsorted(self._sorted, x), len(self._sorted) - 1)
            hit = self._sorted[pos] == x
            out[hit] = self._sorted_index[pos[hit]]
        else:
            hit = np.zeros(x.shape, bool)
        miss = ~hit
        if self.mask_token is not None:
            masked = x == self.mask_token
            miss &= ~masked
            out[masked] = 0 if self.output_mode == "int" else -1
        if miss.any():
            if self.num_oov_indices == 0:
                bad = [self._python(v) for v in np.unique(x[miss])[:5]]
                raise ValueError(f"{type(self).__name__} {self.name}: with num_oov_indices=0 every value must be in "
                                 f"the vocabulary; found {bad} (set num_oov_indices=1 to map unknown values to one "
                                 f"index)")
            out[miss] = self._oov_index(x[miss])
        return out

    def _oov_index(self, values: np.ndarray) -> np.ndarray:
        return np.full(values.shape, self._oov_start(), np.int64)

    # -- config ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        c = {"name": self.name, "trainable": self._trainable, "max_tokens": self.max_tokens,
             "num_oov_indices": self.num_oov_indices, "mask_token": self._python(self.mask_token),
             "oov_token": self._python(self.oov_token),
             "vocabulary": None if self._vocab is None else self.get_vocabulary(include_special_tokens=False),
             "output_mode": self.output_mode, "pad_to_max_tokens": self.pad_to_max_tokens,
             "min_frequency": self.min_frequency, "invert": False, "sparse": False}
        return c

    @staticmethod
    def _python(v):
        return v.item() if isinstance(v, np.generic) else v


class StringLookup(_IndexLookup):
    """Maps strings to integer indices (Keras ``layers.StringLookup``).

    Args:
        max_tokens: the most indices in all (mask and OOV included); None for no limit.
        num_oov_indices: 0 (unknown values are an error) or 1 (they map to one index).
            Keras hashes unknown strings into several buckets with TensorFlow's FarmHash64,
            which dnnx does not reproduce, so more than 1 is refused.
        mask_token: a token that maps to index 0 (``output_mode="int"``) or is dropped.
        oov_token: what ``get_vocabulary`` shows for OOV (default ``"[UNK]"``).
        vocabulary: a list of strings (instead of ``adapt``).
        output_mode: ``"int"`` (int64 indices), ``"one_hot"``, ``"multi_hot"``, ``"count"``.
        pad_to_max_tokens: pad the encodings to ``max_tokens`` columns.
        min_frequency: dnnx extension: values seen fewer times in ``adapt`` go to OOV.

    Input: a ``dnnx.Input(shape=(k,), dtype="string")``. Runs in NumPy before the network.
    """

    type_name = "string_lookup"
    default_name = "string_lookup"
    input_kind = "string"
    _oov_default = "[UNK]"

    def __init__(self, *args, **kwargs):
        enc = kwargs.get("encoding", "utf-8")
        if enc not in ("utf-8", "UTF-8"):
            raise ValueError(f"StringLookup: only encoding='utf-8' is supported. Received: encoding={enc!r}")
        super().__init__(*args, **kwargs)
        if self.num_oov_indices > 1:
            raise ValueError(f"StringLookup: num_oov_indices={self.num_oov_indices} is not supported (Keras hashes "
                             f"unknown strings into several buckets with TensorFlow's FarmHash64); use 0 or 1")

    @staticmethod
    def _token(value, what: str):
        if not isinstance(value, str):
            raise TypeError(f"StringLookup: {what} must be a string. Received: {what}={value!r}")
        return value

    @staticmethod
    def _array(value, name: str) -> np.ndarray:
        return string_array(value if not isinstance(value, (list, tuple)) else np.asarray(value, dtype=object), name)

    def get_config(self) -> dict:
        return {**super().get_config(), "encoding": "utf-8"}


class IntegerLookup(_IndexLookup):
    """Maps integer values (any int64, e.g. raw IDs or codes) to contiguous indices (Keras
    ``layers.IntegerLookup``): same arguments as ``StringLookup``, with ``oov_token=-1``
    by default; several OOV indices take ``value mod num_oov_indices`` (Keras's
    ``"floormod"``).

    Input: an integer ``dnnx.Input(shape=(k,), dtype="int64")``. Runs in NumPy before the
    network.
    """

    type_name = "integer_lookup"
    default_name = "integer_lookup"
    input_kind = "int"
    _oov_default = -1

    @staticmethod
    def _token(value, what: str):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"IntegerLookup: {what} must be an integer. Received: {what}={value!r}")
        return int(value)

    @staticmethod
    def _array(value, name: str) -> np.ndarray:
        a = np.asarray(value)
        if a.dtype.kind not in "iu":
            if a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
                return a.astype(np.int64)
            raise TypeError(f"IntegerLookup: {name} must hold integers; received dtype {a.dtype}")
        return a.astype(np.int64, copy=False)

    def _oov_index(self, values: np.ndarray) -> np.ndarray:
        return np.mod(values, self.num_oov_indices) + self._oov_start()

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary_dtype": "int64"}
