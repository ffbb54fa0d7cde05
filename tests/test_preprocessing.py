"""Preprocessing layers that live in the model: Normalization and CategoryEncoding (C++
graph nodes), StringLookup, IntegerLookup and Discretization (NumPy, before the network),
held against Keras 3 (on JAX, in a subprocess) where Keras runs without TensorFlow, and
against the examples in Keras's own docstrings for the lookups (which need TensorFlow)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import dnnx
from dnnx import layers

RNG = np.random.default_rng(3)
X = (RNG.standard_normal((40, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -2.0])
X2 = RNG.standard_normal((7, 3)) * 3
IDS1 = np.array([0, 3, 4, 1, 4])
IDS3 = np.array([[0, 1, 1], [4, 4, 4], [2, 0, 3]])
BOUNDS = [-1.0, 0.0, 0.5]
XD = np.array([[-3.0], [-1.0], [-0.5], [0.0], [0.2], [0.5], [9.0]])

KERAS_SCRIPT = r"""
import json, sys
import numpy as np
import keras
d = json.loads(sys.stdin.read())
X, X2 = np.array(d["X"], "float32"), np.array(d["X2"], "float32")
out = {}
n = keras.layers.Normalization(); n.adapt(X)
out["norm"] = np.asarray(n(X2)).tolist()
out["norm_weights"] = [np.asarray(w).tolist() for w in n.get_weights()[:2]]
inv = keras.layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.0, 0.25], invert=True)
out["norm_invert"] = np.asarray(inv(X2)).tolist()
for mode in ("one_hot", "multi_hot", "count"):
    c = keras.layers.CategoryEncoding(num_tokens=5, output_mode=mode)
    out["ce1_" + mode] = np.asarray(c(np.array(d["IDS1"]).reshape(-1, 1))).tolist()  # eager Keras reads a 1-D array as one sample
    out["ce3_" + mode] = np.asarray(c(np.array(d["IDS3"]))).tolist()
    out["ce3_shape_" + mode] = list(c.compute_output_shape((None, 3)))
    out["ce1_shape_" + mode] = list(c.compute_output_shape((None, 1)))
for mode in ("int", "one_hot", "multi_hot", "count"):
    disc = keras.layers.Discretization(bin_boundaries=d["BOUNDS"], output_mode=mode)
    out["disc_" + mode] = np.asarray(disc(np.array(d["XD"], "float32"))).tolist()
