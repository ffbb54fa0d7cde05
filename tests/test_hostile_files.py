"""Hostile model files: every malformed file raises a clear error (InvalidModelFile, a
ValueError; OSError for paths), never crashes, hangs or allocates what a header claims; and
saving is atomic."""

import json
import os
import struct

import numpy as np
import pytest

import dnnx
from dnnx import layers, saving
from dnnx.saving import InvalidModelFile


@pytest.fixture(scope="module")
def good() -> bytes:
    num = dnnx.Input(shape=(3,), name="num")
    ids = dnnx.Input(shape=(1,), dtype="int64", name="ids")
    h = layers.Concatenate()([num, layers.Flatten()(layers.Embedding(4, 2)(ids))])
    h = layers.Dense(5, activation="relu")(h)
    out = layers.Dense(2, activation="softmax", name="out")(layers.Add()([h, layers.Dense(5)(h)]))
    m = dnnx.Model([num, ids], out, seed=0)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return saving.model_to_bytes(m)


def split(data: bytes):
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def load(data: bytes):
    return saving.model_from_bytes(data, "<test>")


def test_good_file_loads(good):
    m = load(good)
    assert m.predict({"num": np.zeros((2, 3), np.float32), "ids": np.zeros((2, 1), np.int64)}, verbose=0).shape == (2, 2)


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 9, 100, -1, -17])
def test_truncated_or_empty(good, cut):
    with pytest.raises(InvalidModelFile):
        load(good[:cut])


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(seed):
    rng = np.random.default_rng(seed)
    for n in (8, 64, 4096):
        with pytest.raises(InvalidModelFile):
            load(rng.integers(0, 256, n, dtype=np.uint8).tobytes())


@pytest.mark.parametrize("length", [2**63, 2**64 - 1, 2**40, 10**9])
def test_oversized_header_length(good, length):
    with pytest.raises(InvalidModelFile, match="header length"):
        load(struct.pack("<Q", length) + good[8:])


def _param0(header):
    return next(k for k in sorted(header) if k.startswith("param."))


@pytest.mark.parametrize("edit", ["overlap", "out_of_range", "reversed", "shape_bytes", "dtype", "huge_shape",
                                  "negative_shape", "offsets_type", "gap"])
def test_inconsistent_tensor_entries(good, edit):
    header, body = split(good)
    k = _param0(header)
    entry = header[k]
    a, b = entry["data_offsets"]
    other = next(key for key in sorted(header) if key.startswith("param.") and key != k)
    if edit == "overlap":
        header[other]["data_offsets"] = [a, b]
    elif edit == "out_of_range":
        entry["data_offsets"] = [a, len(body) + 64]
    elif edit == "reversed":
        entry["data_offsets"] = [b, a]
    elif edit == "shape_bytes":
        entry["shape"] = [entry["shape"][0] + 1] + entry["shape"][1:]
    elif edit == "dtype":
        entry["dtype"] = "Q13"
    elif edit == "huge_shape":
        entry["shape"] = [2**40, 2**40]
    elif edit == "negative_shape":
        entry["shape"] = [-1] + entry["shape"][1:]
    elif edit == "offsets_type":
        entry["data_offsets"] = "0-10"
    elif edit == "gap":
        entry["data_offsets"] = [a + 4, b]
    with pytest.raises(InvalidModelFile):
        load(join(header, body))


def test_wrong_dtype_and_missing_and_extra_tensors(good):
    header, body = split(good)
    m = saving.model_from_bytes(good)
    tensors = {f"param.{i:04d}": p.copy() for i, p in enumerate(m._net.params())}
    meta = header["__metadata__"]
    from safetensors.numpy import save
    f64 = {k: v.astype(np.float64) for k, v in tensors.items()}
    with pytest.raises(InvalidModelFile, match="must be float32"):
        load(save(f64, metadata=meta))
    missing = dict(tensors)
    missing.pop("param.0001")
    with pytest.raises(InvalidModelFile, match="expected .* weight tensors|missing|the model has 80 weights, more than the 55 allowed"):
        load(save(missing, metadata=meta))
    renamed = dict(tensors)
    renamed["param.9999"] = renamed.pop("param.0001")
    with pytest.raises(InvalidModelFile, match="'param.0001' is missing"):
        load(save(renamed, metadata=meta))
    # compiled file without optimizer state / iterations
    with pytest.raises(InvalidModelFile, match="optimizer state"):
        load(save(tensors, metadata=meta))
    # but it loads uncompiled
    assert saving.model_from_bytes(save(tensors, metadata=meta), compile=False).count_params() == m.count_params()


def _with_meta(good, **changes) -> bytes:
    header, body = split(good)
    header["__metadata__"].update(changes)
    for k, v in list(header["__metadata__"].items()):
        if v is None:
            del header["__metadata__"][k]
    return join(header, body)


