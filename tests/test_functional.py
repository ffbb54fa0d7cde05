"""The functional API: Input, layer calls, Model(inputs, outputs), several inputs and outputs,
shared and frozen layers, Embedding and merges, summary, threads."""

import numpy as np
import pytest

import dnnx
from dnnx import layers

RNG = np.random.default_rng(0)


# -- symbolic tensors and shapes -----------------------------------------------------------
def test_input_tensor():
    t = dnnx.Input(shape=(3, 4), dtype="int64", name="ids")
    assert t.shape == (None, 3, 4) and t.dtype == "int64" and t.name == "ids"
    layer, node, index = t._keras_history
    assert isinstance(layer, layers.InputLayer) and (node, index) == (0, 0)
    assert dnnx.Input(shape=()).shape == (None,)
    assert dnnx.Input(shape=5).shape == (None, 5)
    with pytest.raises(ValueError, match=r"shape must be a tuple of positive integers.*Received: shape=\(2, 0\)"):
        dnnx.Input(shape=(2, 0))
    with pytest.raises(ValueError, match=r"dtype must be a float .*Received: dtype='float16'"):
        dnnx.Input(shape=(2,), dtype="float16")
    with pytest.raises(ValueError, match=r"batch_size is not supported"):
        dnnx.Input(shape=(2,), batch_size=8)


def test_layer_call_shapes():
    ids = dnnx.Input(shape=(5,), dtype="int64")
    e = layers.Embedding(100, 8)(ids)
    assert e.shape == (None, 5, 8) and e.dtype == "float32"
    assert layers.Flatten()(e).shape == (None, 40)
    assert layers.GlobalAveragePooling1D()(e).shape == (None, 8)
    assert layers.GlobalAveragePooling1D(keepdims=True)(e).shape == (None, 1, 8)
    assert layers.Reshape((-1, 4))(e).shape == (None, 10, 4)
    assert layers.Identity()(e).shape == (None, 5, 8)
    assert layers.Concatenate(axis=1)([e, e]).shape == (None, 10, 8)
    assert layers.Concatenate()([e, e]).shape == (None, 5, 16)                 # last axis of 3-D: per step
    assert layers.Dense(3)(e).shape == (None, 5, 3)                            # Dense on the last axis
    assert layers.LayerNormalization()(e).shape == (None, 5, 8)
    assert layers.Embedding(10, 3)(dnnx.Input(shape=(), dtype="int64")).shape == (None, 3)
    a, b = dnnx.Input(shape=(4,)), dnnx.Input(shape=(6,))
    assert layers.Concatenate()([a, b]).shape == (None, 10)
    assert layers.Concatenate(axis=1)([a, b, a]).shape == (None, 14)
    assert layers.Dense(3)(b).shape == (None, 3)
    for cls in (layers.Add, layers.Multiply, layers.Average, layers.Maximum, layers.Subtract):
        assert cls()([a, a]).shape == (None, 4)


