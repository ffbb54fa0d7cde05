"""dnnx.onnx.load: graphs from the real exporters (torch.onnx.export, skl2onnx), from
onnx.helper in the Keras/tf2onnx style and from dnnx itself predict what their source
predicts, train further, and the unsupported ones fail naming the node, op and opset."""

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import dnnx  # noqa: E402
import dnnx.onnx  # noqa: E402
from dnnx import layers  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from test_onnx_export import ACTIVATIONS, _example, _randomize  # noqa: E402


def _ort(proto, feeds):
    data = proto if isinstance(proto, bytes) else proto.SerializeToString()
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)


def _trains(model, x, y, loss="mse"):
    """The imported model trains: a few Adam steps lower its loss."""
    model.compile(optimizer=dnnx.optimizers.Adam(learning_rate=1e-2), loss=loss)
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=20, batch_size=len(y), verbose=0)
    assert model.evaluate(x, y, verbose=0) < before


# -- PyTorch ------------------------------------------------------------------------------------
torch = None


def _torch():
    global torch
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    return torch


def _torch_export(module, args, tmp_path, dynamo, names=("x",), dynamic=True):
    t = _torch()
    path = tmp_path / f"torch_{'dynamo' if dynamo else 'legacy'}.onnx"
    kw = {"input_names": list(names), "dynamo": dynamo}
    if dynamic and dynamo:
        kw["dynamic_shapes"] = tuple({0: t.export.Dim("batch")} for _ in args)
    elif dynamic:
        kw["dynamic_axes"] = {n: {0: "batch"} for n in names}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.onnx.export(module.eval(), tuple(args), str(path), **kw)
    return path


def _torch_out(module, *args):
    with torch.no_grad():
        out = module.eval()(*[torch.from_numpy(a) for a in args])
    return out.numpy()


@pytest.mark.parametrize("dynamo", [True, False])
def test_torch_sequential_mlp(dynamo, tmp_path):
    t = _torch()
    t.manual_seed(0)
    net = t.nn.Sequential(t.nn.Linear(8, 16), t.nn.ReLU(), t.nn.Linear(16, 16), t.nn.Tanh(), t.nn.Linear(16, 3),
                          t.nn.Softmax(dim=-1))
    x = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    path = _torch_export(net, [t.from_numpy(x[:2])], tmp_path, dynamo)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops.count("Gemm") == 3  # nn.Linear on 2-D input: Gemm with transB=1
    model = dnnx.onnx.load(path)
    assert model.input_names == ["x"] and [type(l).__name__ for l in model.layers[1:]] == ["Dense"] * 3
    np.testing.assert_allclose(model.predict(x), _torch_out(net, x), rtol=1e-5, atol=1e-6)
    k = model.layers[1].get_weights()[0]
    np.testing.assert_array_equal(k, net[0].weight.detach().numpy().T)  # bitwise: transB=1 undone exactly
    _trains(model, x, np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]], "categorical_crossentropy")


class _Residual:
    @staticmethod
    def make(t):
        class Residual(t.nn.Module):
            def __init__(self):
                super().__init__()
                self.inp = t.nn.Linear(6, 12)
                self.block = t.nn.Linear(12, 12)
                self.head = t.nn.Linear(12, 2)

            def forward(self, x):
                h = t.relu(self.inp(x))
                return self.head(t.tanh(h + self.block(h)))
        t.manual_seed(1)
        return Residual()


@pytest.mark.parametrize("dynamo", [True, False])
def test_torch_residual_module(dynamo, tmp_path):
    t = _torch()
    net = _Residual.make(t)
    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    path = _torch_export(net, [t.from_numpy(x[:2])], tmp_path, dynamo)
    proto = onnx.load(str(path))
    assert {n.op_type for n in proto.graph.node} == {"Gemm", "Relu", "Tanh", "Add"}
    assert proto.opset_import[0].version == 20
    model = dnnx.onnx.load(path)
    assert sum(type(l).__name__ == "Add" for l in model.layers) == 1
    np.testing.assert_allclose(model.predict(x), _torch_out(net, x), rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "imported.dnnx")  # an imported model is an ordinary dnnx model
    np.testing.assert_array_equal(dnnx.load_model(tmp_path / "imported.dnnx").predict(x), model.predict(x))
    _trains(model, x, np.random.default_rng(2).normal(size=(5, 2)).astype(np.float32))


