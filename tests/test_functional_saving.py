"""Graph models through save/load, get_config/from_config and to_json/model_from_json (Keras
layout); files written before the graph core still load; pickle, deepcopy, clone, joblib."""

import copy
import json
import os
import pickle

import numpy as np
import pytest

import dnnx
from dnnx import layers

RNG = np.random.default_rng(3)
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def graph_model(seed=0):
    num = dnnx.Input(shape=(3,), name="num")
    ids = dnnx.Input(shape=(4,), dtype="int64", name="item")
    e = layers.Embedding(9, 3, name="emb")(ids)
    bag = layers.GlobalAveragePooling1D()(e)
    flat = layers.Flatten()(e)
    h = layers.Dense(8, activation="relu")(layers.Concatenate()([num, bag, flat]))
    shared = layers.Dense(8, activation="tanh", name="shared")
    h = layers.Add()([h, shared(h), shared(layers.Dropout(0.2)(h))])
    h = layers.BatchNormalization()(h)
    click = layers.Dense(1, activation="sigmoid", name="click")(h)
    score = layers.Dense(2, name="score")(layers.Maximum()([h, layers.Dense(8)(h)]))
    m = dnnx.Model({"num": num, "item": ids}, [click, score], name="wide_deep", seed=seed)
    m.compile(optimizer=dnnx.optimizers.Adam(dnnx.optimizers.schedules.CosineDecay(1e-2, 40)),
              loss={"click": "binary_crossentropy", "score": "mse"}, loss_weights={"click": 1.0, "score": 0.5},
              metrics={"click": ["accuracy"]}, weighted_metrics={"score": ["mae"]})
    return m


def data(n=64):
    x = {"num": RNG.standard_normal((n, 3)).astype(np.float32), "item": RNG.integers(0, 9, (n, 4))}
    y = [(x["num"][:, 0] > 0).astype(np.float32), RNG.standard_normal((n, 2)).astype(np.float32)]
    return x, y


def assert_same_predictions(a, b, x):
    for p, q in zip(a.predict(x), b.predict(x)):
        np.testing.assert_array_equal(p, q)


def test_save_load_round_trip_and_exact_resume(tmp_path):
    x, y = data()
    m = graph_model(seed=1)
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    path = str(tmp_path / "g.dnnx")
    m.save(path)
    r = dnnx.load_model(path)
    assert r.name == "wide_deep" and [l.name for l in r.layers] == [l.name for l in m.layers]
    assert r.input_names == ["num", "item"] and r.output_names == ["click", "score"]
    assert_same_predictions(m, r, x)
    assert r.evaluate(x, y, return_dict=True) == m.evaluate(x, y, return_dict=True)
    assert r.metrics_names == m.metrics_names
    assert r.get_layer("item").dtype == "int64"
    m.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    r.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    for a, b in zip(m.get_weights(), r.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_frozen_layers_stay_frozen_after_load(tmp_path):
    m = graph_model()
    m.get_layer("shared").trainable = False
    path = str(tmp_path / "f.dnnx")
    m.save(path)
    r = dnnx.load_model(path)
    assert r.get_layer("shared").trainable is False
    w = r.get_layer("shared").get_weights()
    r.fit(*data(), epochs=1, verbose=0)
    for a, b in zip(w, r.get_layer("shared").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_get_config_keras_layout():
    m = graph_model()
    cfg = m.get_config()
    assert set(cfg) == {"name", "trainable", "layers", "input_layers", "output_layers"}
    assert cfg["input_layers"] == {"num": ["num", 0, 0], "item": ["item", 0, 0]}
    assert cfg["output_layers"] == [["click", 0, 0], ["score", 0, 0]]
    by_name = {l["name"]: l for l in cfg["layers"]}
    assert by_name["item"]["class_name"] == "InputLayer" and by_name["item"]["inbound_nodes"] == []
    assert by_name["item"]["config"]["batch_shape"] == [None, 4] and by_name["item"]["config"]["dtype"] == "int64"
    shared = by_name["shared"]
    assert shared["class_name"] == "Dense" and len(shared["inbound_nodes"]) == 2
    second = shared["inbound_nodes"][1]["args"][0]
    assert second["class_name"] == "__keras_tensor__" and second["config"]["keras_history"] == ["dropout", 0, 0]
    assert second["config"]["shape"] == [None, 8]
    add_args = by_name["add"]["inbound_nodes"][0]["args"][0]
    assert [t["config"]["keras_history"] for t in add_args] == [["dense", 0, 0], ["shared", 0, 0], ["shared", 1, 0]]
    wrapped = json.loads(m.to_json())
    assert wrapped["class_name"] == "Functional" and wrapped["config"] == json.loads(json.dumps(cfg))
    seq = dnnx.Sequential([dnnx.Input(shape=(2,)), layers.Dense(1)])
    sc = json.loads(seq.to_json())
    assert sc["class_name"] == "Sequential"
    assert [l["class_name"] for l in sc["config"]["layers"]] == ["InputLayer", "Dense"]


def test_from_config_and_json_round_trip_bitwise():
    x, _ = data()
    m = graph_model(seed=2)
    for rebuilt in (dnnx.Model.from_config(m.get_config()), dnnx.models.model_from_json(m.to_json())):
        assert rebuilt.to_json() == m.to_json()
        rebuilt.set_weights(m.get_weights())
        assert_same_predictions(m, rebuilt, x)
    ids = dnnx.Input(shape=(2,), dtype="int64")
    f64 = dnnx.Model(ids, layers.Flatten()(layers.Embedding(5, 2)(ids)), dtype="float64")
    assert f64.get_config()["dtype"] == "float64" and "dtype" not in m.get_config()
    assert dnnx.models.model_from_json(f64.to_json()).predict(np.array([[1, 2]])).dtype == np.float64
    seq = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(4, activation="relu"), layers.Dense(1)], seed=0)
    again = dnnx.Sequential.from_config(seq.get_config())
    assert isinstance(again, dnnx.Sequential) and again.to_json() == seq.to_json()
    again.set_weights(seq.get_weights())
    np.testing.assert_array_equal(again.predict(x["num"]), seq.predict(x["num"]))


