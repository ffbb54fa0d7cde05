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


def _example(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _round_trips(model, x, tmp_path):
    """save/load and to_json/from_config reproduce the predictions bitwise."""
    before = model.predict(x)
    path = tmp_path / f"{model.name}.dnnx"
    model.save(path)
    loaded = dnnx.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), before)
    rebuilt = dnnx.models.model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(x), before)
    again = type(model).from_config(model.get_config())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x), before)


def test_residual_mlp_example(tmp_path):
    model, (x_test, y_test), result = _example("residual_mlp").main(epochs=8)
    assert result["accuracy"] > 0.9, result
    assert sum(type(l).__name__ == "Add" for l in model.layers) == 3
    _round_trips(model, x_test, tmp_path)


def test_wide_and_deep_example(tmp_path):
    model, (x_test, y_test), result = _example("wide_and_deep").main(epochs=40)
    assert result["accuracy"] > 0.8, result
    assert x_test["categorical"].dtype == np.int64
    _round_trips(model, x_test, tmp_path)


def test_autoencoder_cluster_example(tmp_path):
    (autoencoder, encoder), x, result = _example("autoencoder_cluster").main(epochs=15)
    # the encoder is the autoencoder's first half: the same weights, not a copy
    assert encoder.get_layer("code") is autoencoder.get_layer("code")
    assert result["ari_codes"] > 0.4, result
    _round_trips(autoencoder, x, tmp_path)
    _round_trips(encoder, x, tmp_path)


def test_example_scripts_run_as_scripts():
    for name, arg, key in (("residual_mlp", "2", "test accuracy"), ("wide_and_deep", "5", "test accuracy"),
                           ("autoencoder_cluster", "2", "adjusted Rand index")):
        out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", f"{name}.py"), arg],
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert key in out.stdout, out.stdout