a = keras.layers.Discretization(num_bins=4); a.update_state(X[:, 1]); a.finalize_state()  # adapt() on an array (its tf.data check needs TensorFlow)
out["disc_adapt"] = a.bin_boundaries
out["norm_config"] = sorted(keras.layers.Normalization().get_config())
out["ce_config"] = sorted(keras.layers.CategoryEncoding(num_tokens=3).get_config())
print("RESULT" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def keras_ref():
    import importlib.util
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None:
        pytest.skip("keras and jax (the reference) are not installed")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    payload = json.dumps({"X": X.tolist(), "X2": X2.tolist(), "IDS1": IDS1.tolist(), "IDS3": IDS3.tolist(),
                          "BOUNDS": BOUNDS, "XD": XD.tolist()})
    r = subprocess.run([sys.executable, "-c", KERAS_SCRIPT], input=payload, capture_output=True, text=True,
                       env=env, timeout=300)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT")]
    assert line, r.stderr[-3000:]
    return json.loads(line[0][len("RESULT"):])


def run(inp, out, x):
    return dnnx.Model(inp, out).predict(x)


def test_normalization_adapt_matches_keras(keras_ref):
    norm = layers.Normalization()
    norm.adapt(X)
    inp = dnnx.Input(shape=(3,))
    m = dnnx.Model(inp, norm(inp))
    np.testing.assert_allclose(m.predict(X2.astype(np.float32)), keras_ref["norm"], rtol=1e-5, atol=1e-5)
    for w, ref in zip(norm.get_weights(), keras_ref["norm_weights"]):
        np.testing.assert_allclose(w, ref, rtol=1e-5)
    assert [w.shape for w in m.get_weights()] == [(3,), (3,)]
    assert m.trainable_weights == [] and len(m.non_trainable_weights) == 2
    assert set(norm.get_config()) >= set(keras_ref["norm_config"]) - {"dtype"}


def test_normalization_invert_and_zero_variance_match_keras(keras_ref):
    inp = dnnx.Input(shape=(3,))
    out = layers.Normalization(mean=[1.0, 2.0, 3.0], variance=[4.0, 0.0, 0.25], invert=True)(inp)
    np.testing.assert_allclose(run(inp, out, X2), keras_ref["norm_invert"], rtol=1e-6, atol=1e-6)


def test_normalization_backward_is_dy_over_std():
    inp = dnnx.Input(shape=(3,))
    h = layers.Normalization(mean=[1.0, -1.0, 0.0], variance=[4.0, 0.25, 1e-20])(inp)
    m = dnnx.Model(inp, layers.Dense(1, use_bias=False, kernel_initializer="ones")(h), dtype="float64")
    m.compile(optimizer="sgd", loss="mse")
    x = RNG.standard_normal((5, 3))
    y = RNG.standard_normal((5, 1))
    loss, grads = m.compute_gradients(x, y)
    # d loss / d kernel = mean over rows of 2 * (pred - y) * xn, xn = (x - mean) / max(std, 1e-7)
    xn = (x - [1.0, -1.0, 0.0]) / np.maximum(np.sqrt([4.0, 0.25, 1e-20]), 1e-7)
    pred = xn.sum(1, keepdims=True)
    np.testing.assert_allclose(grads[2].ravel(), (2 * (pred - y) * xn).mean(0), rtol=1e-9)
    assert np.all(grads[0] == 0) and np.all(grads[1] == 0)  # statistics are not trained


def test_normalization_adapt_after_build_updates_the_model():
    norm = layers.Normalization()
    inp = dnnx.Input(shape=(3,))
    m = dnnx.Model(inp, norm(inp))
    np.testing.assert_allclose(m.predict(X2), X2, rtol=1e-6)  # not adapted: identity (Keras: zeros and ones)
    norm.adapt(X)
    np.testing.assert_allclose(m.predict(X2), (X2 - X.mean(0)) / X.std(0), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="3 features"):
        norm.adapt(X[:, :2])


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
def test_category_encoding_matches_keras(keras_ref, mode):
    for ids, key, k in ((IDS1, "ce1_", 1), (IDS3, "ce3_", 3)):
        inp = dnnx.Input(shape=(k,) if k > 1 else (), dtype="int64")
        enc = layers.CategoryEncoding(num_tokens=5, output_mode=mode)
        out = enc(inp)
        got = run(inp, layers.Identity()(out) if len(out.shape) == 2 else layers.Flatten()(out), ids)
        np.testing.assert_array_equal(got.reshape(np.shape(keras_ref[key + mode])), keras_ref[key + mode])
    assert list(layers.CategoryEncoding(5, mode).compute_output_shape((None, 3))) == keras_ref["ce3_shape_" + mode]
    assert list(layers.CategoryEncoding(5, mode).compute_output_shape((None, 1))) == keras_ref["ce1_shape_" + mode]


def test_category_encoding_rejects_out_of_range_ids():
    inp = dnnx.Input(shape=(1,), dtype="int64")
    m = dnnx.Model(inp, layers.CategoryEncoding(num_tokens=3, output_mode="one_hot")(inp))
    with pytest.raises(ValueError, match=r"value 3 at row 1 is out of range \[0, 3\)"):
        m.predict(np.array([[0], [3]]))
    with pytest.raises(ValueError, match="output_mode must be one of"):
        layers.CategoryEncoding(num_tokens=3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="num_tokens"):
        layers.CategoryEncoding()
    with pytest.raises(TypeError, match="integer IDs"):
        layers.CategoryEncoding(3)(dnnx.Input(shape=(2,)))


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_discretization_matches_keras(keras_ref, mode):
    inp = dnnx.Input(shape=(1,))
    disc = layers.Discretization(bin_boundaries=BOUNDS, output_mode=mode)
    out = disc(inp)
    if mode == "int":
        out = layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")(out)
        got = np.argmax(run(inp, out, XD), axis=1).reshape(-1, 1)
    else:
        got = run(inp, layers.Identity()(out), XD)
    np.testing.assert_array_equal(got, np.reshape(keras_ref["disc_" + mode], got.shape))


def test_discretization_adapt_matches_keras(keras_ref):
    d = layers.Discretization(num_bins=4)
    d.adapt(X[:, 1])
    np.testing.assert_allclose(d.bin_boundaries, keras_ref["disc_adapt"], rtol=1e-6)


# The lookups need TensorFlow in Keras 3; the expected values are the examples in Keras's
# StringLookup / IntegerLookup docstrings (keras/src/layers/preprocessing/*_lookup.py).
def lookup_model(layer, shape, dtype):
    inp = dnnx.Input(shape=shape, dtype=dtype)
    out = layer(inp)
    if layer.output_mode == "int":
        out = layers.CategoryEncoding(num_tokens=layer.vocabulary_size(), output_mode="one_hot")(out)
        return dnnx.Model(inp, layers.Flatten()(out)), True
    return dnnx.Model(inp, layers.Identity()(out)), False


def lookup(layer, data, dtype):
    data = np.asarray(data)
    m, is_int = lookup_model(layer, data.shape[1:], dtype)
    out = m.predict(data)
    if is_int:
        return np.argmax(out.reshape(*data.shape, -1), axis=-1)
    return out


def test_string_lookup_keras_docstring_examples():
    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    np.testing.assert_array_equal(lookup(layers.StringLookup(vocabulary=vocab), data, "string"), [[1, 3, 4], [4, 0, 2]])
    s = layers.StringLookup()
    s.adapt(np.array(data))
    assert s.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    np.testing.assert_array_equal(lookup(s, data, "string"), [[5, 3, 1], [1, 2, 4]])
    np.testing.assert_array_equal(
        lookup(layers.StringLookup(vocabulary=vocab, output_mode="one_hot"), [["a"], ["b"], ["c"], ["d"], ["z"]],
               "string"),
        [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0]])
    multi = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    np.testing.assert_array_equal(lookup(layers.StringLookup(vocabulary=vocab, output_mode="multi_hot"), multi,
                                         "string"), [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(lookup(layers.StringLookup(vocabulary=vocab, output_mode="count"), multi, "string"),
                                  [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    masked = layers.StringLookup(vocabulary=vocab, mask_token="")
    assert masked.get_vocabulary() == ["", "[UNK]", "a", "b", "c", "d"]
    np.testing.assert_array_equal(lookup(masked, [["a", "c", "d"], ["d", "", "b"]], "string"), [[2, 4, 5], [5, 0, 3]])


def test_integer_lookup_keras_docstring_examples():
    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(lookup(layers.IntegerLookup(vocabulary=vocab), data, "int64"), [[1, 3, 4], [4, 0, 2]])
    two = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(lookup(two, np.array([[12, 1138, 42], [37, 1000, 36]]), "int64"),
                                  [[2, 4, 5], [1, 0, 3]])
    a = layers.IntegerLookup()
    a.adapt(data)
    assert a.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]


def test_lookup_max_tokens_and_min_frequency_merge_rare_values():
    data = np.array(["x"] * 5 + ["y"] * 3 + ["z"] * 2 + ["w"])
    s = layers.StringLookup(max_tokens=3)
    s.adapt(data)
    assert s.get_vocabulary() == ["[UNK]", "x", "y"]
    f = layers.StringLookup(min_frequency=2)
    f.adapt(data)
    assert f.get_vocabulary() == ["[UNK]", "x", "y", "z"]
    np.testing.assert_array_equal(f._indices(np.array(["w", "z", "never"])), [0, 3, 0])
    strict = layers.StringLookup(vocabulary=["a"], num_oov_indices=0)
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        strict._indices(np.array(["b"]))
    with pytest.raises(ValueError, match="FarmHash64"):
        layers.StringLookup(num_oov_indices=2)
    with pytest.raises(ValueError, match="tf_idf"):
        layers.StringLookup(output_mode="tf_idf")


def test_lookup_must_be_applied_to_a_model_input():
    inp = dnnx.Input(shape=(1,))
    with pytest.raises(ValueError, match="must be applied to a model input"):
        layers.Discretization(bin_boundaries=[0.0])(layers.Dense(1)(inp))
    with pytest.raises(TypeError, match="dtype='string'"):
        layers.StringLookup(vocabulary=["a"])(inp)
    s = dnnx.Input(shape=(1,), dtype="string")
    with pytest.raises(TypeError, match="holds strings"):
        layers.Dense(2)(s)


def mixed_model(seed=0):
    color = dnnx.Input(shape=(1,), dtype="string", name="color")
    size = dnnx.Input(shape=(1,), dtype="int64", name="size")
    num = dnnx.Input(shape=(2,), name="num")
    sl = layers.StringLookup()
    sl.adapt(np.array(["red", "green", "blue", "red"]))
    il = layers.IntegerLookup(output_mode="one_hot")
    il.adapt(np.array([10, 20, 30, 30]))
    norm = layers.Normalization()
    norm.adapt(RNG.standard_normal((50, 2)) * 4 + 1)
    e = layers.Flatten()(layers.Embedding(sl.vocabulary_size(), 3)(sl(color)))
    disc = layers.Discretization(bin_boundaries=[0.0], output_mode="one_hot")
    h = layers.Concatenate()([e, il(size), norm(num), layers.Flatten()(disc(num))])
    out = layers.Dense(1, activation="sigmoid")(layers.Dense(8, activation="relu")(h))
    return dnnx.Model([color, size, num], out, seed=seed)


def mixed_data(n):
    return {"color": RNG.choice(["red", "green", "blue", "purple"], (n, 1)),
            "size": RNG.choice([10, 20, 30, 99], (n, 1)), "num": RNG.standard_normal((n, 2))}


def test_model_with_lookups_trains_saves_and_predicts_on_raw_columns(tmp_path):
    m = mixed_model()
    m.compile(optimizer=dnnx.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"])
    x = mixed_data(64)
    y = (x["color"][:, 0] == "red").astype(np.float32)
    h = m.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert h.history["accuracy"][-1] > 0.9
    before = m.predict(x)
    m.save(tmp_path / "m.dnnx")
    loaded = dnnx.load_model(tmp_path / "m.dnnx")
    np.testing.assert_array_equal(loaded.predict(x), before)
    assert loaded.get_layer(m.layers[3].name).get_vocabulary() == m.layers[3].get_vocabulary()
    # the same model from its JSON config (the vocabularies are data in the config)
    again = dnnx.models.model_from_json(m.to_json())
    again.set_weights(m.get_weights())
    np.testing.assert_array_equal(again.predict(x), before)
    m.summary(print_fn=lambda *a: None)


def test_host_stage_raises_clear_errors_for_bad_raw_inputs():
    m = mixed_model()
    x = mixed_data(4)
    x["color"] = np.zeros((4, 1))
    with pytest.raises(TypeError, match="string"):
        m.predict(x)
