"""Bad input at every public entry point: a ValueError or TypeError naming the argument, what
was expected and what was given, raised before any work (the GIL is never released on bad
input). Covers dtypes (strings, objects, complex, datetimes, bool), ndim, empty arrays,
labels out of range or negative, mismatched lengths, non-positive sizes, rates out of
range, unknown names (listing the valid ones), wrong weight counts/shapes and sizes whose
products overflow; plus the opt-in up-front check for NaN/inf."""

import numpy as np
import pytest

import dnnx
from dnnx import _core, layers


@pytest.fixture
def clf():
    m = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(5, activation="relu"),
                         layers.Dense(3, activation="softmax")], seed=0)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


@pytest.fixture
def graph():
    num = dnnx.Input(shape=(2,), name="num")
    ids = dnnx.Input(shape=(1,), dtype="int64", name="ids")
    h = layers.Concatenate()([num, layers.Flatten()(layers.Embedding(5, 2)(ids))])
    m = dnnx.Model([num, ids], layers.Dense(1, activation="sigmoid", name="p")(h), seed=0)
    m.compile(optimizer="sgd", loss="binary_crossentropy")
    return m


X = np.zeros((6, 4), np.float32)
Y = np.array([0, 1, 2, 0, 1, 2])

ENTRY = {
    "fit": lambda m, x, y: m.fit(x, y, verbose=0),
    "evaluate": lambda m, x, y: m.evaluate(x, y, verbose=0),
    "train_on_batch": lambda m, x, y: m.train_on_batch(x, y),
    "test_on_batch": lambda m, x, y: m.test_on_batch(x, y),
    "compute_gradients": lambda m, x, y: m.compute_gradients(x, y),
    "predict": lambda m, x, y: m.predict(x, verbose=0),
    "predict_on_batch": lambda m, x, y: m.predict_on_batch(x),
}


@pytest.mark.parametrize("entry", list(ENTRY))
@pytest.mark.parametrize("x, exc, match", [
    (np.array([["a", "b", "c", "d"]] * 6), TypeError, r"x must hold real numbers .* received dtype <U1"),
    (np.zeros((6, 4), object), TypeError, r"x must hold real numbers .* received dtype object"),
    (np.zeros((6, 4), np.complex64), TypeError, r"x must hold real numbers .* received dtype complex64"),
    (np.zeros((6, 4), "datetime64[s]"), TypeError, r"received dtype datetime64\[s\]"),
    (np.zeros((6, 4), bool), TypeError, r"received dtype bool"),
    (np.zeros(6, np.float32), ValueError, r"x must be 2-D with shape \(n, 4\); received shape \(6,\)"),
    (np.zeros((6, 4, 2), np.float32), ValueError, r"x must be 2-D with shape \(n, 4\); received shape \(6, 4, 2\)"),
    (np.zeros((6, 5), np.float32), ValueError, r"x must have shape \(n, 4\) .*; received shape \(6, 5\)"),
    (np.float32(3.0), ValueError, r"x must be 2-D .* received shape \(\)"),
    ("abc", TypeError, r"x must hold real numbers"),
    ([[1, 2], [3]], TypeError, r"x must be array-like"),
    (None, ValueError, r"x (and y )?(is|are) required"),
    ({"wrong": X}, ValueError, r"unknown key\(s\) \['wrong'\]; expected keys from \["),
])
def test_bad_x(clf, entry, x, exc, match):
    with pytest.raises(exc, match=match):
        ENTRY[entry](clf, x, Y)


@pytest.mark.parametrize("entry", ["fit", "evaluate", "train_on_batch", "test_on_batch", "compute_gradients"])
@pytest.mark.parametrize("y, exc, match", [
    (np.array([0, 1, 3, 0, 1, 2]), ValueError, r"labels in \[0, 3\] but the model outputs 3 classes"),
    (np.array([0, -1, 2, 0, 1, 2]), ValueError, r"labels in \[-1, 2\]"),
    (np.array([0, 1.5, 2, 0, 1, 2]), ValueError, r"integer class labels"),
    (np.array([0, np.nan, 2, 0, 1, 2]), ValueError, r"integer class labels"),
    (np.array([0, 1, 2]), ValueError, r"y must have 6 rows \(one per sample of x\); received shape \(3,\)"),
    (np.array(["a"] * 6), TypeError, r"y must hold real numbers .* received dtype <U1"),
    (np.zeros((6, 3)), ValueError, r"integer class labels with shape \(6,\)"),
    (None, ValueError, r"y|targets"),
])
def test_bad_y(clf, entry, y, exc, match):
    with pytest.raises(exc, match=match):
        ENTRY[entry](clf, X, y)