def test_layer_call_errors():
    a, b = dnnx.Input(shape=(4,)), dnnx.Input(shape=(6,))
    with pytest.raises(ValueError, match=r"Add .*equal shapes; received \(None, 4\) and \(None, 6\)"):
        layers.Add()([a, b])
    with pytest.raises(ValueError, match=r"Subtract .*exactly 2 inputs; received 3"):
        layers.Subtract()([a, a, a])
    with pytest.raises(ValueError, match=r"Multiply .*at least 2 inputs; received 1"):
        layers.Multiply()([a])
    with pytest.raises(TypeError, match=r"must be called on a list"):
        layers.Add()(a)
    e = layers.Embedding(10, 4)(dnnx.Input(shape=(3,), dtype="int64"))
    with pytest.raises(ValueError, match=r"Concatenate.*axis=2 is out of range for inputs of shape \(None, 4\)"):
        layers.Concatenate(axis=2)([a, a])
    with pytest.raises(ValueError, match=r"Dense .*expects input with a feature axis .*received shape \(None,\)"):
        layers.Dense(2)(dnnx.Input(shape=()))
    with pytest.raises(ValueError, match=r"Concatenate: shapes must match except along axis 1; received "
                                         r"\(None, 3, 4\) and \(None, 3, 5\)"):
        layers.Concatenate(axis=1)([e, layers.Embedding(10, 5)(dnnx.Input(shape=(3,), dtype="int64"))])
    with pytest.raises(ValueError, match=r"cannot reshape \(None, 3, 4\) .* to \(5,\)"):
        layers.Reshape((5,))(e)
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D.*expects 3-D input"):
        layers.GlobalAveragePooling1D()(a)
    ids = dnnx.Input(shape=(2,), dtype="int64", name="item")
    with pytest.raises(TypeError, match=r"Dense: input 'item' holds integer IDs \(int64\); only Embedding"):
        layers.Dense(2)(ids)
    with pytest.raises(TypeError, match=r"Embedding : input must be an integer dnnx.Input"):
        layers.Embedding(5, 2)(a)
    with pytest.raises(ValueError, match=r"mask_zero is not supported"):
        layers.Embedding(5, 2, mask_zero=True)
    with pytest.raises(TypeError, match=r"must be called on a dnnx.Input tensor .*received ndarray"):
        layers.Dense(2)(np.ones((2, 2)))


def test_shared_layer_reuse_needs_same_shape():
    shared = layers.Dense(3, name="shared")
    shared(dnnx.Input(shape=(4,)))
    shared(dnnx.Input(shape=(4,)))
    with pytest.raises(ValueError, match=r"Layer 'shared' was first called on input shape \(None, 4\) and is now "
                                         r"called on \(None, 5\)"):
        shared(dnnx.Input(shape=(5,)))


# -- Model construction -------------------------------------------------------------------
def residual(width=8, seed=0):
    inp = dnnx.Input(shape=(5,))
    h = layers.Dense(width, activation="relu")(inp)
    h = layers.Add()([h, layers.Dense(width, activation="tanh")(h)])
    out = layers.Dense(2)(h)
    return dnnx.Model(inp, out, seed=seed)


def test_default_names_and_structure():
    m = residual()
    assert [l.name for l in m.layers] == ["input_layer", "dense", "dense_1", "add", "dense_2"]
    assert m.output_names == ["dense_2"] and m.input_names == ["input_layer"]
    assert m.name == "functional"
    assert m.layers[0].get_weights() == [] and [len(l.get_weights()) for l in m.layers] == [0, 2, 2, 0, 2]
    a, b = dnnx.Input(shape=(2,)), dnnx.Input(shape=(3,))
    m2 = dnnx.Model([a, b], [layers.Dense(1, name="y1")(a), layers.Dense(1, name="y2")(b)])
    assert m2.input_names == ["input_layer", "input_layer_1"] and m2.output_names == ["y1", "y2"]
    assert dnnx.models.Model is dnnx.Model


def test_dict_inputs_and_outputs_name_them():
    a = dnnx.Input(shape=(2,))
    h = layers.Dense(3)(a)
    m = dnnx.Model({"feat": a}, {"first": layers.Dense(1)(h), "second": layers.Dense(2)(h)})
    assert m.input_names == ["feat"] and m.output_names == ["first", "second"]
    named = dnnx.Input(shape=(2,), name="x")
    with pytest.raises(ValueError, match=r"inputs dict key 'feat' must equal the Input's name 'x'"):
        dnnx.Model({"feat": named}, layers.Dense(1)(named))


