"""Subclassed layers and models, traced once into the graph core (no Keras needed here;
tests/test_subclassing_keras.py holds them against Keras 3)."""

import inspect
import os
import sys

import numpy as np
import pytest

import dnnx
from dnnx import layers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))

from residual_block_layer import build_model, residual_block_class  # noqa: E402
from two_tower_recommender import ratings, two_tower_class  # noqa: E402

RNG = np.random.default_rng(3)


class Block(layers.Layer):
    def __init__(self, units, rate=0.25, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.d1 = layers.Dense(units, activation="relu")
        self.drop = layers.Dropout(rate)
        self.bn = layers.BatchNormalization()
        self.d2 = layers.Dense(units)
        self.add = layers.Add()

    def call(self, x, training=None):
        h = self.bn(self.drop(self.d1(x), training=training), training=training)
        return self.add([x, self.d2(h)])


class Net(dnnx.Model):
    def __init__(self, units=6, **kwargs):
        super().__init__(**kwargs)
        self.stem = layers.Dense(units)
        self.block = Block(units)
        self.head = layers.Dense(2, activation="softmax")

    def call(self, x, training=None):
        return self.head(self.block(self.stem(x), training=training))


def twin(units=6, seed=0):
    """The functional model with Net's layers in the same order."""
    inp = dnnx.Input(shape=(4,))
    h = layers.Dense(units)(inp)
    b = layers.BatchNormalization()(layers.Dropout(0.25)(layers.Dense(units, activation="relu")(h)))
    out = layers.Dense(2, activation="softmax")(layers.Add()([h, layers.Dense(units)(b)]))
    return dnnx.Model(inp, out, seed=seed)


def data(n=40):
    return RNG.standard_normal((n, 4)).astype(np.float32), RNG.integers(0, 2, n)


def test_subclassed_model_traces_into_graph_nodes_in_keras_weight_order():
    x, _ = data()
    m = Net(seed=1)
    assert not m.built
    m.predict(x, verbose=0)
    assert m.built and m.name == "net"
    assert [type(l).__name__ for l in m.layers] == ["Dense", "Block", "Dense"]
    assert [type(l).__name__ for l in m._graph.core_layers] == [
        "Dense", "Dense", "Dropout", "BatchNormalization", "Dense", "Add", "Dense"]
    shapes = [w.shape for w in m.get_weights()]
    assert shapes == [(4, 6), (6,), (6, 6), (6,), (6,), (6,), (6,), (6,), (6, 6), (6,), (6, 2), (2,)]
    b = m.block
    assert [w.shape for w in b.weights] == shapes[2:10]
    assert len(b.trainable_weights) == 6 and len(b.non_trainable_weights) == 2  # BN moving statistics
    assert len(m.trainable_weights) == 10 and len(m.non_trainable_weights) == 2


def _structure(spec):
    """A network spec without names: what C++ computes."""
    strip = ("name",)
    return {"inputs": [i["dim"] for i in spec["inputs"]], "nodes": spec["nodes"], "outputs": spec["outputs"],
            "layers": [{k: v for k, v in l.items() if k not in strip} for l in spec["layers"]]}


def test_subclassed_and_functional_twin_are_bitwise_equal():
    x, y = data(64)
    m, f = Net(seed=7), twin(seed=7)
    m.build((None, 4))
    # the traced model is the twin's network: same layers, nodes and wiring for C++
    assert _structure(m._graph.spec("float32", 0)) == _structure(f._graph.spec("float32", 0))
    f.set_weights(m.get_weights())
    np.testing.assert_array_equal(m.predict(x, verbose=0), f.predict(x, verbose=0))
    for model in (m, f):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hm = m.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    hf = f.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    assert hm == hf  # same dropout masks, batch statistics and updates: the same network
    for a, b in zip(m.get_weights(), f.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(m.predict(x, verbose=0), f.predict(x, verbose=0))


def test_training_mode_reaches_dropout_and_batch_norm():
    x, y = data(64)
    m = Net(seed=2)
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    mean, var = m.block.bn.get_weights()[2:]
    assert np.any(mean != 0) and np.any(var != 1)  # fit ran BN in training mode (moving statistics moved)
    p1, p2 = m.predict(x, verbose=0), m.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)  # predict: inference (no dropout)


def test_layer_subclass_in_a_functional_model_summary_config_and_freeze(capsys):
    inp = dnnx.Input(shape=(4,))
    blk = Block(4, name="res")
    out = layers.Dense(1)(blk(inp))
    m = dnnx.Model(inp, out)
    assert [l.name for l in m.layers] == ["input_layer", "res", "dense"]
    m.summary()
    text = capsys.readouterr().out
    assert "res (Block)" in text and "dense (Dense)" in text and "res[0][0]" in text
    assert f"{blk.count_params():,}" in text
    cfg = m.get_config()
    entry = cfg["layers"][1]
    assert entry["class_name"] == "Block" and entry["config"] == {"name": "res", "trainable": True, "units": 4,
                                                                  "rate": 0.25}
    assert entry["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["input_layer", 0, 0]
    assert cfg["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == ["res", 0, 0]
    blk.trainable = False
    assert not blk.d1.trainable and not blk.bn.trainable
    assert len(blk.trainable_weights) == 0 and len(m.trainable_weights) == 2
    m.compile(optimizer="sgd", loss="mse")
    x = RNG.standard_normal((16, 4)).astype(np.float32)
    w0 = blk.get_weights()
    m.fit(x, x[:, :1], epochs=1, verbose=0)
    for a, b in zip(w0, blk.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layer_set_weights_and_standalone_weights():
    blk = Block(3)
    t = blk(dnnx.Input(shape=(3,)))
    assert t.shape == (None, 3) and blk.built
    assert [w.shape for w in blk.get_weights()] == [(3, 3), (3,), (3,), (3,), (3,), (3,), (3, 3), (3,)]
    new = [np.full(w.shape, 0.5, np.float32) for w in blk.get_weights()]
    blk.set_weights(new)
    m = dnnx.Model(blk.input, t)
    for a, b in zip(m.get_weights(), new):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="expects 8 arrays; received 1"):
        blk.set_weights(new[:1])


def test_nested_subclassed_layers_and_models_with_sequential_towers():
    class Outer(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.inner = [Block(4), Block(4)]

        def call(self, x, training=None):
            for b in self.inner:
                x = b(x, training=training)
            return x

    class Towers(dnnx.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.left = dnnx.Sequential([layers.Dense(4, activation="tanh")])
            self.right = Outer()
            self.head = layers.Dense(1)

        def call(self, inputs, training=None):
            a, b = inputs
            return self.head(layers.Concatenate()([self.left(a), self.right(b, training=training)]))

    m = Towers()
    xa, xb = RNG.standard_normal((10, 3)), RNG.standard_normal((10, 4))
    p = m.predict([xa, xb], verbose=0)
    assert p.shape == (10, 1)
    assert [type(l).__name__ for l in m.layers] == ["Sequential", "Outer", "Dense"]
    leaves = m._graph.core_layers
    assert leaves[0] is m.left.layers[0] and leaves[1] is m.right.inner[0].d1  # attribute order
    assert len(m.get_weights()) == 2 + 2 * 8 + 2 + 0
    # the Sequential tower shares its layer: its own predict sees the trained weights
    m.compile(optimizer="sgd", loss="mse")
    m.fit([xa, xb], p + 1, epochs=2, verbose=0)
    np.testing.assert_array_equal(m.left.get_weights()[0], m.get_weights()[0])
    np.testing.assert_allclose(m.left.predict(xa, verbose=0), np.tanh(xa @ m.get_weights()[0] + m.get_weights()[1]),
                               rtol=1e-5, atol=1e-6)


def test_dict_inputs_and_int_ids_two_tower(tmp_path):
    x, y = ratings(n=300)
    TwoTower = two_tower_class(dnnx)
    m = TwoTower(50, 40, dim=4, seed=3)
    m.compile(optimizer="adam", loss="mse")
    m.fit(x, y, epochs=2, verbose=0)
    assert m.input_names == ["user", "item"]
    assert m._graph.input_layers[0].dtype == "int64"
    path = str(tmp_path / "tt.dnnx")
    m.save(path)
    back = dnnx.load_model(path)
    assert type(back) is TwoTower and back.get_config() == m.get_config()
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    h1 = m.fit(x, y, epochs=1, shuffle=False, verbose=0).history  # optimizer state and RNG restored too
    h2 = back.fit(x, y, epochs=1, shuffle=False, verbose=0).history
    assert h1 == h2


def test_save_load_layer_subclass_in_functional_model(tmp_path):
    m = build_model(dnnx, width=8, blocks=2)
    x = RNG.standard_normal((12, 64)).astype(np.float32)
    path = str(tmp_path / "r.dnnx")
    m.save(path)
    back = dnnx.load_model(path)
    assert [type(l).__name__ for l in back.layers] == ["InputLayer", "Dense", "ResidualBlock", "ResidualBlock",
                                                        "Dense"]
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    back2 = dnnx.models.model_from_json(m.to_json())
    assert back2.get_config() == m.get_config()


def test_unregistered_classes_do_not_load_unless_given(tmp_path):
    class Local(dnnx.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = layers.Dense(2)

        def call(self, x):
            return self.d(x)

    m = Local()
    m.build((None, 3))
    path = str(tmp_path / "l.dnnx")
    m.save(path)
    with pytest.raises(ValueError, match=r"unknown model class 'Local': not a dnnx class and not registered"):
        dnnx.load_model(path)
    back = dnnx.load_model(path, custom_objects={"Local": Local})
    np.testing.assert_array_equal(back.get_weights()[0], m.get_weights()[0])
    with pytest.raises(ValueError, match="is not a dnnx.models.Model subclass|is not a dnnx._functional.Model"):
        dnnx.load_model(path, custom_objects={"Local": Block})


def test_get_config_must_be_written_for_non_plain_arguments():
    class Holder(layers.Layer):
        def __init__(self, inner, **kw):
            super().__init__(**kw)
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    h = Holder(layers.Dense(2))
    h(dnnx.Input(shape=(2,)))
    with pytest.raises(NotImplementedError, match="Holder takes constructor arguments that are not plain values"):
        h.get_config()


def _line_of(fn, text):
    lines, start = inspect.getsourcelines(fn)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_untraceable_code_names_the_file_and_line():
    class Branchy(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = layers.Dense(3)

        def call(self, x, training=None):
            if training:
                return self.d(x)
            return x

    class UsesNumpy(dnnx.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = layers.Dense(3)

        def call(self, x):
            return self.d(np.tanh(x))

    class Truthy(dnnx.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.d = layers.Dense(3)

        def call(self, x):
            h = self.d(x)
            while h:
                h = self.d(h)
            return h

    here = os.path.abspath(__file__)
    line = _line_of(Branchy.call, "if training:")
    with pytest.raises(TypeError, match=rf"Branchy.call \({here}, line {line}, in call: `if training:`\): training "
                                        rf"has no truth value"):
        Branchy()(dnnx.Input(shape=(3,)))
    line = _line_of(UsesNumpy.call, "np.tanh")
    with pytest.raises(TypeError, match=rf"UsesNumpy.call \({here}, line {line}, .*NumPy cannot compute on a "
                                        rf"symbolic KerasTensor"):
        UsesNumpy().predict(np.zeros((2, 3)), verbose=0)
    line = _line_of(Truthy.call, "while h:")
    with pytest.raises(TypeError, match=rf"line {line}, in call: `while h:`\): A symbolic KerasTensor has no truth "
                                        rf"value.*control flow"):
        Truthy().build((None, 3))


def test_training_flags_and_call_results_are_checked():
    class Forced(dnnx.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.drop = layers.Dropout(0.5)
            self.d = layers.Dense(2)

        def call(self, x):
            return self.d(self.drop(x, training=True))

    with pytest.raises(ValueError, match=r"Forced.call .*Dropout: training=True is not supported inside a traced model"):
        Forced().build((None, 2))

    class ReturnsInput(layers.Layer):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="ReturnsInput.call must return a tensor it computed from its inputs"):
        ReturnsInput()(dnnx.Input(shape=(2,)))

    class ReturnsNothing(dnnx.Model):
        def call(self, x):
            return None

    with pytest.raises(TypeError, match="ReturnsNothing.call must return a tensor, a list or a dict of tensors"):
        ReturnsNothing().build((None, 2))
    with pytest.raises(TypeError, match="must be called on a dnnx.Input tensor"):
        Block(2)("text")
    eager = Block(2)(np.zeros((2, 2)))  # on arrays: built and run (inference mode), NumPy out as in Keras
    assert isinstance(eager, np.ndarray) and eager.shape == (2, 2)
    with pytest.raises(ValueError, match="build: input_shape must be a tuple"):
        Net().build("wide")


def test_register_keras_serializable_checks_arguments():
    with pytest.raises(ValueError, match="package must be a non-empty string without '>'"):
        dnnx.saving.register_keras_serializable(package="a>b")
    reg = dnnx.saving.register_keras_serializable(package="tests", name="Blk")(Block)
    assert reg is Block and dnnx.saving.get_registered_name(Block) == "tests>Blk"
    assert dnnx.saving.get_registered_object("tests>Blk") is Block
    assert residual_block_class(dnnx).__name__ == "ResidualBlock"


@pytest.mark.parametrize("name", ["residual_block_layer", "two_tower_recommender"])
def test_examples_learn(name, capsys):
    mod = __import__(name)
    _, score = mod.main(epochs=8 if name == "residual_block_layer" else 15)
    if name == "residual_block_layer":
        assert score > 0.85
    else:
        _, y = ratings()
        assert score < 0.5 * float(y[3200:].var())
