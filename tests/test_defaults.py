"""Each default is written once, in C++, and the Python classes read it from _core."""

import inspect

import pytest

from dnnx import _core, metrics, optimizers

# Keras 3's defaults: what the single C++ home must hold.
KERAS = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False},
    "adamw": {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
              "amsgrad": False},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False},
    "adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
    "nadam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
}
CLASSES = {"sgd": optimizers.SGD, "adam": optimizers.Adam, "adamw": optimizers.AdamW,
           "rmsprop": optimizers.RMSprop, "adagrad": optimizers.Adagrad, "nadam": optimizers.Nadam}


def signature_defaults(fn):
    return {n: p.default for n, p in inspect.signature(fn).parameters.items()
            if p.default is not inspect.Parameter.empty}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_optimizer_defaults_come_from_core(name):
    core = _core._defaults()["optimizers"][name]
    for key, value in KERAS[name].items():
        assert core[key] == value, (name, key)
    sig = signature_defaults(CLASSES[name].__init__)
    assert sig == {k: core[k] for k in sig}, name
    assert set(sig) == set(KERAS[name])
    opt = CLASSES[name]()
    assert opt.learning_rate == core["learning_rate"]
    if name != "adamw":
        assert core["weight_decay"] == 0 and opt.weight_decay is None  # None: C++'s 0


def test_optimizer_config_without_learning_rate_gets_the_class_default():
    assert optimizers.deserialize({"name": "sgd"}).learning_rate == 0.01
    assert optimizers.deserialize({"name": "adam"}).learning_rate == 0.001
    assert optimizers.deserialize({"name": "adamw"}).weight_decay == 0.004


def test_metric_defaults_come_from_core():
    core = _core._defaults()["metrics"]
    assert core == {"k": 5, "num_thresholds": 200, "threshold": 0.5}
    assert metrics.TopKCategoricalAccuracy().k == core["k"]
    assert metrics.AUC().num_thresholds == core["num_thresholds"]
    assert metrics.BinaryAccuracy().threshold == metrics.Precision().threshold == core["threshold"]
    spec = metrics.Metric().spec("m")
    assert {k: spec[k] for k in core} == core
    for cfg in ({"class": "auc", "name": "auc"}, {"class": "top_k_categorical_accuracy", "name": "t"},
                {"class": "precision", "name": "p"}):
        m = metrics.deserialize(cfg)
        assert metrics.serialize(m) == metrics.serialize(type(m)()) | {"name": cfg["name"]}


@pytest.mark.parametrize("name", sorted(KERAS))
def test_python_spec_trains_like_the_bare_core_defaults(name):
    """A default-constructed Python optimizer sends the hyper-parameters that the binding
    would pick for {"name": name} alone: the same weights after a few steps."""
    import numpy as np

    from core_util import classification_data, dense, make_net

    x, y = classification_data(32, 4, 3)
    loss = {"name": "sparse_categorical_crossentropy"}
    spec = CLASSES[name]().spec()
    nets = [make_net([dense(5, "tanh"), dense(3, "softmax")], 4, loss, opt) for opt in ({"name": name}, spec)]
    for _ in range(3):
        for net in nets:
            net.train_batch(x, y, None, spec["learning_rate"])
    for a, b in zip(nets[0].params(), nets[1].params()):
        assert np.array_equal(a, b)