def test_empty_arrays(clf):
    with pytest.raises(ValueError, match="x is empty"):
        clf.fit(np.zeros((0, 4), np.float32), np.zeros(0), verbose=0)
    with pytest.raises(ValueError, match="x is empty"):
        clf.evaluate(np.zeros((0, 4), np.float32), np.zeros(0), verbose=0)
    with pytest.raises(ValueError, match="batch is empty"):
        clf.train_on_batch(np.zeros((0, 4), np.float32), np.zeros(0))
    assert clf.predict(np.zeros((0, 4), np.float32), verbose=0).shape == (0, 3)  # NumPy-like: no rows in, none out


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, r"batch_size must be a positive integer. Received: batch_size=0"),
    ({"batch_size": -3}, r"batch_size must be a positive integer"),
    ({"batch_size": 2.5}, r"batch_size must be a positive integer. Received: batch_size=2.5"),
    ({"batch_size": True}, r"batch_size must be a positive integer"),
    ({"batch_size": 2**63}, r"batch_size must be a positive integer \(at most 2\*\*62\)"),
    ({"epochs": -1}, r"epochs must be a non-negative integer"),
    ({"epochs": 1.5}, r"epochs must be a non-negative integer"),
    ({"validation_split": 1.0}, r"validation_split must be in \[0, 1\)"),
    ({"validation_split": -0.1}, r"validation_split must be in \[0, 1\)"),
    ({"validation_split": float("nan")}, r"validation_split must be in \[0, 1\)"),
    ({"validation_freq": 0}, r"validation_freq must be a positive integer"),
    ({"verbose": 3}, r"verbose must be 0, 1, 2 or 'auto'"),
    ({"sample_weight": np.ones(5)}, r"sample_weight must have shape \(6,\); received shape \(5,\)"),
    ({"sample_weight": -np.ones(6)}, r"sample_weight must be finite and non-negative"),
    ({"sample_weight": np.array(["a"] * 6)}, r"sample_weight must hold real numbers"),
    ({"class_weight": {-1: 2.0}}, r"class_weight keys must be non-negative class indices"),
    ({"class_weight": [1, 2]}, r"class_weight must be a dict"),
    ({"initial_epoch": -1}, r"initial_epoch must be a non-negative integer"),
    ({"callbacks": [object()]}, r"callbacks must be dnnx.callbacks.Callback instances"),
    ({"validation_data": (X,)}, r"validation_data must be a tuple \(x_val, y_val\)"),
])
def test_bad_fit_arguments(clf, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, Y, **{"verbose": 0, **kwargs})


@pytest.mark.parametrize("bs", [0, -1, 2.5, 2**63, "4"])
def test_bad_batch_size_in_evaluate_and_predict(clf, bs):
    with pytest.raises((ValueError, TypeError), match="batch_size must be a positive integer"):
        clf.evaluate(X, Y, batch_size=bs, verbose=0)
    with pytest.raises((ValueError, TypeError), match="batch_size must be a positive integer"):
        clf.predict(X, batch_size=bs, verbose=0)


def test_graph_inputs(graph):
    num = np.zeros((4, 2), np.float32)
    ids = np.array([[0], [1], [4], [2]])
    y = np.zeros(4)
    graph.fit({"num": num, "ids": ids}, y, verbose=0)
    with pytest.raises(ValueError, match=r"IDs? .*5|input_dim|out of range|\[0, 5\)"):
        graph.fit({"num": num, "ids": np.array([[0], [5], [1], [1]])}, y, verbose=0)
    with pytest.raises(ValueError, match=r"IDs? .*-1|out of range|\[0, 5\)"):
        graph.predict({"num": num, "ids": np.array([[0], [-1], [1], [1]])}, verbose=0)
    with pytest.raises(TypeError, match=r"IDs must be an integer array .* received dtype float32"):
        graph.predict({"num": num, "ids": ids.astype(np.float32)}, verbose=0)
    with pytest.raises(ValueError, match=r"all inputs must have the same number of samples; received"):
        graph.predict({"num": num[:3], "ids": ids}, verbose=0)
    with pytest.raises(ValueError, match=r"no data for \['ids'\]"):
        graph.predict({"num": num}, verbose=0)
    with pytest.raises(ValueError, match=r"expected 2 arrays \(one per \['num', 'ids'\]\); received 3"):
        graph.predict([num, ids, ids], verbose=0)
    with pytest.raises(ValueError, match=r"IDs above the int64 range"):
        graph.predict({"num": num, "ids": np.full((4, 1), 2**64 - 1, np.uint64)}, verbose=0)


