"""Subclassed layers that return several tensors (a tuple, list or dict), and subclassed
models used inside functional models: traced into the same C++ graph, saved and loaded,
and against Keras 3 on JAX."""


import numpy as np
import pytest

import dnnx
from dnnx import layers, ops
from keras_oracle import keras_or_skip as _keras

RNG = np.random.default_rng(17)


@dnnx.saving.register_keras_serializable(package="test_structures")
class Split(layers.Layer):
    """Two heads of one hidden layer, returned as a tuple (or a dict)."""

    def __init__(self, units=5, as_dict=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.as_dict = as_dict
        self.hidden = layers.Dense(units, activation="tanh")
        self.left = layers.Dense(2)
        self.right = layers.Dense(3)

    def call(self, x):
        h = self.hidden(x)
        a, b = self.left(h), self.right(h) * 2.0
        return {"left": a, "right": b} if self.as_dict else (a, b)


def _split_functional(as_dict=False, seed=3):
    inp = dnnx.Input(shape=(4,))
    parts = Split(as_dict=as_dict, name="split")(inp)
    a, b = (parts["left"], parts["right"]) if as_dict else parts
    out = layers.Dense(1, name="head")(layers.Concatenate()([a, b]))
    return dnnx.Model(inp, out, seed=seed)


def _split_reference(model, x):
    w = model.get_weights()
    h = np.tanh(x @ w[0] + w[1])
    a, b = h @ w[2] + w[3], (h @ w[4] + w[5]) * 2.0
    return np.concatenate([a, b], axis=1) @ w[6] + w[7]


@pytest.mark.parametrize("as_dict", [False, True], ids=["tuple", "dict"])
def test_multi_output_layer_in_a_functional_model(as_dict, tmp_path):
    m = _split_functional(as_dict)
    x = RNG.standard_normal((9, 4)).astype(np.float32)
    assert [l.name for l in m.layers] == ["input_layer", "split", "concatenate", "head"]
    split = m.get_layer("split")
    out = split.output
    assert isinstance(out, dict if as_dict else tuple)
    assert [t.shape for t in (out.values() if as_dict else out)] == [(None, 2), (None, 3)]
    np.testing.assert_allclose(m.predict(x, verbose=0), _split_reference(m, x), rtol=1e-5, atol=1e-6)
    lines = []
    m.summary(print_fn=lines.append)
    assert any(line.startswith("split (Split)") and "[(None, 2), (None, 3)]" in line for line in lines)
    # the config names each output of the call by its tensor index (Keras's flatten order)
    cfg = m.get_config()
    concat = next(e for e in cfg["layers"] if e["name"] == "concatenate")
    hist = [t["config"]["keras_history"] for t in concat["inbound_nodes"][0]["args"][0]]
    assert hist == [["split", 0, 0], ["split", 0, 1]]
    m.save(tmp_path / "m.dnnx")
    back = dnnx.load_model(tmp_path / "m.dnnx")
    np.testing.assert_array_equal(back.predict(x, verbose=0), m.predict(x, verbose=0))
    m.compile(optimizer="sgd", loss="mse")
    y = RNG.standard_normal((9, 1)).astype(np.float32)
    h = m.fit(x, y, epochs=3, batch_size=3, verbose=0).history["loss"]
    assert h[-1] < h[0]


def test_multi_output_layer_tensors_as_model_outputs():
    inp = dnnx.Input(shape=(4,))
    a, b = Split(name="split")(inp)
    m = dnnx.Model(inp, {"a": a, "b": b}, seed=1)
    x = RNG.standard_normal((6, 4)).astype(np.float32)
    assert m.output_names == ["a", "b"]
    pa, pb = m.predict(x, verbose=0)
    w = m.get_weights()
    h = np.tanh(x @ w[0] + w[1])
    np.testing.assert_allclose(pa, h @ w[2] + w[3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pb, (h @ w[4] + w[5]) * 2.0, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="come from the same layer"):
        dnnx.Model(inp, [a, b])


class TwoHeads(dnnx.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.split = Split()
        self.out = layers.Dense(1)

    def call(self, x):
        a, b = self.split(x)
        return self.out(ops.concatenate([a, b], axis=-1))


def test_multi_output_layer_in_a_subclassed_model_is_its_functional_twin():
    x = RNG.standard_normal((8, 4)).astype(np.float32)
    m = TwoHeads(seed=2)
    f = _split_functional(seed=2)
    m.build((None, 4))
    f.set_weights(m.get_weights())
    np.testing.assert_array_equal(m.predict(x, verbose=0), f.predict(x, verbose=0))
    np.testing.assert_allclose(m.predict(x, verbose=0), _split_reference(m, x), rtol=1e-5, atol=1e-6)


def test_multi_output_layer_errors():
    class Bad(layers.Layer):
        def __init__(self, what, **kwargs):
            super().__init__(**kwargs)
            self.what = what
            self.d = layers.Dense(2)

        def call(self, x):
            h = self.d(x)
            return {"input": (h, x), "twice": [h, h], "none": (h, None), "empty": ()}[self.what]

    inp = dnnx.Input(shape=(3,))
    with pytest.raises(ValueError, match="must return a tensor it computed from its inputs"):
        Bad("input")(inp)
    with pytest.raises(ValueError, match="returns the same tensor twice"):
        Bad("twice")(inp)
    with pytest.raises(TypeError, match=r"must return a tensor, or a tuple, list or dict"):
        Bad("none")(inp)
    with pytest.raises(TypeError, match=r"must return a tensor, or a tuple, list or dict"):
        Bad("empty")(inp)


def test_multi_output_layer_matches_keras():
    keras = _keras()

    class KSplit(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = keras.layers.Dense(5, activation="tanh")
            self.left = keras.layers.Dense(2)
            self.right = keras.layers.Dense(3)

        def call(self, x):
            h = self.hidden(x)
            return self.left(h), self.right(h) * 2.0

    kin = keras.Input(shape=(4,))
    ka, kb = KSplit()(kin)
    km = keras.Model(kin, keras.layers.Dense(1)(keras.layers.Concatenate()([ka, kb])))
    dm = _split_functional(seed=4)
    km.set_weights(dm.get_weights())
    x = RNG.standard_normal((32, 4)).astype(np.float32)
    y = RNG.standard_normal((32, 1)).astype(np.float32)
    np.testing.assert_allclose(dm.predict(x, verbose=0), np.asarray(km.predict(x, verbose=0)), rtol=1e-5,
                               atol=1e-6)
    dm.compile(optimizer=dnnx.optimizers.SGD(0.05), loss="mse")
    km.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    dh = dm.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    kh = km.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(dh, kh, rtol=1e-4)


class DictOut(dnnx.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.h = layers.Dense(4, activation="tanh")
        self.a = layers.Dense(2)
        self.b = layers.Dense(1)

    def call(self, x):
        h = self.h(x)
        return {"score": self.a(h), "value": self.b(h)}


def test_dict_loss_on_a_subclassed_model_compiled_before_its_first_call():
    x = RNG.standard_normal((12, 4)).astype(np.float32)
    ya = RNG.standard_normal((12, 2)).astype(np.float32)
    yb = RNG.standard_normal((12, 1)).astype(np.float32)
    m = DictOut(seed=3)
    m.compile(optimizer="sgd", loss={"score": "mse", "value": "mae"}, loss_weights={"score": 2.0, "value": 1.0})
    logs = m.evaluate(x, {"score": ya, "value": yb}, verbose=0, return_dict=True)
    assert m.output_names == ["score", "value"]
    pa, pb = m.predict(x, verbose=0)
    np.testing.assert_allclose([logs["score_loss"], logs["value_loss"]],
                               [np.mean((ya - pa) ** 2), np.mean(np.abs(yb - pb))], rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 2 * logs["score_loss"] + logs["value_loss"], rtol=1e-5)
    h = m.fit(x, {"score": ya, "value": yb}, epochs=2, verbose=0).history
    assert set(h) == {"loss", "score_loss", "value_loss"}
    bad = DictOut()
    bad.compile(optimizer="sgd", loss={"score": "mse", "typo": "mae"})
    with pytest.raises(ValueError, match=r"loss has key\(s\) \['typo'\] that name no model output; the outputs are "
                                         r"\['score', 'value'\]"):
        bad.fit(x, {"score": ya, "value": yb}, epochs=1, verbose=0)
