"""TruePositives / FalsePositives / TrueNegatives / FalseNegatives and MAPE (computed in
C++, cpp/src/nn/metrics.cpp): against NumPy references and Keras 3 on JAX."""

import numpy as np
import pytest

import dnnx
from dnnx import layers, metrics
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(11)


def _model(d=4, out=2, act="sigmoid", dtype="float64", loss="binary_crossentropy", **compile_kw):
    m = dnnx.Sequential([dnnx.Input(shape=(d,)), layers.Dense(out, activation=act)], seed=3, dtype=dtype)
    m.compile(optimizer="sgd", loss=loss, **compile_kw)
    return m


def _counts(p, y, w, thr):
    pred, pos = p > thr, y > 0.5
    w = w[:, None] * np.ones_like(p)
    return {"tp": (w * (pred & pos)).sum(), "fp": (w * (pred & ~pos)).sum(),
            "tn": (w * (~pred & ~pos)).sum(), "fn": (w * (~pred & pos)).sum()}


@pytest.mark.parametrize("thr", [0.5, 0.3, 0.8])
def test_confusion_counts_match_numpy(thr):
    x = RNG.standard_normal((70, 4))
    y = (RNG.random((70, 2)) > 0.5).astype(np.float64)
    sw = RNG.uniform(0.1, 2.0, 70)
    m = _model(weighted_metrics=[metrics.TruePositives(thresholds=thr), metrics.FalsePositives(thresholds=thr),
                                 metrics.TrueNegatives(thresholds=thr), metrics.FalseNegatives(thresholds=thr)])
    logs = m.evaluate(x, y, sample_weight=sw, batch_size=16, return_dict=True, verbose=0)
    ref = _counts(m.predict(x, verbose=0), y, sw, thr)
    for key, short in (("true_positives", "tp"), ("false_positives", "fp"), ("true_negatives", "tn"),
                       ("false_negatives", "fn")):
        np.testing.assert_allclose(logs[key], ref[short], rtol=1e-12, err_msg=key)
    assert sum(ref.values()) == pytest.approx(sw.sum() * 2)


def test_mape_matches_numpy_with_zero_targets():
    x = RNG.standard_normal((40, 3))
    y = RNG.standard_normal((40, 2))
    y[:5, 0] = 0.0  # |y| clipped to 1e-7, as Keras does
    m = _model(d=3, act="linear", loss="mse", metrics=["mape"])
    logs = m.evaluate(x, y, batch_size=7, return_dict=True, verbose=0)
    p = m.predict(x, verbose=0)
    ref = 100 * (np.abs(y - p) / np.maximum(np.abs(y), 1e-7)).mean(axis=1).mean()
    np.testing.assert_allclose(logs["mape"], ref, rtol=1e-12)


def test_count_metric_arguments_are_checked():
    with pytest.raises(ValueError, match="thresholds must be one float"):
        metrics.TruePositives(thresholds=[0.2, 0.5])
    with pytest.raises(ValueError, match="thresholds"):
        metrics.FalseNegatives(thresholds=1.5)


def test_count_metrics_and_mape_match_keras():
    keras = _keras()
    x = RNG.standard_normal((50, 4)).astype(np.float32)
    y = (RNG.random((50, 2)) > 0.5).astype(np.float32)
    sw = RNG.uniform(0.1, 2.0, 50).astype(np.float32)
    ours = _model(dtype="float32", metrics=["mape", metrics.TruePositives(), metrics.FalsePositives(thresholds=0.3),
                                            metrics.TrueNegatives(), metrics.FalseNegatives(),
                                            metrics.MeanAbsolutePercentageError()])
    k = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="sigmoid")])
    k.compile("sgd", "binary_crossentropy", metrics=[
        "mape", keras.metrics.TruePositives(), keras.metrics.FalsePositives(thresholds=0.3),
        keras.metrics.TrueNegatives(), keras.metrics.FalseNegatives(), keras.metrics.MeanAbsolutePercentageError()])
    k.set_weights(ours.get_weights())
    a = ours.evaluate(x, y, sample_weight=sw, batch_size=8, return_dict=True, verbose=0)
    b = k.evaluate(x, y, sample_weight=sw, batch_size=8, return_dict=True, verbose=0)
    assert set(a) == set(b)
    for key in b:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=key)


def test_count_metrics_survive_save_and_load(tmp_path):
    m = _model(metrics=[metrics.TruePositives(thresholds=0.25), "mape"])
    x = RNG.standard_normal((10, 4))
    y = (RNG.random((10, 2)) > 0.5).astype(np.float64)
    m.save(tmp_path / "m.dnnx")
    back = dnnx.load_model(tmp_path / "m.dnnx")
    assert back.evaluate(x, y, return_dict=True, verbose=0) == m.evaluate(x, y, return_dict=True, verbose=0)
