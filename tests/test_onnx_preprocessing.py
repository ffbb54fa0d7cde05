"""dnnx.onnx.export of the preprocessing layers: onnxruntime, fed the same raw columns
(strings included), gives model.predict's outputs."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import dnnx  # noqa: E402
import dnnx.onnx  # noqa: E402
from dnnx import layers, tabular  # noqa: E402

RNG = np.random.default_rng(21)


def check(model, feeds, tmp_path, rtol=1e-5, atol=1e-6):
    path = tmp_path / "m.onnx"
    dnnx.onnx.export(model, path)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    onnx_feeds = {k: (v.astype(object) if v.dtype.kind == "U" else v) for k, v in feeds.items()}
    got = sess.run(None, onnx_feeds)[0]
    want = model.predict(feeds)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    return got


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_normalization_category_encoding_discretization(mode, tmp_path):
    num = dnnx.Input(shape=(3,), name="num")
    ids = dnnx.Input(shape=(2,), dtype="int64", name="ids")
    one = dnnx.Input(shape=(1,), name="one")
    norm = layers.Normalization()
    norm.adapt(RNG.standard_normal((30, 3)) * 5 + 2)
    inv = layers.Normalization(mean=[1.0, -2.0, 0.5], variance=[4.0, 0.0, 2.0], invert=True)
    enc = layers.CategoryEncoding(num_tokens=6, output_mode=mode)(ids)
    enc = layers.Flatten()(enc) if len(enc.shape) == 3 else enc
    disc = layers.Discretization(bin_boundaries=[-0.5, 0.0, 1.0], output_mode=mode)(one)
    disc_int = layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")(
        layers.Discretization(bin_boundaries=[-0.5, 0.0, 1.0])(one))
    out = layers.Concatenate()([norm(num), inv(num), enc, disc, disc_int])
    model = dnnx.Model([num, ids, one], layers.Identity()(out))
    feeds = {"num": RNG.standard_normal((9, 3)).astype(np.float32), "ids": RNG.integers(0, 6, (9, 2)),
             "one": np.array([[-2.0], [-0.5], [-0.2], [0.0], [0.3], [1.0], [5.0], [0.99], [-0.51]], np.float32)}
    check(model, feeds, tmp_path)


def test_lookups_with_mask_oov_and_several_oov_indices(tmp_path):
    s = dnnx.Input(shape=(1,), dtype="string", name="s")
    i = dnnx.Input(shape=(2,), dtype="int64", name="i")
    sl = layers.StringLookup(mask_token="")
    sl.adapt(np.array(["red", "green", "red", "blue", "red", "green"]))
    onehot = layers.StringLookup(vocabulary=["a", "b"], output_mode="one_hot")
    il = layers.IntegerLookup(num_oov_indices=3)
    il.adapt(np.array([5, 7, 7, 100, 5, 7]))
    multi = layers.IntegerLookup(vocabulary=[5, 7], output_mode="multi_hot")
    e = layers.Flatten()(layers.Embedding(sl.vocabulary_size(), 2)(sl(s)))
    ie = layers.Flatten()(layers.Embedding(il.vocabulary_size(), 2)(il(i)))
    s2 = dnnx.Input(shape=(1,), dtype="string", name="s2")
    out = layers.Concatenate()([e, ie, onehot(s2), multi(i)])
    model = dnnx.Model([s, i, s2], layers.Dense(3)(out))
    feeds = {"s": np.array([["red"], [""], ["purple"], ["blue"], ["green"]]),
             "i": np.array([[5, 7], [8, 100], [-3, 5], [7, 7], [1000, 6]]),
             "s2": np.array([["a"], ["b"], ["zz"], ["a"], [""]])}
    check(model, feeds, tmp_path)


def test_numeric_column_imputation_indicator_and_quantiles(tmp_path):
    inp = dnnx.Input(shape=(1,), name="x")
    data = np.exp(RNG.standard_normal(500) * 2)
    data[::7] = np.nan
    q = layers.NumericColumn()
    q.adapt(data, missing_indicator=True, quantile_transform=True, n_quantiles=50)
    plain = layers.NumericColumn(fill_value=3.0)
    model = dnnx.Model(inp, layers.Concatenate()([q(inp), plain(inp)]), dtype="float64")
    x = np.concatenate([data[:40], [np.nan, -5.0, 1e6, 0.0]]).reshape(-1, 1)
    check(model, {"x": x}, tmp_path, rtol=1e-9, atol=1e-12)


def test_a_tabular_model_exports_whole(tmp_path):
    n = 300
    table = {"a": RNG.standard_normal(n), "b": np.exp(RNG.standard_normal(n) * 2),
             "c": RNG.choice(["x", "y", "z", "w", "v"], n), "d": RNG.choice(["p", "q"], n)}
    table["a"][::9] = np.nan
    table["y"] = np.where((np.nan_to_num(table["a"]) + (table["c"] == "x")) > 0.3, "hi", "lo")
    tm = tabular.TabularModel.build(table, "y", hidden=(8,))
    tm.fit(table, epochs=2)
    feeds = {k: v.reshape(-1, 1) for k, v in tm.inputs(table).items()}
    check(tm.model, {k: (v.astype(np.float32) if v.dtype.kind == "f" else v) for k, v in feeds.items()}, tmp_path)