def test_torch_layers_and_activations(tmp_path):
    """PyTorch's legacy exporter: BatchNormalization, exact Gelu, LayerNormalization, SiLU as
    x * Sigmoid(x), a bias-free MatMul, Softsign as x / (|x| + 1), Dropout gone, float64."""
    t = _torch()
    t.manual_seed(2)
    n = t.nn
    net = n.Sequential(n.Linear(6, 8), n.BatchNorm1d(8), n.GELU(), n.LayerNorm(8), n.SiLU(), n.Linear(8, 8, bias=False),
                       n.ELU(0.5), n.LeakyReLU(0.1), n.Dropout(0.3), n.Hardsigmoid(), n.Linear(8, 8), n.Softplus(),
                       n.Softsign(), n.SELU(), n.Linear(8, 4), n.LogSoftmax(dim=-1))
    with t.no_grad():
        net[1].running_mean.uniform_(-1, 1)
        net[1].running_var.uniform_(0.5, 2)
        net[1].weight.uniform_(0.5, 2)
        net[3].bias.uniform_(-1, 1)
    x = np.random.default_rng(3).normal(size=(7, 6)).astype(np.float32)
    model = dnnx.onnx.load(_torch_export(net, [t.from_numpy(x[:2])], tmp_path, False))
    kinds = [type(l).__name__ for l in model.layers[1:]]
    assert kinds.count("BatchNormalization") == 1 and kinds.count("LayerNormalization") == 1
    acts = [l.activation.name for l in model.layers[1:] if hasattr(l, "activation")]
    assert {"gelu", "silu", "elu", "leaky_relu", "hard_sigmoid", "softplus", "softsign", "selu", "log_softmax"} <= set(acts)
    np.testing.assert_allclose(model.predict(x), _torch_out(net, x), rtol=1e-4, atol=1e-5)

    net64 = n.Sequential(n.Linear(6, 5), n.Tanh(), n.Linear(5, 2)).double()
    x64 = x.astype(np.float64)
    model = dnnx.onnx.load(_torch_export(net64, [t.from_numpy(x64[:2])], tmp_path, False))
    assert model.dtype == "float64"
    np.testing.assert_allclose(model.predict(x64), _torch_out(net64, x64), rtol=1e-12, atol=1e-12)