def test_model_construction_errors():
    a, b = dnnx.Input(shape=(2,)), dnnx.Input(shape=(2,))
    with pytest.raises(ValueError, match=r"depend on input .* not in the model's inputs"):
        dnnx.Model(a, layers.Add()([a, b]))
    with pytest.raises(TypeError, match=r"Model\(inputs, outputs\): both are required"):
        dnnx.Model()
    with pytest.raises(ValueError, match=r"output .* is a model input"):
        dnnx.Model(a, a)
    with pytest.raises(ValueError, match=r"the name 'x' is used by two layers"):
        dnnx.Model(a, layers.Dense(1, name="x")(layers.Dense(1, name="x")(a)))
    with pytest.raises(TypeError, match=r"outputs must be a KerasTensor"):
        dnnx.Model(a, np.ones(2))
    shared = layers.Dense(1)
    with pytest.raises(ValueError, match=r"come from the same layer; give the outputs as a dict"):
        dnnx.Model([a, b], [shared(a), shared(b)])


def test_shared_layer_appears_once_and_shares_weights():
    a, b = dnnx.Input(shape=(4,)), dnnx.Input(shape=(4,))
    shared = layers.Dense(3, name="tower")
    out = layers.Dense(1)(layers.Concatenate()([shared(a), shared(b)]))
    m = dnnx.Model([a, b], out, seed=0)
    assert [l.name for l in m.layers].count("tower") == 1
    assert len(m.get_weights()) == 4  # tower kernel + bias, head kernel + bias
    x = RNG.standard_normal((6, 4)).astype(np.float32)
    k, bias = shared.get_weights()
    head_k, head_b = m.layers[-1].get_weights()
    ref = np.concatenate([x @ k + bias, x[::-1] @ k + bias], axis=1) @ head_k + head_b
    np.testing.assert_allclose(m.predict([x, x[::-1]]), ref, rtol=1e-5, atol=1e-6)


def test_get_layer():
    m = residual()
    assert m.get_layer("add") is m.layers[3]
    assert m.get_layer(index=-1) is m.layers[-1]
    with pytest.raises(ValueError, match=r"no layer named 'nope'. Existing layers are: \['input_layer'"):
        m.get_layer("nope")
    with pytest.raises(ValueError, match=r"index 9 but the model has only 5 layers"):
        m.get_layer(index=9)
    with pytest.raises(ValueError, match=r"either a layer name or a layer index"):
        m.get_layer()


# -- a chain as Model equals Sequential -----------------------------------------------------
def chain_layers():
    return [layers.Dense(16, activation="relu"), layers.Dropout(0.2), layers.BatchNormalization(),
            layers.Dense(16, activation="gelu"), layers.LayerNormalization(), layers.Dense(3, activation="softmax")]


def test_chain_model_equals_sequential_bitwise():
    x = RNG.standard_normal((96, 6)).astype(np.float32)
    y = RNG.integers(0, 3, 96)
    seq = dnnx.Sequential([dnnx.Input(shape=(6,))] + chain_layers(), seed=4)
    inp = dnnx.Input(shape=(6,))
    h = inp
    for layer in chain_layers():
        h = layer(h)
    fun = dnnx.Model(inp, h, seed=4)
    for m in (seq, fun):
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for a, b in zip(seq.get_weights(), fun.get_weights()):
        np.testing.assert_array_equal(a, b)
    hs = seq.fit(x, y, batch_size=16, epochs=2, verbose=0)
    hf = fun.fit(x, y, batch_size=16, epochs=2, verbose=0)
    assert hs.history == hf.history
    for a, b in zip(seq.get_weights(), fun.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(seq.predict(x), fun.predict(x))
    assert seq.evaluate(x, y, return_dict=True) == fun.evaluate(x, y, return_dict=True)


def test_sequential_builds_the_chain_graph():
    seq = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(4), layers.Dense(2)], seed=0)
    seq.build()
    spec = seq._graph.spec("float32", 0)
    assert spec["inputs"] == [{"name": "input_layer", "dim": 3, "dtype": "float"}]
    assert spec["nodes"] == [{"layer": 0, "inputs": [0]}, {"layer": 1, "inputs": [1]}]
    assert spec["outputs"] == [2] and spec["output_names"] == ["dense_1"]