def test_set_weights(clf):
    ws = clf.get_weights()
    with pytest.raises(ValueError, match=r"the model has 4 weight arrays; received 3"):
        clf.set_weights(ws[:3])
    with pytest.raises(ValueError, match=r"weight 0 \(dense/kernel\) must have shape \(4, 5\); received \(5, 4\)"):
        clf.set_weights([ws[0].T] + ws[1:])
    with pytest.raises(TypeError, match=r"weight 1 \(dense/bias\) must hold real numbers .* complex64"):
        clf.set_weights([ws[0], ws[1] + 1j] + ws[2:])
    with pytest.raises(TypeError, match=r"weight 0 .* must hold real numbers .* <U1"):
        clf.set_weights([np.full((4, 5), "a")] + ws[1:])
    layer = clf.layers[0]
    with pytest.raises(ValueError, match=r"set_weights expects 2 arrays; received 1"):
        layer.set_weights(ws[:1])
    with pytest.raises(TypeError, match=r"set_weights: weight 0 must hold real numbers .* object"):
        layer.set_weights([np.zeros((4, 5), object), ws[1]])
    np.testing.assert_array_equal(clf.get_weights()[0], ws[0])  # nothing was half-written


@pytest.mark.parametrize("make, match", [
    (lambda: layers.Dense(0), r"units must be in \[1, inf\]. Received: units=0"),
    (lambda: layers.Dense(-2), r"units"),
    (lambda: layers.Dense(3, activation="sparkle"), r"Unknown activation 'sparkle'. Valid names: elu, "),
    (lambda: layers.Dropout(1.5), r"rate"),
    (lambda: layers.Dropout(-0.1), r"rate"),
    (lambda: layers.Embedding(0, 3), r"input_dim"),
    (lambda: dnnx.optimizers.Adam(learning_rate=-1.0), r"learning_rate must be in \[0, inf\]"),
    (lambda: dnnx.optimizers.SGD(momentum=1.5), r"momentum"),
    (lambda: dnnx.optimizers.Adam(beta_1=1.0), r"beta_1"),
    (lambda: dnnx.optimizers.get("sparkle"), r"sparkle.*(adam|sgd)"),
    (lambda: dnnx.losses.get("sparkle"), r"sparkle.*(mse|mean_squared_error)"),
    (lambda: dnnx.metrics.get("sparkle"), r"sparkle.*(accuracy|auc)"),
])
def test_bad_constructor_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_unknown_names_list_the_valid_ones(clf):
    with pytest.raises(ValueError, match=r"sparkle.*adam.*sgd|sparkle.*sgd.*adam"):
        clf.compile(optimizer="sparkle", loss="mse")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['nope'\]|nope"):
        clf.compile(optimizer="adam", loss={"nope": "mse"})


@pytest.mark.parametrize("shape", [(2**40, 2**40), (2**62,), (2**31, 2**31, 4)])
def test_overflowing_sizes(shape):
    with pytest.raises((ValueError, MemoryError), match="too large|too wide|memory|overflow"):
        m = dnnx.Sequential([dnnx.Input(shape=shape), layers.Flatten(), layers.Dense(2)])
        m.build()