def test_torch_3d_input_embedding_and_two_inputs(tmp_path):
    """nn.Linear on 3-D input (MatMul with the kernel transposed, then Add), nn.Embedding as
    Gather, torch.cat and a second input; the legacy exporter with a fixed batch of 4."""
    t = _torch()

    class Net(t.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = t.nn.Embedding(10, 3)
            self.step = t.nn.Linear(3, 4)
            self.out = t.nn.Linear(8 + 5, 2)

        def forward(self, ids, num):
            h = t.relu(self.step(self.emb(ids)))          # (batch, 2, 4)
            return self.out(t.cat([t.flatten(h, 1), num], dim=1))

    t.manual_seed(3)
    net = Net()
    rng = np.random.default_rng(4)
    ids, num = rng.integers(0, 10, (4, 2)), rng.normal(size=(4, 5)).astype(np.float32)
    for dynamo in (False, True):
        path = _torch_export(net, [t.from_numpy(ids), t.from_numpy(num)], tmp_path, dynamo, names=("ids", "num"),
                             dynamic=False)
        model = dnnx.onnx.load(path)
        assert model.input_names == ["ids", "num"]
        np.testing.assert_allclose(model.predict({"ids": ids, "num": num}), _torch_out(net, ids, num), rtol=1e-5,
                                   atol=1e-6)


# -- scikit-learn (skl2onnx) -------------------------------------------------------------------
def _sk():
    pytest.importorskip("sklearn")
    return pytest.importorskip("skl2onnx")


def _fit(est, x, y):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(x, y)


@pytest.mark.parametrize("labels,activation,zipmap", [
    (np.array([3, 7]), "relu", True), (np.array(["no", "yes"]), "logistic", False),
    (np.array([0, 1, 2, 5]), "tanh", True), (np.array(["a", "b", "c"]), "identity", False)])
def test_sklearn_mlp_classifier(labels, activation, zipmap, tmp_path):
    skl2onnx = _sk()
    from sklearn.neural_network import MLPClassifier
    rng = np.random.default_rng(5)
    x = rng.normal(size=(80, 6)).astype(np.float32)
    y = labels[((x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0).astype(int)) % len(labels)]
    est = _fit(MLPClassifier((9, 5), activation=activation, max_iter=60, random_state=0), x, y)
    proto = skl2onnx.to_onnx(est, x[:1], options={"zipmap": zipmap})
    ops = {n.op_type for n in proto.graph.node}
    assert {"Cast", "ArgMax", "ArrayFeatureExtractor"} <= ops and (("ZipMap" in ops) == zipmap)
    clf = dnnx.onnx.load(proto.SerializeToString())
    assert isinstance(clf, dnnx.onnx.Classifier)
    assert clf.classes_.tolist() == est.classes_.tolist() and clf.binary == (len(labels) == 2)
    np.testing.assert_allclose(clf.predict_proba(x), est.predict_proba(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(x), est.predict(x))
    if not zipmap:
        label, proba = _ort(proto, {"X": x})
        np.testing.assert_allclose(clf.predict_proba(x), proba, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(clf.predict(x), label)
    out = clf.model.output_names[0]
    assert clf.model.predict(x).shape == ((80, 1) if clf.binary else (80, len(labels))), out
    before = (clf.predict(x) == y).mean()
    clf.fit(x, y, epochs=30, batch_size=16, verbose=0)
    assert (clf.predict(x) == y).mean() >= before - 0.05 and len(clf.history_.history["loss"]) == 30
    with pytest.raises(ValueError, match="label 'zzz' is not one of classes_"):
        clf.fit(x[:2], np.array(["zzz", "zzz"]))


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_sklearn_mlp_regressor(activation, tmp_path):
    skl2onnx = _sk()
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(6)
    x = rng.normal(size=(60, 4)).astype(np.float32)
    y = x @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3
    est = _fit(MLPRegressor(hidden_layer_sizes=(7, 3), activation=activation, max_iter=80, random_state=0), x, y)
    proto = skl2onnx.to_onnx(est, x[:1])
    model = dnnx.onnx.load(proto)
    assert isinstance(model, dnnx.Model)
    np.testing.assert_allclose(model.predict(x)[:, 0], est.predict(x), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.predict(x), _ort(proto, {"X": x})[0], rtol=1e-5, atol=1e-6)
    _trains(model, x, y[:, None].astype(np.float32))


def test_sklearn_two_output_regressor_is_refused():
    # skl2onnx writes Reshape(-1, 1) after a two-output MLPRegressor (onnxruntime returns
    # (2n, 1)): a reshape across the batch, which dnnx refuses rather than reproduce
    skl2onnx = _sk()
    from sklearn.neural_network import MLPRegressor
    x = np.random.default_rng(7).normal(size=(30, 3)).astype(np.float32)
    est = _fit(MLPRegressor(hidden_layer_sizes=(4,), max_iter=20), x, x[:, :2])
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match=r"node 'Reshape' \(op Reshape, ai.onnx opset \d+\)"):
        dnnx.onnx.load(skl2onnx.to_onnx(est, x[:1]))


# -- Keras / tf2onnx-style graphs (onnx.helper) -----------------------------------------------
def _graph(nodes, inputs, outputs, inits, opset=13, ml=False, check=True):
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("ai.onnx.ml", 1)] if ml else [])
    g = helper.make_graph(nodes, "tf2onnx", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=imports, producer_name="tf2onnx")
    m.ir_version = 7
    if check:
        onnx.checker.check_model(m)
    return m


