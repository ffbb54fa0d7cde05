"""save/load: safetensors round trip, exact resume, atomic writes, strict validation."""

import json
import os

import numpy as np
import pytest

import dnnx
from dnnx import layers, saving


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def metadata(path):
    from safetensors import safe_open
    with safe_open(path, framework="np") as f:
        return dict(f.metadata())


def build(seed=0, dtype="float32"):
    m = dnnx.Sequential([dnnx.Input(shape=(6,)), layers.Dense(16, activation="relu",
                                                              kernel_regularizer=dnnx.regularizers.L2(1e-4)),
                         layers.Dropout(0.25), layers.BatchNormalization(), layers.Dense(16, activation="gelu"),
                         layers.LayerNormalization(), layers.Dense(3, activation="softmax")],
                        dtype=dtype, seed=seed)
    m.compile(optimizer=dnnx.optimizers.Adam(learning_rate=dnnx.optimizers.schedules.CosineDecay(1e-2, 50)),
              loss="sparse_categorical_crossentropy", metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    return m


def data(n=200):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_bitwise(tmp_path, dtype):
    x, y = data()
    m = build(dtype=dtype)
    m.fit(x, y, epochs=2, batch_size=32, verbose=0)
    path = str(tmp_path / "m.dnnx")
    m.save(path)
    r = dnnx.load_model(path)
    assert r.dtype == dtype and [l.name for l in r.layers] == [l.name for l in m.layers]
    np.testing.assert_array_equal(r.predict(x), m.predict(x))
    for a, b in zip(r.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert r.optimizer.iterations == m.optimizer.iterations
    assert r.evaluate(x, y, return_dict=True) == m.evaluate(x, y, return_dict=True)


def test_exact_resume(tmp_path):
    x, y = data()
    full = build(seed=3)
    full.fit(x, y, epochs=4, batch_size=32, verbose=0)
    half = build(seed=3)
    half.fit(x, y, epochs=2, batch_size=32, verbose=0)
    path = str(tmp_path / "half.dnnx")
    half.save(path)
    resumed = dnnx.load_model(path)
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=32, verbose=0)
    for a, b in zip(resumed.get_weights(), full.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_weights_load_weights(tmp_path):
    x, _ = data()
    a, b = build(seed=1), build(seed=2)
    a.build(); b.build()
    a.save_weights(str(tmp_path / "w.dnnx"))
    b.load_weights(str(tmp_path / "w.dnnx"))
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    other = dnnx.Sequential([dnnx.Input(shape=(6,)), layers.Dense(2)])
    other.build()
    with pytest.raises(ValueError, match=r"expected 2 weight tensors; found 12"):
        other.load_weights(str(tmp_path / "w.dnnx"))


def test_crash_mid_save_keeps_previous_file(tmp_path, monkeypatch):
    x, _ = data()
    m = build()
    m.build()
    path = str(tmp_path / "m.dnnx")
    m.save(path)
    before = read_bytes(path)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    m.layers[0].kernel[...] = 0.0
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    assert read_bytes(path) == before
    assert os.listdir(tmp_path) == ["m.dnnx"]  # no temporary left behind


def _rewrite_meta(src, dst, **changes):
    from safetensors import safe_open
    from safetensors.numpy import save_file
    with safe_open(src, framework="np") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(changes)
    save_file(tensors, dst, metadata=meta)


def test_invalid_files_rejected(tmp_path):
    m = build()
    m.build()
    good = str(tmp_path / "good.dnnx")
    m.save(good)
    bad = str(tmp_path / "bad.dnnx")
    with open(bad, "wb") as f:
        f.write(b"\x00" * 3)
    with pytest.raises(ValueError, match="too short"):
        dnnx.load_model(bad)
    with open(bad, "wb") as f:
        f.write(b"garbage!garbage!garbage")
    with pytest.raises(ValueError, match="not a dnnx file"):
        dnnx.load_model(bad)
    with pytest.raises(FileNotFoundError):
        dnnx.load_model(str(tmp_path / "missing.dnnx"))
    cfg = json.loads(metadata(good)["model_config"])
    assert cfg["class_name"] == "Sequential" and cfg["config"]["layers"][0]["class_name"] == "InputLayer"
    evil = json.loads(json.dumps(cfg))
    evil["config"]["layers"][1] = {"class_name": "os.system", "config": {"cmd": "echo pwned"}}
    _rewrite_meta(good, bad, model_config=json.dumps(evil))
    with pytest.raises(ValueError, match=r"invalid model_config: model config: unknown layer class 'os.system'"):
        dnnx.load_model(bad)
    _rewrite_meta(good, bad, model_config=json.dumps(dict(cfg, config=dict(cfg["config"], dtype="int8"))))
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64'"):
        dnnx.load_model(bad)
    _rewrite_meta(good, bad, model_config=json.dumps(dict(cfg, seed=-1)))
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer"):
        dnnx.load_model(bad)
    _rewrite_meta(good, bad, format="something")
    with pytest.raises(ValueError, match=r"expected a 'dnnx.model' file"):
        dnnx.load_model(bad)
    _rewrite_meta(good, bad, model_config="{not json")
    with pytest.raises(ValueError, match=r"not valid JSON"):
        dnnx.load_model(bad)
    wrong = json.loads(json.dumps(cfg))
    wrong["config"]["layers"][1]["config"]["units"] = 17
    _rewrite_meta(good, bad, model_config=json.dumps(wrong))
    # a config claiming more weights than the file holds is refused before anything is allocated
    with pytest.raises(ValueError, match=r"the model has 558 weights, more than the 531 allowed"):
        dnnx.load_model(bad)
    wrong["config"]["layers"][1]["config"]["units"] = 15
    _rewrite_meta(good, bad, model_config=json.dumps(wrong))
    with pytest.raises(ValueError, match=r"tensor 'param.0000' must be float32 \(6, 15\)"):
        dnnx.load_model(bad)
    comp = json.loads(metadata(good)["compile_config"])
    comp["optimizer"]["name"] = "evil"
    _rewrite_meta(good, bad, compile_config=json.dumps(comp))
    with pytest.raises(ValueError, match=r"invalid compile_config: Unknown optimizer 'evil'"):
        dnnx.load_model(bad)


def test_no_pickle_in_module():
    src = read_bytes(saving.__file__).decode()
    assert "pickle" not in src.replace("no pickle", "")
