"""What export and import share: the onnx import (an optional dependency), opsets, dtypes."""

from __future__ import annotations

import numpy as np

# The opset export writes by default: torch 2.13's exporter writes 20 too, and it is the
# first with an exact Gelu op. LayerNormalization needs 17; below it is decomposed.
DEFAULT_OPSET = 20
MIN_OPSET = 13  # Softmax/LogSoftmax over one axis (not a 2-D coercion) from 13 on
ML_DOMAIN = "ai.onnx.ml"


def require_onnx(what: str):
    """The ``onnx`` package, or an ImportError that says how to install it."""
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"{what} needs the onnx package; install it with pip install 'dnnx[onnx]'") from e
    return onnx


def max_opset() -> int:
    """The newest default-domain opset the installed onnx package knows."""
    return int(require_onnx("dnnx.onnx").defs.onnx_opset_version())


def elem_type(dtype) -> int:
    """The ONNX TensorProto element type of a NumPy dtype."""
    onnx = require_onnx("dnnx.onnx")
    return int(onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))


def np_dtype(elem: int) -> np.dtype:
    onnx = require_onnx("dnnx.onnx")
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem))


def elem_name(elem: int) -> str:
    onnx = require_onnx("dnnx.onnx")
    return onnx.TensorProto.DataType.Name(elem).lower()