def _vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def test_tf2onnx_style_matmul_add_and_gemm():
    rng = np.random.default_rng(8)
    w = {f"dense/kernel:{i}": rng.normal(size=s).astype(np.float32) for i, s in enumerate([(5, 8), (8, 8), (8, 3)])}
    b = {f"dense/bias:{i}": rng.normal(size=(s,)).astype(np.float32) for i, s in enumerate([8, 8, 3])}
    nodes = [
        helper.make_node("MatMul", ["input_1:0", "dense/kernel:0"], ["mm0"], name="dense/MatMul"),
        helper.make_node("Add", ["mm0", "dense/bias:0"], ["add0"], name="dense/BiasAdd"),
        helper.make_node("Relu", ["add0"], ["relu0"], name="dense/Relu"),
        helper.make_node("Identity", ["relu0"], ["id0"]),
        helper.make_node("Gemm", ["id0", "dense/kernel:1", "dense/bias:1"], ["gemm1"], name="dense_1/fused"),
        helper.make_node("Elu", ["gemm1"], ["elu1"], alpha=0.3),
        helper.make_node("Dropout", ["elu1"], ["drop"]),
        helper.make_node("Add", ["drop", "add0"], ["skip"], name="skip"),              # residual (DAG)
        helper.make_node("MatMul", ["skip", "dense/kernel:2"], ["mm2"]),
        helper.make_node("Add", ["dense/bias:2", "mm2"], ["logits"]),                 # bias first
        helper.make_node("Softmax", ["logits"], ["dense_2"], axis=-1),
    ]
    m = _graph(nodes, [_vi("input_1:0", ["unk__6", 5])], [_vi("dense_2", ["unk__7", 3])], {**w, **b})
    model = dnnx.onnx.load(m)
    assert model.input_names == ["input_1:0"] and model.output_names == ["dense_2"]
    kinds = [type(l).__name__ for l in model.layers[1:]]
    assert kinds == ["Dense", "Activation", "Dense", "Add", "Dense"]  # add0 feeds Relu and the skip: not fused
    x = rng.normal(size=(9, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), _ort(m, {"input_1:0": x})[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(model.layers[1].get_weights()[0], w["dense/kernel:0"])
    _trains(model, x, np.eye(3, dtype=np.float32)[np.arange(9) % 3], "categorical_crossentropy")


def test_tf2onnx_style_folded_batchnorm_and_decomposed_layernorm():
    """tf2onnx folds an inference BatchNormalization into Mul + Add after the MatMul; Keras's
    LayerNormalization below opset 17 is ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add."""
    rng = np.random.default_rng(9)
    c = {"k": rng.normal(size=(4, 6)).astype(np.float32), "b": rng.normal(size=(6,)).astype(np.float32),
         "s": rng.uniform(0.5, 2, size=(6,)).astype(np.float32), "t": rng.normal(size=(6,)).astype(np.float32),
         "two": np.array(2.0, np.float32), "eps": np.array(1e-3, np.float32),
         "g": rng.normal(size=(6,)).astype(np.float32), "beta": rng.normal(size=(6,)).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["x", "k"], ["h0"]), helper.make_node("Add", ["h0", "b"], ["h1"]),
             helper.make_node("Mul", ["h1", "s"], ["h2"]), helper.make_node("Add", ["h2", "t"], ["h3"]),
             helper.make_node("ReduceMean", ["h3"], ["mean"], axes=[-1]),
             helper.make_node("Sub", ["h3", "mean"], ["d"]), helper.make_node("Pow", ["d", "two"], ["d2"]),
             helper.make_node("ReduceMean", ["d2"], ["var"], axes=[-1]),
             helper.make_node("Add", ["var", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["sd"]),
             helper.make_node("Div", ["d", "sd"], ["n"]), helper.make_node("Mul", ["n", "g"], ["ng"]),
             helper.make_node("Add", ["ng", "beta"], ["y"])]
    m = _graph(nodes, [_vi("x", ["N", 4])], [_vi("y", ["N", 6])], c)
    model = dnnx.onnx.load(m)
    assert [type(l).__name__ for l in model.layers[1:]] == ["Dense", "LayerNormalization"]
    assert model.layers[2].epsilon == 1e-3
    x = rng.normal(size=(8, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), _ort(m, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_helper_graph_every_supported_op():
    """BatchNormalization, LayerNormalization, Sum/Sub/Mul/Max/Mean merges, Concat, Gather,
    Flatten, Reshape, Squeeze/Unsqueeze, ReduceMean, Cast between floats, Identity, a
    Transpose folded into the weight, and every activation op; two inputs, two outputs."""
    rng = np.random.default_rng(10)
    f = np.float32
    c = {"w": rng.normal(size=(3, 4)).astype(f), "wt": rng.normal(size=(4, 4)).astype(f),
         "table": rng.normal(size=(10, 4)).astype(f), "scale": rng.uniform(0.5, 2, 4).astype(f),
         "bias": rng.normal(size=4).astype(f), "mean": rng.normal(size=4).astype(f),
         "var": rng.uniform(0.5, 2, 4).astype(f), "shape": np.array([0, 2, 4], np.int64),
         "back": np.array([-1, 8], np.int64), "ax": np.array([1], np.int64)}
    acts = [("Relu", {}), ("Tanh", {}), ("Sigmoid", {}), ("Softplus", {}), ("Softsign", {}), ("Elu", {"alpha": 0.5}),
            ("LeakyRelu", {"alpha": 0.1}), ("Selu", {}), ("HardSigmoid", {"alpha": 1 / 6}), ("Gelu", {}),
            ("LogSoftmax", {"axis": 1}), ("Softmax", {"axis": -1})]
    nodes = [helper.make_node("Cast", ["x"], ["xc"], to=TensorProto.FLOAT),
             helper.make_node("Transpose", ["wt"], ["wtt"], perm=[1, 0]),
             helper.make_node("Gemm", ["xc", "w", "bias"], ["h"], beta=0.5),
             helper.make_node("BatchNormalization", ["h", "scale", "bias", "mean", "var"], ["bn"], epsilon=1e-3),
             helper.make_node("Gather", ["table", "ids"], ["emb"], axis=0),             # (N, 2, 4)
             helper.make_node("ReduceMean", ["emb", "ax"], ["pooled"], keepdims=0),
             helper.make_node("Flatten", ["emb"], ["embf"], axis=1),
             helper.make_node("Reshape", ["embf", "shape"], ["emb3"]),
             helper.make_node("Reshape", ["emb3", "back"], ["emb2"]),
             helper.make_node("Unsqueeze", ["pooled", "ax"], ["pu"]),
             helper.make_node("Squeeze", ["pu", "ax"], ["ps"]),
             helper.make_node("LayerNormalization", ["ps", "scale", "bias"], ["ln"], epsilon=1e-4),
             helper.make_node("Sum", ["bn", "ln", "ps"], ["s"]), helper.make_node("Sub", ["bn", "ln"], ["d"]),
             helper.make_node("Mul", ["s", "d"], ["p"]), helper.make_node("Max", ["p", "bn"], ["mx"]),
             helper.make_node("Mean", ["mx", "s", "d"], ["avg"]),
             helper.make_node("MatMul", ["avg", "wtt"], ["lin"])]
    prev = "lin"
    for i, (op, attrs) in enumerate(acts):
        nodes.append(helper.make_node(op, [prev], [f"a{i}"], **attrs))
        prev = f"a{i}"
    nodes += [helper.make_node("Concat", [prev, "avg", "emb2"], ["cat"], axis=1),
              helper.make_node("Identity", ["cat"], ["out2"])]
    m = _graph(nodes, [_vi("x", ["N", 3], TensorProto.DOUBLE), _vi("ids", ["N", 2], TensorProto.INT64)],
               [_vi("out2", ["N", 16]), _vi("ln", ["N", 4])], c, opset=20)
    model = dnnx.onnx.load(m)
    assert model.dtype == "float32" and model.input_names == ["x", "ids"] and model.output_names == ["out2", "ln"]
    x, ids = rng.normal(size=(6, 3)), rng.integers(0, 10, (6, 2))
    got, want = model.predict({"x": x, "ids": ids}), _ort(m, {"x": x, "ids": ids})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


# -- dnnx -> ONNX -> dnnx ----------------------------------------------------------------------
def _round_trip(model, feeds, opset=None):
    again = dnnx.onnx.load(dnnx.onnx.to_model_proto(model, opset))
    a, b = model.get_weights(), again.get_weights()
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u, v)  # bitwise
    assert again.input_names == model.input_names and again.output_names == model.output_names
    for p, q in zip(*[m.predict(feeds) if len(model.outputs) > 1 else [m.predict(feeds)] for m in (model, again)]):
        np.testing.assert_allclose(q, p, rtol=1e-6, atol=1e-7)
    return again


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opset", [13, 20])
def test_round_trip_every_activation(dtype, opset):
    rng = np.random.default_rng(11)
    x = rng.normal(scale=2, size=(6, 5)).astype(dtype)
    for act in ACTIVATIONS:
        model = _randomize(dnnx.Sequential([dnnx.Input(shape=(5,)), layers.Dense(4, activation=act),
                                            layers.Activation(act), layers.Dense(3)], dtype=dtype))
        again = _round_trip(model, x, opset)
        got = [l.activation for l in again.layers if hasattr(l, "activation")]
        want = [l.activation for l in model.layers if hasattr(l, "activation")]
        assert [a for a in got if a.name != "linear"] == [a for a in want if a.name != "linear"], act  # and alphas


@pytest.mark.parametrize("opset", [13, 17, 20])
def test_round_trip_examples(opset):
    x = np.random.default_rng(12).uniform(size=(5, 64)).astype(np.float32)
    _round_trip(_randomize(_example("residual_mlp").build_model()), x, opset)
    mod = _example("wide_and_deep")
    (xt, _), _, vocab = mod.load_table()
    xt = mod.offset_ids(xt, vocab)
    _round_trip(_randomize(mod.build_model(vocab)), {k: v[:7] for k, v in xt.items()}, opset)
    autoencoder, encoder = _example("autoencoder_cluster").build_models()
    _round_trip(_randomize(autoencoder), x, opset)
    _round_trip(encoder, x, opset)


def test_round_trip_3d_layers_and_merges():
    inp = dnnx.Input(shape=(3, 4), name="seq")
    other = dnnx.Input(shape=(6,), name="other")
    h = layers.BatchNormalization()(layers.Dense(6, activation="relu")(inp))   # BN on 3-D: Reshape/BN/Reshape
    pooled = layers.GlobalAveragePooling1D()(layers.LayerNormalization()(h))
    flat = layers.Flatten()(layers.Reshape((9, 2))(h))
    merged = [layers.Subtract()([pooled, other]), layers.Multiply()([pooled, other]),
              layers.Maximum()([pooled, other]), layers.Average()([pooled, other, pooled])]
    out = layers.Concatenate()(merged + [layers.Dense(6)(flat)])
    model = _randomize(dnnx.Model([inp, other], [layers.Dense(2, name="a")(out), layers.Identity(name="b")(pooled)]))
    rng = np.random.default_rng(13)
    feeds = {"seq": rng.normal(size=(4, 3, 4)).astype(np.float32), "other": rng.normal(size=(4, 6)).astype(np.float32)}
    for opset in (13, 20):
        _round_trip(model, feeds, opset)


# -- errors ------------------------------------------------------------------------------------
def _one_node(op, opset=13, **attrs):
    w = np.ones((1, 1, 2, 2), np.float32)
    return _graph([helper.make_node(op, ["x", "w"], ["y"], name="the_conv", **attrs)],
                  [_vi("x", ["N", 1, 4, 4])], [_vi("y", ["N", 1, 3, 3])], {"w": w}, opset=opset)


def test_unsupported_op_names_node_op_and_opset():
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match=r"node 'the_conv' \(op Conv, ai.onnx opset 13\) is not "
                                                         r"supported: dnnx has no layer for this op"):
        dnnx.onnx.load(_one_node("Conv"))


@pytest.mark.parametrize("node,why", [
    (helper.make_node("HardSigmoid", ["x"], ["y"], name="hs"), r"hs.*HardSigmoid.*alpha=0.2"),
    (helper.make_node("Gelu", ["x"], ["y"], name="g", approximate="tanh"), r"g.*Gelu.*opset 20.*tanh"),
    (helper.make_node("Softmax", ["x"], ["y"], name="sm", axis=0), r"sm.*Softmax.*axis=0"),
    (helper.make_node("Flatten", ["x"], ["y"], name="fl", axis=0), r"fl.*Flatten.*axis=0"),
    (helper.make_node("MatMul", ["x", "x"], ["y"], name="mm"), r"mm.*MatMul.*constant weight"),
    (helper.make_node("Add", ["x", "c"], ["y"], name="bias_only"), r"bias_only.*no bias-only layer"),
    (helper.make_node("Concat", ["x", "x"], ["y"], name="cat0", axis=0), r"cat0.*batch"),
])
def test_unsupported_forms(node, why):
    m = _graph([node], [_vi("x", ["N", 4])], [_vi("y", None)], {"c": np.ones(4, np.float32)}, opset=20,
               check=False)
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match=why):
        dnnx.onnx.load(m)


def test_unsupported_dtypes_and_shapes(tmp_path):
    relu = [helper.make_node("Relu", ["x"], ["y"])]
    half = _graph(relu, [_vi("x", ["N", 4], TensorProto.FLOAT16)], [_vi("y", ["N", 4], TensorProto.FLOAT16)], {})
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match="input 'x' has dtype float16"):
        dnnx.onnx.load(half)
    free = _graph(relu, [_vi("x", ["N", "F"])], [_vi("y", ["N", "F"])], {})
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match="input 'x' has an unknown size at axis 1 \\(F\\)"):
        dnnx.onnx.load(free)
    w16 = _graph([helper.make_node("MatMul", ["x", "w"], ["y"])], [_vi("x", ["N", 2])], [_vi("y", ["N", 2])],
                 {"w": np.ones((2, 2), np.float16)})
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match="float16 weights"):
        dnnx.onnx.load(w16)
    with pytest.raises(FileNotFoundError, match="no such file"):
        dnnx.onnx.load(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00not a model")
    with pytest.raises(ValueError, match="is not an ONNX model"):
        dnnx.onnx.load(tmp_path / "junk.onnx")
    with pytest.raises(TypeError, match="expected a path, bytes or an onnx.ModelProto"):
        dnnx.onnx.load(42)


def test_constant_folding_is_bounded():
    big = {"a": np.ones((1 << 14, 1), np.float32), "b": np.ones((1, 1 << 14), np.float32)}
    m = _graph([helper.make_node("Add", ["a", "b"], ["c"], name="outer"), helper.make_node("Add", ["x", "c"], ["y"])],
               [_vi("x", ["N", 4])], [_vi("y", ["N", 4])], big, check=False)
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match="'outer'.*would make 268,435,456 values"):
        dnnx.onnx.load(m)
    grow = _graph([helper.make_node("ConstantOfShape", ["shape"], ["c"], name="grow"),
                   helper.make_node("Add", ["x", "c"], ["y"])], [_vi("x", ["N", 4])], [_vi("y", ["N", 4])],
                  {"shape": np.array([1 << 40], np.int64)}, check=False)
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match="'grow' \\(op ConstantOfShape"):
        dnnx.onnx.load(grow)