# -- data: lists, dicts, int64 -----------------------------------------------------------------
def wide_and_deep(seed=0):
    num = dnnx.Input(shape=(3,), name="num")
    ids = dnnx.Input(shape=(2,), dtype="int64", name="item")
    e = layers.Flatten()(layers.Embedding(input_dim=7, output_dim=4, name="emb")(ids))
    h = layers.Dense(8, activation="relu")(layers.Concatenate()([num, e]))
    out = layers.Dense(1, activation="sigmoid", name="click")(h)
    return dnnx.Model(inputs=[num, ids], outputs=out, seed=seed)


def wd_data(n=40):
    xn = RNG.standard_normal((n, 3)).astype(np.float32)
    xi = RNG.integers(0, 7, (n, 2))
    y = (xn[:, 0] + (xi[:, 0] > 3) > 0.5).astype(np.float32)
    return xn, xi, y


def test_fit_with_list_and_dict_inputs_agree():
    xn, xi, y = wd_data()
    a, b = wide_and_deep(), wide_and_deep()
    for m in (a, b):
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    ha = a.fit([xn, xi], y, epochs=2, batch_size=8, verbose=0)
    hb = b.fit({"item": xi, "num": xn}, {"click": y}, epochs=2, batch_size=8, verbose=0)
    assert ha.history == hb.history and set(ha.history) == {"loss", "accuracy"}
    np.testing.assert_array_equal(a.predict({"num": xn, "item": xi}), b.predict([xn, xi]))
    assert a.predict([xn, xi]).shape == (40, 1)


def test_input_errors_name_the_input():
    xn, xi, y = wd_data()
    m = wide_and_deep()
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(ValueError, match=r"x: unknown key\(s\) \['itme'\]; expected keys from \['num', 'item'\]"):
        m.fit({"num": xn, "itme": xi}, y, verbose=0)
    with pytest.raises(ValueError, match=r"x: no data for \['item'\]"):
        m.predict({"num": xn})
    with pytest.raises(TypeError, match=r"x\['item'\] feeds the integer input 'item': IDs must be an integer array "
                                        r"\(int64\); received dtype float32"):
        m.predict([xn, xi.astype(np.float32)])
    with pytest.raises(ValueError, match=r"x\['num'\] must have shape \(n, 3\)"):
        m.predict([xn[:, :2], xi])
    with pytest.raises(ValueError, match=r"all inputs must have the same number of samples"):
        m.predict([xn, xi[:5]])
    with pytest.raises(ValueError, match=r"expected 2 arrays"):
        m.predict([xn])
    with pytest.raises(TypeError, match=r"x\['num'\] is a symbolic KerasTensor: .* call it: model\(tensor\)"):
        m.predict(m.inputs)
    with pytest.raises(ValueError, match=r"y: unknown key\(s\) \['clik'\]"):
        m.fit([xn, xi], {"clik": y}, verbose=0)
    bad = xi.copy()
    bad[3, 1] = 7
    with pytest.raises(ValueError, match=r"emb"):
        m.predict([xn, bad])
    bad[3, 1] = -1
    with pytest.raises(ValueError, match=r"emb"):
        m.fit([xn, bad], y, verbose=0)


def test_embedding_lookup_is_exact_int64():
    ids = dnnx.Input(shape=(3,), dtype="int64")
    emb = layers.Embedding(50, 2)
    m = dnnx.Model(ids, layers.Flatten()(emb(ids)), seed=1)
    table = emb.get_weights()[0]
    assert table.shape == (50, 2) and np.abs(table).max() <= 0.05 and table.std() > 0  # U(-0.05, 0.05)
    x = RNG.integers(0, 50, (9, 3))
    np.testing.assert_array_equal(m.predict(x), table[x].reshape(9, 6))
    np.testing.assert_array_equal(m.predict(x.astype(np.int32)), table[x].reshape(9, 6))
    scalar = dnnx.Input(shape=(), dtype="int64")
    m1 = dnnx.Model(scalar, layers.Embedding(50, 2)(scalar), seed=1)
    w = m1.get_weights()[0]
    np.testing.assert_array_equal(m1.predict(x[:, 0]), w[x[:, 0]])          # (n,) for shape ()
    np.testing.assert_array_equal(m1.predict(x[:, :1]), w[x[:, 0]])         # (n, 1) too, as Keras
    e3 = dnnx.Model(ids, emb(ids), seed=1)
    assert e3.predict(x).shape == (9, 3, 2)                                   # outputs keep their shape


