"""dnnx.onnx.export: onnxruntime runs the file with model.predict's outputs, for every layer
and activation, the example graphs, several inputs/outputs, float64, any batch size."""

import importlib.util
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import dnnx  # noqa: E402
import dnnx.onnx  # noqa: E402
from dnnx import layers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACTIVATIONS = ["linear", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid",
               "hard_sigmoid", "softplus", "softsign", "softmax", "log_softmax"]


def _randomize(model, seed=0):
    """Random weights everywhere (variances positive), so no layer is an identity by accident."""
    rng = np.random.default_rng(seed)
    ws = []
    weights = model.get_weights()  # builds a Sequential
    for name, w in zip(model._net.param_names(), weights):
        v = rng.normal(scale=0.5, size=w.shape)
        if "variance" in name:
            v = rng.uniform(0.5, 2.0, size=w.shape)
        ws.append(v.astype(w.dtype))
    model.set_weights(ws)
    return model


def _run(path, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess, sess.run(None, feeds)


def _check(model, feeds, tmp_path, opset=None, rtol=1e-5, atol=1e-5):
    path = tmp_path / "m.onnx"
    proto = dnnx.onnx.export(model, path, opset=opset)
    assert [o.domain for o in proto.opset_import] == [""]  # no ai.onnx.ml (ZipMap) unless asked
    sess, got = _run(path, feeds)
    assert [i.name for i in sess.get_inputs()] == model.input_names
    assert [o.name for o in sess.get_outputs()] == model.output_names
    want = model.predict(feeds if len(feeds) > 1 else next(iter(feeds.values())))
    want = want if isinstance(want, list) else [want]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return proto


@pytest.mark.parametrize("opset", [13, 17, 20])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation(activation, opset, tmp_path):
    model = _randomize(dnnx.Sequential([dnnx.Input(shape=(6,)), layers.Dense(5, activation=activation),
                                        layers.Activation(activation)]))
    x = np.random.default_rng(1).normal(scale=2.0, size=(9, 6)).astype(np.float32)
    _check(model, {model.input_names[0]: x}, tmp_path, opset)


def test_activation_parameters(tmp_path):
    model = _randomize(dnnx.Sequential([dnnx.Input(shape=(4,)),
                                        layers.Dense(4, activation=dnnx.activations.leaky_relu(0.05)),
                                        layers.Activation(dnnx.activations.elu(0.7))]))
    x = np.random.default_rng(2).normal(scale=3, size=(8, 4)).astype(np.float32)
    proto = _check(model, {model.input_names[0]: x}, tmp_path)
    alphas = {n.op_type: onnx.helper.get_attribute_value(n.attribute[0]) for n in proto.graph.node
              if n.op_type in ("LeakyRelu", "Elu")}
    assert alphas["LeakyRelu"] == pytest.approx(0.05) and alphas["Elu"] == pytest.approx(0.7)


def test_gelu_below_opset_20_is_the_erf_form(tmp_path):
    model = _randomize(dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(3, activation="gelu")]))
    ops13 = [n.op_type for n in dnnx.onnx.to_model_proto(model, 13).graph.node]
    ops20 = [n.op_type for n in dnnx.onnx.to_model_proto(model, 20).graph.node]
    assert "Erf" in ops13 and "Gelu" not in ops13 and "Gelu" in ops20


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_normalizations_dropout_and_shape_layers_on_3d(opset, tmp_path):
    inp = dnnx.Input(shape=(3, 4), name="seq")
    h = layers.Dense(6, activation="tanh", name="per_step")(inp)          # Dense on the last axis
    h = layers.BatchNormalization(name="bn3d")(h)
    h = layers.LayerNormalization(name="ln3d", center=False)(h)
    h = layers.Dropout(0.5)(h)
    pooled = layers.GlobalAveragePooling1D()(h)
    kept = layers.Flatten()(layers.GlobalAveragePooling1D(keepdims=True)(h))
    flat = layers.Flatten()(layers.Reshape((2, 9))(h))
    both = layers.Concatenate(axis=1)([layers.Reshape((3, 6))(flat), h])  # along the steps axis
    out = layers.Concatenate()([pooled, kept, layers.Flatten()(both), layers.Identity()(flat)])
    model = _randomize(dnnx.Model(inp, layers.Dense(2, name="head")(out)))
    x = np.random.default_rng(3).normal(size=(5, 3, 4)).astype(np.float32)
    _check(model, {"seq": x}, tmp_path, opset)