def test_multilabel_classifier_is_refused():
    skl2onnx = _sk()
    from sklearn.neural_network import MLPClassifier
    x = np.random.default_rng(14).normal(size=(40, 3)).astype(np.float32)
    est = _fit(MLPClassifier((4,), max_iter=20), x, (x[:, :2] > 0).astype(int))
    with pytest.raises(dnnx.onnx.UnsupportedGraph, match=r"op Binarizer, ai.onnx.ml opset 1"):
        dnnx.onnx.load(skl2onnx.to_onnx(est, x[:1]))


# -- classifiers out and back --------------------------------------------------------------------
@pytest.mark.parametrize("classes", [np.array([4, 9]), np.array(["cat", "dog", "emu"]), np.array([0, 1, 2, 3])])
@pytest.mark.parametrize("zipmap", [False, True])
def test_classifier_export_and_back(classes, zipmap, tmp_path):
    k = len(classes)
    head = layers.Dense(1, activation="sigmoid") if k == 2 else layers.Dense(k, activation="softmax")
    model = _randomize(dnnx.Sequential([dnnx.Input(shape=(5,)), layers.Dense(6, activation="relu"), head]))
    clf = dnnx.onnx.Classifier(model, classes)
    assert clf.binary == (k == 2)
    x = np.random.default_rng(15).normal(size=(12, 5)).astype(np.float32)
    path = tmp_path / "clf.onnx"
    proto = dnnx.onnx.export(clf, path, zipmap=zipmap)
    assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
    assert any(o.domain == "ai.onnx.ml" for o in proto.opset_import) == zipmap
    label, proba = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input_layer": x})
    if zipmap:
        assert list(proba[0]) == classes.tolist()
        proba = np.array([[row[c] for c in classes.tolist()] for row in proba], np.float32)
    np.testing.assert_allclose(proba, clf.predict_proba(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(label, clf.predict(x))
    back = dnnx.onnx.load(path)
    assert isinstance(back, dnnx.onnx.Classifier) and back.binary == clf.binary
    assert back.classes_.tolist() == classes.tolist()
    for a, b in zip(back.model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.predict(x), clf.predict(x))


def test_classifier_errors(tmp_path):
    model = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="one output of 2 probabilities"):
        dnnx.onnx.Classifier(model, [0, 1])
    with pytest.raises(ValueError, match="distinct integer or string labels"):
        dnnx.onnx.Classifier(model, [1, 1, 2])
    with pytest.raises(TypeError, match="model must be a dnnx Model"):
        dnnx.onnx.Classifier("model", [0, 1])
    with pytest.raises(ValueError, match="zipmap=True needs class labels"):
        dnnx.onnx.export(model, tmp_path / "m.onnx", zipmap=True)
    model64 = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(3, activation="softmax")], dtype="float64")
    with pytest.raises(ValueError, match="zipmap=True needs a float32 model"):
        dnnx.onnx.export(dnnx.onnx.Classifier(model64, ["a", "b", "c"]), tmp_path / "m.onnx", zipmap=True)