# -- several outputs -----------------------------------------------------------------------------
def two_heads(seed=0, dtype="float32"):
    inp = dnnx.Input(shape=(4,), dtype=dtype)
    h = layers.Dense(6, activation="tanh")(inp)
    reg = layers.Dense(2, name="reg")(h)
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    return dnnx.Model(inp, [reg, cls], seed=seed)


def heads_data(n=50):
    x = RNG.standard_normal((n, 4))
    return x, RNG.standard_normal((n, 2)), RNG.integers(0, 3, n)


def test_multi_output_losses_and_metrics_match_numpy():
    x, yr, yc = heads_data()
    m = two_heads(dtype="float64")
    m.compile(optimizer="sgd", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
              loss_weights={"reg": 0.5, "cls": 2.0}, metrics={"cls": ["accuracy"], "reg": ["mae"]})
    assert m.metrics_names == ["loss", "reg_loss", "cls_loss", "reg_mae", "cls_accuracy"]
    sw = RNG.uniform(0.5, 2.0, len(x))
    logs = m.evaluate(x, [yr, yc], sample_weight=sw, return_dict=True)
    pr, pc = m.predict(x)
    mse = np.sum(sw * np.mean((pr - yr) ** 2, axis=1)) / len(x)
    ce = np.sum(sw * -np.log(pc[np.arange(len(x)), yc])) / len(x)
    np.testing.assert_allclose(logs["reg_loss"], mse, rtol=1e-10)
    np.testing.assert_allclose(logs["cls_loss"], ce, rtol=1e-10)
    np.testing.assert_allclose(logs["loss"], 0.5 * mse + 2.0 * ce, rtol=1e-10)
    np.testing.assert_allclose(logs["reg_mae"], np.mean(np.abs(pr - yr)), rtol=1e-10)  # metrics: unweighted
    np.testing.assert_allclose(logs["cls_accuracy"], np.mean(pc.argmax(1) == yc), rtol=1e-12)
    # dict targets, list losses, a single loss for every output; one weight list for all outputs
    assert m.evaluate(x, {"cls": yc, "reg": yr}, sample_weight=list(sw), return_dict=True) == logs
    with pytest.raises(TypeError, match=r"per-output sample weights are not supported"):
        m.evaluate(x, [yr, yc], sample_weight=[sw, sw])
    m.compile(optimizer="sgd", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[0.5, 2.0],
              metrics=[["mae"], ["accuracy"]])
    assert m.evaluate(x, [yr, yc], sample_weight=sw, return_dict=True) == logs
    m.compile(optimizer="sgd", loss="mse")
    yc1 = np.eye(3)[yc]
    both = m.evaluate(x, [yr, yc1], return_dict=True)
    assert set(both) == {"loss", "reg_loss", "cls_loss"}
    np.testing.assert_allclose(both["cls_loss"], np.mean((pc - yc1) ** 2), rtol=1e-10)