@pytest.mark.parametrize("changes", [
    {"__metadata__": None},
    {"format": None}, {"format": "dnnx.weights"}, {"format_version": "99"}, {"format_version": None},
    {"model_config": None}, {"model_config": "{"}, {"model_config": "[]"}, {"model_config": "null"},
    {"model_config": "[" * 100000 + "]" * 100000}, {"model_config": '{"class_name": "Evil", "config": {}}'},
    {"compile_config": "{" * 50000}, {"compile_config": '{"optimizer": "adam"}'},
    {"compile_config": '{"optimizer": {"class_name": "os.system"}}'}, {"compile_config": "7"},
])
def test_garbage_metadata(good, changes):
    if "__metadata__" in changes:
        header, body = split(good)
        header.pop("__metadata__")
        data = join(header, body)
    else:
        data = _with_meta(good, **changes)
    with pytest.raises(InvalidModelFile):
        load(data)


def test_metadata_values_must_be_strings(good):
    header, body = split(good)
    header["__metadata__"]["model_config"] = {"not": "a string"}
    with pytest.raises(InvalidModelFile):
        load(join(header, body))


def _model_config(good) -> dict:
    header, _ = split(good)
    return json.loads(header["__metadata__"]["model_config"])


def _layer(cfg, cls):
    return next(e for e in cfg["config"]["layers"] if e["class_name"] == cls)


def test_graph_edge_naming_a_missing_node(good):
    cfg = _model_config(good)
    add = _layer(cfg, "Add")
    add["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"] = ["no_such_layer", 0, 0]
    with pytest.raises(InvalidModelFile, match="no layer produces"):
        load(_with_meta(good, model_config=json.dumps(cfg)))
    cfg = _model_config(good)
    add = _layer(cfg, "Add")
    add["inbound_nodes"][0]["args"][0][1]["config"]["keras_history"][1] = 7  # node 7 of a one-node layer
    with pytest.raises(InvalidModelFile, match="no layer produces"):
        load(_with_meta(good, model_config=json.dumps(cfg)))


def test_graph_with_a_cycle(good):
    cfg = _model_config(good)
    dense = [e for e in cfg["config"]["layers"] if e["class_name"] == "Dense"]
    a, b = dense[0], dense[1]
    # a reads b's output and b reads a's: neither can be built first
    a["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = [b["name"], 0, 0]
    b["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = [a["name"], 0, 0]
    with pytest.raises(InvalidModelFile, match="no layer produces"):
        load(_with_meta(good, model_config=json.dumps(cfg)))
    cfg = _model_config(good)
    d = _layer(cfg, "Dense")
    d["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = [d["name"], 0, 0]  # reads itself
    with pytest.raises(InvalidModelFile, match="no layer produces"):
        load(_with_meta(good, model_config=json.dumps(cfg)))


def test_config_claiming_a_huge_model_allocates_nothing(good):
    cfg = _model_config(good)
    out = next(e for e in cfg["config"]["layers"] if e["name"] == "out")
    out["config"]["units"] = 2**33  # 2**33 x 5 floats: far beyond the file's weights
    with pytest.raises(InvalidModelFile, match="more than the .* allowed|too large"):
        load(_with_meta(good, model_config=json.dumps(cfg)))
    cfg = _model_config(good)
    _layer(cfg, "Embedding")["config"]["input_dim"] = 10**9  # a 10**9 x 2 table from a tiny file
    with pytest.raises(InvalidModelFile, match="more than the .* allowed"):
        load(_with_meta(good, model_config=json.dumps(cfg)))


def test_compile_config_with_huge_metric_state(good):
    header, _ = split(good)
    comp = json.loads(header["__metadata__"]["compile_config"])
    comp["metrics"] = {"out": [{"class_name": "SparseCategoricalAccuracy", "config": {}}]}
    auc = {"class_name": "AUC", "config": {"num_thresholds": 2**24}}
    comp["metrics"] = {"out": []}
    comp["loss"] = {"out": {"class_name": "MeanSquaredError", "config": {}}}
    comp["weighted_metrics"] = {"out": [dict(auc, config={"num_thresholds": 2**24, "name": f"auc_{i}"})
                                        for i in range(64)]}
    with pytest.raises(InvalidModelFile, match="thresholds|invalid compile_config"):
        load(_with_meta(good, compile_config=json.dumps(comp)))


def test_paths(tmp_path):
    with pytest.raises(FileNotFoundError):
        dnnx.load_model(tmp_path / "missing.dnnx")
    with pytest.raises(OSError):
        dnnx.load_model(tmp_path)  # a directory
    (tmp_path / "empty.dnnx").write_bytes(b"")
    with pytest.raises(InvalidModelFile, match="too short"):
        dnnx.load_model(tmp_path / "empty.dnnx")


# -- saving is atomic ------------------------------------------------------------------------
def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    m = dnnx.Sequential([dnnx.Input(shape=(2,)), layers.Dense(1)], seed=0)
    m.build()
    path = tmp_path / "m.dnnx"
    m.save(path)
    before = path.read_bytes()
    m.set_weights([np.ones((2, 1), np.float32), np.ones(1, np.float32)])

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        m.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dnnx"]  # no temporary file left
    m.save(path)
    np.testing.assert_array_equal(dnnx.load_model(path).get_weights()[0], np.ones((2, 1), np.float32))


def test_save_into_a_missing_directory(tmp_path):
    m = dnnx.Sequential([dnnx.Input(shape=(2,)), layers.Dense(1)], seed=0)
    m.build()
    with pytest.raises(OSError):
        m.save(tmp_path / "no" / "such" / "dir" / "m.dnnx")
