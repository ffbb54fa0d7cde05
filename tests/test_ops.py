"""dnnx.ops: every op on symbolic tensors (a C++ graph node) against keras.ops on JAX and
against its own eager NumPy form, and its C++ gradient against central differences in
float64."""


import numpy as np
import pytest

import dnnx
from dnnx import layers, ops
from finite_differences import check_gradients
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(3)
W34 = RNG.standard_normal((4, 3))
W243 = RNG.standard_normal((2, 4, 3))
C23 = RNG.standard_normal((2, 3))
ROW4 = np.array([1.0, 2.0, -0.5, 3.0])
COL3 = np.array([[0.5], [1.0], [2.0]])

# (id, per-sample input shape, fn(ops_module, x)): the same code runs on dnnx.ops (symbolic
# and eager) and on keras.ops.
CASES = [
    ("add", (4,), lambda o, x: o.add(x, o.square(x))),
    ("add_broadcast_tensors", (3, 4), lambda o, x: o.add(x, x[:, 0:1])),
    ("add_scalar", (4,), lambda o, x: o.add(x, 1.5)),
    ("radd_scalar", (4,), lambda o, x: o.add(2.0, x)),
    ("broadcast_constants", (3, 4), lambda o, x: o.add(o.multiply(x, ROW4), COL3)),
    ("subtract", (4,), lambda o, x: o.subtract(o.square(x), x)),
    ("subtract_const", (4,), lambda o, x: o.subtract(x, ROW4)),
    ("rsubtract_scalar", (4,), lambda o, x: o.subtract(2.0, x)),
    ("multiply", (4,), lambda o, x: o.multiply(x, o.exp(x))),
    ("multiply_scalar", (4,), lambda o, x: o.multiply(x, -3.0)),
    ("divide", (4,), lambda o, x: o.divide(x, o.add(o.square(x), 1.0))),
    ("divide_scalar", (4,), lambda o, x: o.divide(x, 3.0)),
    ("rdivide_scalar", (4,), lambda o, x: o.divide(2.0, o.add(o.abs(x), 1.0))),
    ("divide_const", (3, 4), lambda o, x: o.divide(x, COL3)),
    ("negative", (4,), lambda o, x: o.negative(x)),
    ("power_scalar", (4,), lambda o, x: o.power(o.add(o.abs(x), 0.5), 1.5)),
    ("rpower_scalar", (4,), lambda o, x: o.power(2.0, x)),
    ("power_tensors", (4,), lambda o, x: o.power(o.add(o.abs(x), 0.5), x)),
    ("square", (4,), lambda o, x: o.square(x)),
    ("sqrt", (4,), lambda o, x: o.sqrt(o.add(o.abs(x), 0.5))),
    ("abs", (4,), lambda o, x: o.abs(x)),
    ("maximum", (4,), lambda o, x: o.maximum(x, o.multiply(x, 0.5))),
    ("maximum_scalar", (4,), lambda o, x: o.maximum(x, 0.1)),
    ("minimum", (4,), lambda o, x: o.minimum(x, o.square(x))),
    ("minimum_const", (4,), lambda o, x: o.minimum(x, ROW4 * 0.3)),
    ("clip", (4,), lambda o, x: o.clip(x, -0.5, 0.5)),
    ("where", (4,), lambda o, x: o.where(o.relu(o.sign(x)), o.square(x), o.multiply(x, 3.0))),
    ("where_const", (4,), lambda o, x: o.where(o.relu(o.sign(x)), x, ROW4)),
    ("where_greater", (4,), lambda o, x: o.where(o.greater(x, 0.2), x, o.square(x))),
    ("where_operators", (4,), lambda o, x: o.where(x < ROW4 * 0.1, x * 2.0, -x)),
    ("comparisons", (4,), lambda o, x: o.multiply(x, o.add(o.cast(o.greater_equal(x, o.square(x)), "float32"),
                                                            o.cast(o.not_equal(x, 0.5), "float32")))),
    ("less_equal_equal", (4,), lambda o, x: o.where(o.less_equal(x, 0.0), o.cast(o.equal(x, x), "float32"), x)),
    ("matmul_const", (4,), lambda o, x: o.matmul(x, W34)),
    ("matmul_const_3d", (2, 4), lambda o, x: o.matmul(x, W34)),
    ("matmul_vector", (4,), lambda o, x: o.matmul(x, ROW4)),
    ("matmul_tensors", (6,), lambda o, x: o.matmul(o.reshape(x, (-1, 2, 3)), o.reshape(o.square(x), (-1, 3, 2)))),
    ("matmul_const_left", (6,), lambda o, x: o.matmul(C23, o.reshape(x, (-1, 3, 2)))),
    ("dot", (4,), lambda o, x: o.dot(x, W34)),
    ("tensordot_1", (2, 4), lambda o, x: o.tensordot(x, W34, axes=1)),
    ("tensordot_2", (2, 4), lambda o, x: o.tensordot(x, W243, axes=2)),
    ("tensordot_pairs", (4, 2), lambda o, x: o.tensordot(x, W243, axes=([1, 2], [1, 0]))),
    ("sum_last", (3, 4), lambda o, x: o.sum(x, axis=-1)),
    ("sum_axis1_keepdims", (3, 4), lambda o, x: o.sum(x, axis=1, keepdims=True)),
    ("sum_tuple", (2, 3, 4), lambda o, x: o.sum(x, axis=(1, 3))),
    ("mean", (3, 4), lambda o, x: o.mean(x, axis=1)),
    ("max", (3, 4), lambda o, x: o.max(x, axis=-1)),
    ("min", (3, 4), lambda o, x: o.min(x, axis=1, keepdims=True)),
    ("logsumexp", (3, 4), lambda o, x: o.logsumexp(x, axis=-1)),
    ("concatenate_last", (4,), lambda o, x: o.concatenate([x, o.square(x)], axis=-1)),
    ("concatenate_axis1", (3, 4), lambda o, x: o.concatenate([x, o.exp(x)], axis=1)),
    ("stack_axis1", (4,), lambda o, x: o.stack([x, o.multiply(x, 2.0)], axis=1)),
    ("stack_last", (3, 2), lambda o, x: o.stack([x, o.square(x), x], axis=-1)),
    ("reshape", (3, 4), lambda o, x: o.reshape(o.square(x), (-1, 6, 2))),
    ("expand_dims", (4,), lambda o, x: o.multiply(o.expand_dims(x, 1), COL3)),
    ("squeeze", (1, 4), lambda o, x: o.squeeze(o.square(x), axis=1)),
    ("transpose", (3, 4), lambda o, x: o.transpose(x, (0, 2, 1))),
    ("transpose_4d", (2, 3, 4), lambda o, x: o.transpose(x, (0, 3, 1, 2))),
    ("take", (5,), lambda o, x: o.take(x, np.array([4, 0, 4, 1]), axis=1)),
    ("take_axis1_of_3d", (3, 4), lambda o, x: o.take(x, np.array([2, 0]), axis=1)),
    ("getitem_int", (3, 4), lambda o, x: x[:, 1]),
    ("getitem_slice", (3, 4), lambda o, x: x[:, :, 1:3]),
    ("exp", (4,), lambda o, x: o.exp(x)),
    ("log", (4,), lambda o, x: o.log(o.add(o.abs(x), 0.5))),
    ("log1p", (4,), lambda o, x: o.log1p(o.abs(x))),
    ("expm1", (4,), lambda o, x: o.expm1(x)),
    ("reciprocal", (4,), lambda o, x: o.reciprocal(o.add(o.abs(x), 1.0))),
    ("tanh", (4,), lambda o, x: o.tanh(x)),
    ("sigmoid", (4,), lambda o, x: o.sigmoid(x)),
    ("relu", (4,), lambda o, x: o.relu(x)),
    ("softmax", (4,), lambda o, x: o.softmax(x)),
    ("softmax_axis1", (3, 4), lambda o, x: o.softmax(x, axis=1)),
    ("log_softmax", (3, 4), lambda o, x: o.log_softmax(x)),
    ("log_softmax_axis1", (3, 4), lambda o, x: o.log_softmax(x, axis=1)),
    ("nn_relu", (4,), lambda o, x: o.nn.relu(x)),
    ("nn_relu6", (4,), lambda o, x: o.nn.relu6(o.multiply(x, 4.0))),
    ("nn_gelu_approx", (4,), lambda o, x: o.nn.gelu(x)),
    ("nn_gelu_exact", (4,), lambda o, x: o.nn.gelu(x, approximate=False)),
    ("nn_silu", (4,), lambda o, x: o.nn.silu(x)),
    ("nn_softplus", (4,), lambda o, x: o.nn.softplus(x)),
    ("nn_softsign", (4,), lambda o, x: o.nn.softsign(x)),
    ("nn_elu", (4,), lambda o, x: o.nn.elu(x, alpha=0.7)),
    ("nn_selu", (4,), lambda o, x: o.nn.selu(x)),
    ("nn_leaky_relu", (4,), lambda o, x: o.nn.leaky_relu(x, negative_slope=0.1)),
    ("nn_hard_sigmoid", (4,), lambda o, x: o.nn.hard_sigmoid(x)),
    ("nn_hard_silu", (4,), lambda o, x: o.nn.hard_silu(x)),
    ("nn_log_sigmoid", (4,), lambda o, x: o.nn.log_sigmoid(x)),
    ("nn_sigmoid", (4,), lambda o, x: o.nn.sigmoid(x)),
    ("nn_softmax", (3, 4), lambda o, x: o.nn.softmax(x, axis=-1)),
    ("nn_log_softmax", (4,), lambda o, x: o.nn.log_softmax(x)),
    ("logical_and_or", (4,), lambda o, x: o.where(o.logical_or(o.logical_and(x > -0.5, x < 0.5), x > 1.0), x, -x)),
    ("logical_xor_not", (4,), lambda o, x: o.where(o.logical_xor(x > 0.0, o.logical_not(x < 0.7)), x * 2.0, x)),
    ("logical_operators", (4,), lambda o, x: o.where(((x > -0.5) & (x < 0.5)) | ~(x != x), x * 3.0, x)),
    ("chain_of_operators", (4,), lambda o, x: -(x * 2.0 + 1.0) / (abs(x) + 1.0) - x ** 2.0 + 3.0 ** x),
]
IDS = [c[0] for c in CASES]


