"""Keras 3 on the JAX backend as a test oracle: imported on demand, skipped when absent."""

import os
import warnings

import pytest


def keras_or_skip():
    """The keras module (KERAS_BACKEND defaults to jax), or skip the calling test."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("keras")