def test_batch_and_layer_normalization_2d_without_scale_or_center(tmp_path):
    model = _randomize(dnnx.Sequential([
        dnnx.Input(shape=(5,)), layers.Dense(5), layers.BatchNormalization(scale=False),
        layers.BatchNormalization(center=False), layers.LayerNormalization(scale=False),
        layers.LayerNormalization(epsilon=0.1), layers.Dense(2)]))
    x = np.random.default_rng(4).normal(size=(6, 5)).astype(np.float32)
    for opset in (13, 16, 17):
        _check(model, {model.input_names[0]: x}, tmp_path, opset)


def test_merges_embedding_several_inputs_and_outputs(tmp_path):
    a = dnnx.Input(shape=(4,), name="a")
    b = dnnx.Input(shape=(4,), name="b")
    ids = dnnx.Input(shape=(2,), dtype="int64", name="ids")
    one = dnnx.Input(shape=(), dtype="int64", name="one_id")
    e = layers.Flatten()(layers.Embedding(11, 2, name="table")(ids))   # (batch, 2, 2) -> 4
    e1 = layers.Embedding(5, 4, name="single")(one)                    # (batch, 4)
    shared = layers.Dense(4, activation="relu", name="shared")
    merged = [layers.Add()([shared(a), shared(b), e]), layers.Subtract()([a, b]), layers.Multiply()([a, b, e1]),
              layers.Average()([a, b, e]), layers.Maximum()([a, e, e1])]
    h = layers.Concatenate(name="joined")(merged)
    out1 = layers.Dense(3, activation="softmax", name="probs")(h)
    out2 = layers.Dropout(0.2, name="passthrough")(layers.Dense(1, name="score")(h))
    model = _randomize(dnnx.Model([a, b, ids, one], {"p": out1, "s": out2}))
    rng = np.random.default_rng(5)
    feeds = {"a": rng.normal(size=(7, 4)).astype(np.float32), "b": rng.normal(size=(7, 4)).astype(np.float32),
             "ids": rng.integers(0, 11, size=(7, 2)), "one_id": rng.integers(0, 5, size=(7,))}
    proto = _check(model, feeds, tmp_path)
    assert {n.op_type for n in proto.graph.node} >= {"Gather", "Add", "Sub", "Mul", "Mean", "Max", "Concat"}
    assert "Dropout" not in {n.op_type for n in proto.graph.node}
    types = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    assert types["ids"] == onnx.TensorProto.INT64 and types["a"] == onnx.TensorProto.FLOAT


def test_int32_and_uint8_ids(tmp_path):
    i32 = dnnx.Input(shape=(1,), dtype="int32", name="i32")
    u8 = dnnx.Input(shape=(1,), dtype="uint8", name="u8")
    h = layers.Concatenate()([layers.Flatten()(layers.Embedding(7, 3)(i32)), layers.Flatten()(layers.Embedding(9, 3)(u8))])
    model = _randomize(dnnx.Model([i32, u8], layers.Dense(2)(h)))
    rng = np.random.default_rng(6)
    _check(model, {"i32": rng.integers(0, 7, (4, 1)).astype(np.int32), "u8": rng.integers(0, 9, (4, 1)).astype(np.uint8)},
           tmp_path)


@pytest.mark.parametrize("activation", [a for a in ACTIVATIONS if a != "gelu"])
def test_float64_every_activation(activation, tmp_path):
    model = _randomize(dnnx.Sequential([dnnx.Input(shape=(6,)), layers.Dense(5, activation=activation),
                                        layers.Activation(activation)], dtype="float64"))
    x = np.random.default_rng(12).normal(scale=3.0, size=(9, 6))
    _check(model, {model.input_names[0]: x}, tmp_path, rtol=1e-12, atol=1e-12)


def test_float64_model_exports_double(tmp_path):
    model = _randomize(dnnx.Sequential([dnnx.Input(shape=(5,)), layers.Dense(8, activation="selu"),
                                        layers.BatchNormalization(), layers.LayerNormalization(),
                                        layers.Dense(3, activation="log_softmax")], dtype="float64"))
    x = np.random.default_rng(7).normal(size=(6, 5))
    # ONNX float attributes are float32: BatchNormalization/LayerNormalization run with
    # float32(epsilon) (0.001 -> 0.0010000000475), a 1e-10 relative difference in double
    proto = _check(model, {model.input_names[0]: x}, tmp_path, rtol=1e-9, atol=1e-9)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    assert all(t.data_type == onnx.TensorProto.DOUBLE for t in proto.graph.initializer)