def test_output_without_loss_needs_no_targets():
    x, yr, yc = heads_data()
    m = two_heads()
    m.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy"}, metrics={"cls": ["accuracy"]})
    h = m.fit(x, {"cls": yc}, epochs=2, verbose=0)
    assert set(h.history) == {"loss", "cls_accuracy"}  # one loss: no per-output loss keys (Keras)
    before = m.layers[2].get_weights()  # 'reg' gets no gradient
    m.fit(x, [None, yc], epochs=1, verbose=0)
    for a, b in zip(before, m.layers[2].get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"output 'cls' has a loss or metrics but no targets"):
        m.fit(x, {"reg": yr}, verbose=0)
    preds = m.predict(x)
    assert isinstance(preds, list) and [p.shape for p in preds] == [(50, 2), (50, 3)]


def test_compile_errors():
    m = two_heads()
    with pytest.raises(ValueError, match=r"loss has key\(s\) \['clss'\] that name no model output; the outputs "
                                         r"are \['reg', 'cls'\]"):
        m.compile(loss={"clss": "mse"})
    with pytest.raises(ValueError, match=r"loss given as a list must have one entry per output \(2"):
        m.compile(loss=["mse"])
    with pytest.raises(ValueError, match=r"metrics given as a list must have one entry per output"):
        m.compile(loss="mse", metrics=["mae"])
    with pytest.raises(ValueError, match=r"loss weight of output 'cls' must be a number >= 0"):
        m.compile(loss="mse", loss_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match=r"no output has a loss"):
        m.compile(loss=[None, None])
    x, yr, yc = heads_data()
    m.compile(loss="mse")
    with pytest.raises(ValueError, match=r"class_weight is only supported for models with a single output"):
        m.fit(x, [yr, np.eye(3)[yc]], class_weight={0: 1.0}, verbose=0)


# -- frozen layers -------------------------------------------------------------------------------------
def test_trainable_before_and_after_build(capsys):
    x, yr, yc = heads_data()
    frozen = layers.Dense(6, activation="tanh", trainable=False)
    inp = dnnx.Input(shape=(4,))
    out = layers.Dense(2)(frozen(inp))
    m = dnnx.Model(inp, out, seed=0)
    m.compile(optimizer="adam", loss="mse")
    w0 = m.get_weights()
    m.fit(x, yr, epochs=2, verbose=0)
    w1 = m.get_weights()
    np.testing.assert_array_equal(w0[0], w1[0])
    np.testing.assert_array_equal(w0[1], w1[1])
    assert not np.array_equal(w0[2], w1[2])
    m.summary()
    out = capsys.readouterr().out
    assert "Trainable params: 14" in out and "Non-trainable params: 30" in out
    frozen.trainable = True  # unfreezing takes effect at the next step
    m.fit(x, yr, epochs=1, verbose=0)
    assert not np.array_equal(w1[0], m.get_weights()[0])
    m.layers[2].trainable = False
    w2 = m.get_weights()
    m.train_on_batch(x, yr)
    np.testing.assert_array_equal(w2[2], m.get_weights()[2])
    m.summary()
    assert "Trainable params: 30" in capsys.readouterr().out
    with pytest.raises(TypeError, match=r"trainable must be a bool"):
        frozen.trainable = 1


# -- summary ---------------------------------------------------------------------------------------------
def test_summary_connected_to(capsys):
    m = residual()
    m.summary()
    out = capsys.readouterr().out
    assert 'Model: "functional"' in out and "Connected to" in out
    assert "input_layer (InputLayer)" in out and "(None, 5)" in out
    lines = out.splitlines()
    add = next(i for i, l in enumerate(lines) if l.startswith("add (Add)"))
    assert lines[add].rstrip().endswith("dense[0][0]") and lines[add + 1].strip() == "dense_1[0][0]"
    assert "Total params: 138 (552.00 B)" in out  # 5*8+8 + 8*8+8 + 8*2+2 float32 weights
    seq = dnnx.Sequential([dnnx.Input(shape=(5,)), layers.Dense(2)])
    seq.summary()
    assert "Connected to" not in capsys.readouterr().out