def _data(shape, n=7):
    return RNG.uniform(-1.5, 1.5, (n, *shape))


def _op_model(shape, fn, dtype="float64"):
    x = dnnx.Input(shape=shape, dtype=dtype)
    return dnnx.Model(x, fn(ops, x), seed=1)


@pytest.mark.parametrize("name,shape,fn", CASES, ids=IDS)
def test_forward_matches_eager_and_keras(name, shape, fn):
    keras = _keras()
    x = _data(shape)
    sym = _op_model(shape, fn).predict(x, verbose=0)
    eager = fn(ops, x)
    assert isinstance(eager, np.ndarray)
    ref = np.asarray(fn(keras.ops, keras.ops.convert_to_tensor(x.astype(np.float32))))
    assert sym.shape == ref.shape == eager.shape, (sym.shape, ref.shape, eager.shape)
    np.testing.assert_allclose(eager, ref, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(sym, ref, rtol=2e-5, atol=2e-6)



@pytest.mark.parametrize("name,shape,fn", CASES, ids=IDS)
def test_gradient_matches_finite_differences(name, shape, fn):
    inp = dnnx.Input(shape=shape, dtype="float64")
    h = layers.Dense(shape[-1])(inp)  # weights before the op: their gradient passes through it
    out = fn(ops, h)
    out = ops.reshape(out, (-1, int(np.prod(out.shape[1:]))))
    out = layers.Dense(2)(out)
    model = dnnx.Model(inp, out, seed=4, dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    x = _data(shape, 6)
    check_gradients(model, x, RNG.standard_normal((6, 2)), samples=8, rng=RNG)


def test_ops_on_integer_inputs_one_hot_and_cast():
    keras = _keras()
    ids = dnnx.Input(shape=(2,), dtype="int64")
    oh = ops.one_hot(ids, 5)                  # (None, 2, 5) from the int64 IDs
    f = ops.cast(ids, "float32")              # IDs as values
    out = ops.concatenate([ops.reshape(oh, (-1, 10)), f * 0.5], axis=-1)
    model = dnnx.Model(ids, out)
    x = np.array([[0, 4], [3, 3], [2, 7]])   # 7 is out of range: a zero row, as Keras/JAX
    ref = np.concatenate([np.asarray(keras.ops.one_hot(x, 5)).reshape(3, 10), x * 0.5], axis=1)
    np.testing.assert_array_equal(model.predict(x, verbose=0), ref)
    # one_hot of computed integer values (a float tensor cast to int), and a gradient path around it
    inp = dnnx.Input(shape=(3,), dtype="float64")
    h = layers.Dense(3)(inp)
    code = ops.one_hot(ops.cast(ops.clip(inp, 0, 3), "int32"), 4)
    out = layers.Dense(2)(ops.concatenate([h, ops.reshape(code, (-1, 12))], axis=-1))
    m = dnnx.Model(inp, out, dtype="float64")
    m.compile(optimizer="sgd", loss="mse")
    check_gradients(m, RNG.uniform(-1, 4, (5, 3)), RNG.standard_normal((5, 2)), samples=8, rng=RNG)


def test_ops_model_trains_in_cpp_like_its_layer_twin():
    """x -> Dense -> ops.relu -> + constant row -> Dense equals the layer-only model with the
    same weights whose constant is a frozen Dense bias."""
    x = RNG.standard_normal((64, 5)).astype(np.float32)
    y = RNG.standard_normal((64, 2)).astype(np.float32)
    inp = dnnx.Input(shape=(5,))
    out = layers.Dense(2, name="o")(ops.relu(layers.Dense(8, name="h")(inp)) * 2.0)
    a = dnnx.Model(inp, out, seed=2)
    inp2 = dnnx.Input(shape=(5,))
    h2 = layers.Dense(8, activation="relu", name="h")(inp2)
    out2 = layers.Dense(2, name="o")(h2)
    b = dnnx.Model(inp2, out2, seed=2)
    w = a.get_weights()
    b.set_weights([w[0], w[1], w[2] * 2.0, w[3]])  # o(2 relu(h)) == (o with kernel * 2)(relu(h))
    np.testing.assert_allclose(a.predict(x, verbose=0), b.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    a.compile(optimizer=dnnx.optimizers.SGD(0.05), loss="mse")
    hist = a.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_errors_name_what_cannot_be_represented():
    x = dnnx.Input(shape=(3, 4))
    with pytest.raises(ValueError, match="axis 0 is the batch axis"):
        ops.sum(x, axis=0)
    with pytest.raises(ValueError, match="batch axis must stay first"):
        ops.transpose(x, (1, 0, 2))
    with pytest.raises(ValueError, match="leading axis would be the batch axis"):
        ops.add(x, np.ones((5, 3, 4)))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        ops.add(x, np.ones((5,)))
    with pytest.raises(ValueError, match="same rank"):
        ops.add(x, dnnx.Input(shape=(4,)))
    with pytest.raises(ValueError, match="batch-wide reduction"):
        ops.exp(ops.mean(x))
    with pytest.raises(TypeError, match="integer model input"):
        ops.exp(dnnx.Input(shape=(2,), dtype="int64"))
    with pytest.raises(ValueError, match="per-sample matrices"):
        ops.matmul(dnnx.Input(shape=(4,)), dnnx.Input(shape=(4,)))


def test_python_control_flow_on_a_tensor_names_the_line():
    x = dnnx.Input(shape=(3,))
    with pytest.raises(TypeError, match=r"cannot be traced \(at .*test_ops.py, line \d+: if x > 0"):
        if x > 0:  # noqa: SIM108 (the point of the test)
            pass
    with pytest.raises(TypeError, match=r"test_ops.py, line \d+: bool\(ops.add\(x, 1.0\)\)"):
        bool(ops.add(x, 1.0))


def test_ops_are_not_model_layers():
    x = dnnx.Input(shape=(3,))
    h = layers.Dense(4, name="d")(x)
    m = dnnx.Model(x, ops.tanh(h) + 1.0)
    assert [l.name for l in m.layers] == [m.layers[0].name, "d"]
    assert len(m.get_weights()) == 2


def test_onnx_export_refuses_op_nodes_by_name(tmp_path):
    pytest.importorskip("onnx")
    x = dnnx.Input(shape=(3,))
    m = dnnx.Model(x, layers.Dense(2)(ops.exp(layers.Dense(4)(x))))
    with pytest.raises(ValueError, match=r"is a dnnx.ops.exp op; ops have no ONNX converter yet"):
        dnnx.onnx.export(m, tmp_path / "m.onnx")


def test_model_with_ops_saves_and_loads(tmp_path):
    x = dnnx.Input(shape=(3, 4))
    h = layers.Dense(4)(x)
    y = ops.concatenate([ops.softmax(h, axis=1), h * 2.0 + ROW4, ops.transpose(h, (0, 2, 1))[:, 0:3]], axis=-1)
    y = ops.sum(ops.where(y > 0.1, y, ops.exp(y)), axis=1) @ RNG.standard_normal((11, 2))
    m = dnnx.Model(x, layers.Dense(2)(y), seed=3)
    a = _data((3, 4)).astype(np.float32)
    m.save(tmp_path / "m.dnnx")
    back = dnnx.load_model(tmp_path / "m.dnnx")
    np.testing.assert_array_equal(back.predict(a, verbose=0), m.predict(a, verbose=0))
    again = dnnx.models.model_from_json(m.to_json())
    again.set_weights(m.get_weights())
    np.testing.assert_array_equal(again.predict(a, verbose=0), m.predict(a, verbose=0))
    from dnnx._op import OpLayer
    with pytest.raises(ValueError, match="spec must be a core layer dict"):
        OpLayer.from_config({"name": "x", "spec": {"type": "dense"}, "shape": [None, 2]})