@pytest.mark.parametrize("opset", [13, 20])
def test_float64_gelu(opset, tmp_path):
    # onnxruntime's CPU provider has no double Erf kernel (its Gelu expands to Erf too), so
    # the double graph runs in onnx's reference evaluator, with its Erf (float32: otypes="f")
    # and Gelu replaced by double ones.
    import math
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    def erf(x):
        return np.vectorize(math.erf, otypes=[x.dtype])(x)

    class Erf(OpRun):
        def _run(self, x):
            return (erf(x),)

    class Gelu(OpRun):
        def _run(self, x, approximate="none"):
            assert approximate == "none"
            return (0.5 * x * (1 + erf(x / math.sqrt(2))),)

    model = _randomize(dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(6, activation="gelu"),
                                        layers.Dense(2)], dtype="float64"))
    x = np.random.default_rng(11).normal(size=(5, 4))
    proto = dnnx.onnx.to_model_proto(model, opset)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    got = ReferenceEvaluator(proto, new_ops=[Erf, Gelu]).run(None, {model.input_names[0]: x})[0]
    np.testing.assert_allclose(got, model.predict(x), rtol=1e-12, atol=1e-12)


def test_dynamic_batch(tmp_path):
    model = _randomize(dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(4, activation="relu"), layers.Dense(2)]))
    path = tmp_path / "m.onnx"
    proto = dnnx.onnx.export(model, path)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    sess, _ = _run(path, {model.input_names[0]: np.zeros((1, 3), np.float32)})
    for n in (1, 2, 257):
        x = np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)
        np.testing.assert_allclose(sess.run(None, {model.input_names[0]: x})[0], model.predict(x), rtol=1e-5, atol=1e-6)


def _example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_example_residual_mlp(tmp_path):
    model = _randomize(_example("residual_mlp").build_model(), seed=8)
    x = np.random.default_rng(8).uniform(size=(10, 64)).astype(np.float32)
    _check(model, {"pixels": x}, tmp_path, rtol=1e-4, atol=1e-5)
    _check(model, {"pixels": x}, tmp_path, opset=13, rtol=1e-4, atol=1e-5)


def test_example_wide_and_deep(tmp_path):
    mod = _example("wide_and_deep")
    (x_train, _), _, vocab = mod.load_table()
    x = mod.offset_ids(x_train, vocab)
    model = _randomize(mod.build_model(vocab), seed=9)
    _check(model, {k: x[k][:20] for k in model.input_names}, tmp_path)


def test_example_autoencoder_and_its_shared_encoder(tmp_path):
    autoencoder, encoder = _example("autoencoder_cluster").build_models()
    _randomize(autoencoder, seed=10)
    x = np.random.default_rng(10).uniform(size=(12, 64)).astype(np.float32)
    _check(autoencoder, {"pixels": x}, tmp_path)
    _check(encoder, {"pixels": x}, tmp_path)  # the encoder's layers live in the autoencoder


def test_trained_model(tmp_path):
    dnnx.utils.set_random_seed(0)
    x, y = dnnx.datasets.load_digits()
    x = (x / 16.0).astype(np.float32)
    model = dnnx.Sequential([dnnx.Input(shape=(64,)), layers.Dense(32, activation="relu"),
                             layers.BatchNormalization(), layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    _check(model, {model.input_names[0]: x[:50]}, tmp_path)


def test_errors(tmp_path):
    model = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="opset must be between 13 and"):
        dnnx.onnx.export(model, tmp_path / "m.onnx", opset=12)
    with pytest.raises(TypeError, match="opset must be an int"):
        dnnx.onnx.export(model, tmp_path / "m.onnx", opset="20")
    with pytest.raises(TypeError, match="model must be a dnnx Model"):
        dnnx.onnx.export(object(), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="not built"):
        dnnx.onnx.export(dnnx.Sequential([layers.Dense(2)]), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="path must be"):
        dnnx.onnx.export(model, 3)
    assert not os.path.exists(tmp_path / "m.onnx")


def test_registry_names_every_layer_type_and_activation(monkeypatch, tmp_path):
    from dnnx.onnx._export_ops import ACTIVATIONS as table, CONVERTERS
    assert set(dnnx._core.layer_declarations()) <= set(CONVERTERS)
    assert {canon for canon, _ in dnnx.activations._ACTIVATIONS.values()} <= set(table)
    monkeypatch.delitem(CONVERTERS, "dense")
    model = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(2, name="fc")])
    with pytest.raises(ValueError, match="layer 'fc' \\(Dense\\) has no ONNX converter"):
        dnnx.onnx.export(model, tmp_path / "m.onnx")
