"""The ported Keras example runs unchanged and learns; utils.to_categorical."""

import os
import subprocess
import sys

import numpy as np
import pytest

import dnnx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_keras_mlp_port_runs():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "keras_mlp_port.py"), "8"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    acc = float(out.stdout.strip().splitlines()[-1].split(":")[1])
    assert acc > 0.93, out.stdout


def test_to_categorical():
    np.testing.assert_array_equal(dnnx.utils.to_categorical([0, 2, 1]), np.eye(3, dtype=np.float32)[[0, 2, 1]])
    assert dnnx.utils.to_categorical([1], num_classes=4).shape == (1, 4)
    with pytest.raises(ValueError, match="does not fit num_classes=2"):
        dnnx.utils.to_categorical([3], num_classes=2)
    with pytest.raises(ValueError, match="non-negative integer labels"):
        dnnx.utils.to_categorical([0.5])