def test_core_rejects_bad_specs_before_allocating():
    base = {"dtype": "float32", "input_dim": 3, "layers": [{"type": "dense", "units": 2}]}
    for spec, match in [
        (dict(base, input_dim=0), "input_dim must be a positive integer"),
        (dict(base, input_dim=2**70), "out of range"),
        (dict(base, layers=[{"type": "dense", "units": 2**62}], input_dim=2**10), "too large"),
        (dict(base, layers=[{"type": "dense", "units": -1}]), "units"),
        (dict(base, layers=[{"type": "sparkle"}]), "must be one of dense, .*; received 'sparkle'"),
        (dict(base, dtype="float16"), "'dtype' must be 'float32' or 'float64'"),
        (dict(base, layers=[{"type": "dense", "units": 2, "unitz": 3}]), "unknown key 'unitz'; allowed keys"),
        (dict(base, layers=[{"type": "dropout", "rate": 1.0}]), "rate"),
    ]:
        with pytest.raises((ValueError, MemoryError), match=match):
            _core.Network(spec)


def test_core_array_checks():
    net = _core.Network({"dtype": "float32", "input_dim": 3, "layers": [{"type": "dense", "units": 2}],
                         "loss": {"name": "mse"}, "optimizer": {"name": "sgd"}})
    x, y = np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32)
    with pytest.raises(TypeError, match=r"x must be float32 \(the network dtype\); received float64"):
        net.predict(x.astype(np.float64))
    with pytest.raises(ValueError, match=r"x must be C-contiguous"):
        net.predict(np.zeros((3, 4), np.float32).T)
    with pytest.raises(ValueError, match=r"y must have shape \(4, 2\); received \(4, 3\)"):
        net.train_batch(x, np.zeros((4, 3), np.float32), None, 0.1)
    with pytest.raises(ValueError, match=r"out must be writable"):
        out = np.zeros((4, 2), np.float32)
        out.flags.writeable = False
        net.predict(x, 0, out)
    with pytest.raises(ValueError, match=r"batch_size must be >= 1"):
        net.train_epoch(x, y, None, 0, True, 0, np.zeros(1), None, 0)
    with pytest.raises(ValueError, match=r"learning_rates must have shape \(2,\)"):
        net.train_epoch(x, y, None, 2, True, 0, np.zeros(3), None, 0)
    net.train_batch(x, y, None, 0.0)  # a learning rate of 0 is a valid step


# -- non-finite values ---------------------------------------------------------------------
@pytest.fixture
def check_finite():
    dnnx.config.set_check_finite(True)
    yield
    dnnx.config.set_check_finite(False)


def test_nan_inf_checked_up_front_when_asked(clf, check_finite):
    x = X.copy()
    x[2, 3] = np.nan
    x[4, 0] = np.inf
    w0 = clf.get_weights()
    for call in (lambda: clf.fit(x, Y, verbose=0), lambda: clf.evaluate(x, Y, verbose=0),
                 lambda: clf.train_on_batch(x, Y), lambda: clf.predict(x, verbose=0),
                 lambda: clf.predict_on_batch(x)):
        with pytest.raises(ValueError, match=r"x contains 2 non-finite value\(s\) \(NaN or inf\); the first is "
                                             r"x\[2, 3\] = .*nan"):
            call()
    for a, b in zip(w0, clf.get_weights()):
        np.testing.assert_array_equal(a, b)  # nothing trained
    reg = dnnx.Sequential([dnnx.Input(shape=(4,)), layers.Dense(1)])
    reg.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"y contains 1 non-finite value"):
        reg.fit(X, np.array([0, 1, np.inf, 0, 0, 0]), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight must be finite"):
        reg.fit(X, np.zeros(6), sample_weight=np.array([1, 1, np.nan, 1, 1, 1.0]), verbose=0)


def test_nan_propagates_by_default(clf):
    assert not dnnx.config.get_check_finite()
    x = X.copy()
    x[1, 1] = np.nan
    p = clf.predict(x, verbose=0)
    assert np.isnan(p[1]).all() and np.isfinite(np.delete(p, 1, axis=0)).all()


def test_set_check_finite_takes_a_bool():
    with pytest.raises(TypeError, match="enabled must be a bool"):
        dnnx.config.set_check_finite("yes")


@pytest.mark.parametrize("dtype", ["[(", "(1,2", {"a": 1}, "f4,", "(3,)f4", "float16", "V8", "U3"])
def test_bad_input_dtypes(dtype):
    # NumPy itself raises SyntaxError for some of these strings (fuzz_config found "[(")
    with pytest.raises(ValueError, match=r"dtype must be a float .* Received: dtype="):
        dnnx.Input(shape=(2,), dtype=dtype)