def test_config_never_names_code():
    m = graph_model()
    cfg = json.loads(m.to_json())
    cfg["config"]["layers"][3]["class_name"] = "os.system"
    with pytest.raises(ValueError, match=r"unknown layer class 'os.system'"):
        dnnx.models.model_from_json(json.dumps(cfg))
    cfg = json.loads(m.to_json())
    cfg["config"]["output_layers"] = [["nowhere", 0, 0]]
    with pytest.raises(ValueError, match=r"output_layers names \['nowhere', 0, 0\], which no layer produces"):
        dnnx.models.model_from_json(json.dumps(cfg))
    cfg = json.loads(m.to_json())
    cfg["config"]["layers"][3]["config"]["run"] = "rm -rf /"
    with pytest.raises(ValueError, match=r"unknown config keys \['run'\]"):
        dnnx.models.model_from_json(json.dumps(cfg))
    cfg = json.loads(m.to_json())
    cfg["class_name"] = "Evil"
    with pytest.raises(ValueError, match=r"unknown model class 'Evil'"):
        dnnx.models.model_from_json(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"not valid JSON"):
        dnnx.models.model_from_json("{")


def test_file_saved_before_the_graph_core_still_loads(tmp_path):
    """tests/data/sequential_v1.dnnx was written by main at 0cd217c (format_version 1)."""
    ref = np.load(os.path.join(DATA, "sequential_v1_expected.npz"))
    m = dnnx.load_model(os.path.join(DATA, "sequential_v1.dnnx"))
    assert isinstance(m, dnnx.Sequential)
    assert [l.name for l in m.layers] == ["hidden", "batch_normalization", "dropout", "layer_normalization",
                                          "dense_1"]
    assert m.optimizer.iterations == int(ref["iterations"])
    np.testing.assert_allclose(m.predict(ref["x"]), ref["predict"], rtol=1e-6, atol=1e-7)
    if dnnx._core.active_kernel() == "avx512":  # the kernel the fixture was written with: bitwise as before
        np.testing.assert_array_equal(m.predict(ref["x"]), ref["predict"])
    m.fit(ref["x"], ref["y"], epochs=1, verbose=0)  # optimizer state came back with it
    path = str(tmp_path / "again.dnnx")
    m.save(path)
    from safetensors import safe_open
    with safe_open(path, framework="np") as f:
        assert f.metadata()["format_version"] == "2"
    np.testing.assert_array_equal(dnnx.load_model(path).predict(ref["x"]), m.predict(ref["x"]))


def test_pickle_deepcopy_clone_joblib(tmp_path):
    x, y = data()
    m = graph_model(seed=4)
    m.fit(x, y, epochs=1, verbose=0)
    for c in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert c is not m and c._net is not m._net
        assert_same_predictions(m, c, x)
        assert c.metrics_names == m.metrics_names and c.optimizer.iterations == m.optimizer.iterations
    reduced = m.__reduce__()
    assert reduced[1][0] == "file" and isinstance(reduced[1][1], bytes)  # the model file's bytes only
    joblib = pytest.importorskip("joblib")
    path = str(tmp_path / "m.joblib")
    joblib.dump(m, path)
    assert_same_predictions(m, joblib.load(path), x)
    sklearn_base = pytest.importorskip("sklearn.base")
    seq = dnnx.Sequential([layers.Dense(3)])  # unbuilt: copies carry the architecture
    seq.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    c = sklearn_base.clone(seq, safe=False)
    assert c is not seq and not c.built and c.compiled and c.metrics_names == ["loss", "mae"]
    c.fit(np.ones((4, 2)), np.ones((4, 3)), verbose=0)
    assert c.metrics_names == ["loss", "mae"]