# -- models used as layers; layers shared between models -------------------------------------------
def test_model_as_layer_and_shared_weights_across_models():
    x = RNG.standard_normal((30, 6)).astype(np.float32)
    inp = dnnx.Input(shape=(6,))
    code = layers.Dense(2, activation="tanh", name="code")(layers.Dense(4, activation="relu")(inp))
    encoder = dnnx.Model(inp, code, name="encoder", seed=0)
    code_in = dnnx.Input(shape=(2,))
    decoder = dnnx.Model(code_in, layers.Dense(6)(code_in), name="decoder", seed=1)
    auto_in = dnnx.Input(shape=(6,))
    auto = dnnx.Model(auto_in, decoder(encoder(auto_in)), name="autoencoder", seed=2)
    assert len(auto.get_weights()) == 6
    auto.compile(optimizer=dnnx.optimizers.Adam(0.01), loss="mse")
    before = encoder.predict(x)

    def encode(ws):
        return np.tanh(np.maximum(x @ ws[0] + ws[1], 0) @ ws[2] + ws[3])

    seen = []  # a callback that uses the encoder while the autoencoder trains
    cb = dnnx.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        (encoder.predict(x), encode(auto.get_weights()))))
    auto.fit(x, x, epochs=3, verbose=0, callbacks=[cb])
    after = encoder.predict(x)  # the encoder sees the weights the autoencoder trained
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after, encode(auto.get_weights()), rtol=1e-5, atol=1e-6)
    for got, want in seen:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(seen[0][0], seen[2][0])
    assert [l.name for l in auto.layers] == ["input_layer", "dense", "code", "dense_1"]  # decoder's dense renamed
    again = dnnx.models.model_from_json(auto.to_json())  # the composed graph is one flat functional config
    again.set_weights(auto.get_weights())
    np.testing.assert_array_equal(again.predict(x), auto.predict(x))


# -- threads ---------------------------------------------------------------------------------------------
def test_graph_bitwise_for_1_2_3_threads(threads):
    x = RNG.standard_normal((512, 64)).astype(np.float32)
    ids = RNG.integers(0, 100, (512, 4))
    y = RNG.standard_normal((512, 1)).astype(np.float32)

    def run(n):
        dnnx.set_num_threads(n)
        num = dnnx.Input(shape=(64,))
        item = dnnx.Input(shape=(4,), dtype="int64")
        e = layers.GlobalAveragePooling1D()(layers.Embedding(100, 16)(item))
        h = layers.Dense(512, activation="relu")(layers.Concatenate()([num, e]))
        h = layers.Add()([h, layers.Dense(512, activation="relu")(h)])
        h = layers.Multiply()([h, layers.Dense(512, activation="sigmoid")(h)])
        m = dnnx.Model([num, item], layers.Dense(1)(layers.Dropout(0.1)(h)), seed=3)
        m.compile(optimizer="adam", loss="mse", metrics=["mae"])
        hist = m.fit([x, ids], y, batch_size=256, epochs=2, verbose=0).history
        return hist, m.get_weights(), m.predict([x, ids])

    h1, w1, p1 = run(1)
    for n in (2, 3):
        hn, wn, pn = run(n)
        assert hn == h1
        np.testing.assert_array_equal(pn, p1)
        for a, b in zip(w1, wn):
            np.testing.assert_array_equal(a, b)


def test_embedding_initial_weights_and_model_trainable(capsys):
    ids = dnnx.Input(shape=(2,), dtype="int64")
    table = np.arange(12.0).reshape(6, 2)
    m = dnnx.Model(ids, layers.Flatten()(layers.Embedding(6, 2, weights=[table])(ids)))
    np.testing.assert_array_equal(m.predict(np.array([[5, 0]])), [[10, 11, 0, 1]])
    m.trainable = False
    assert not m.trainable and not m.get_layer("embedding").trainable
    m.summary()
    assert "Trainable params: 0" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"embedding: set_weights expects 1 arrays; received 2"):
        dnnx.Model(ids, layers.Embedding(6, 2, weights=[table, table], name="embedding")(ids))
