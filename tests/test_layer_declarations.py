"""Each layer is declared once, in C++ (cpp/include/dnnx/layer_decl.hpp): the bindings
parse layer dicts from the declaration, and the Python classes take their defaults and
their spec() from it."""

import inspect

import numpy as np

import dnnx
from dnnx import _core, layers
from dnnx.layers import LAYER_CLASSES


def test_every_declared_layer_has_a_python_class_and_back():
    declared = set(_core.layer_declarations())
    assert "op" in declared  # not a layer class: the nodes dnnx.ops records (dnnx._op.OpLayer)
    declared.discard("op")
    assert declared == set(LAYER_CLASSES), (declared ^ set(LAYER_CLASSES))


def test_python_defaults_are_the_declared_ones():
    checked = 0
    for type_name, cls in LAYER_CLASSES.items():
        params = inspect.signature(cls.__init__).parameters
        for field in _core.layer_declarations()[type_name]["fields"]:
            p = params.get(field["key"])
            if p is None or p.default is inspect.Parameter.empty or field["default"] is None:
                continue
            default, given = field["default"], p.default
            if field["type"] == "initializer":
                given = given if isinstance(given, str) else {k: v for k, v in given.spec().items()
                                                              if k in default or k == "name"}
                default = default["name"] if isinstance(given, str) else default
            if field["type"] == "activation" and p.default is None:
                continue  # None means linear, the declared default
            assert given == default, (type_name, field["key"], given, default)
            checked += 1
    assert checked >= 8


def test_spec_is_built_from_the_declaration():
    inp = dnnx.Input(shape=(3, 4))
    d = layers.Dense(7, activation="leaky_relu", use_bias=False, kernel_regularizer=dnnx.regularizers.L2(0.5))
    d(inp)
    spec = d.spec()
    keys = {"type", "name"}
    for f in _core.layer_declarations()["dense"]["fields"]:
        keys |= {f["key"], f["key"] + "_alpha"} if f["type"] == "activation" else {f["key"]}
    assert set(spec) == keys
    assert spec["units"] == 7 and spec["use_bias"] is False and spec["activation"] == "leaky_relu"
    assert spec["activation_alpha"] == 0.2 and spec["kernel_regularizer"] == {"l1": 0.0, "l2": 0.5}
    pool = layers.GlobalAveragePooling1D()
    pool(inp)
    assert pool.spec() == {"type": "global_average_pooling1d", "name": pool.name, "steps": 3}
    model = dnnx.Model(inp, layers.Dense(1)(pool(inp)))
    assert model.predict(np.zeros((2, 3, 4), np.float32)).shape == (2, 1)
