"""atheris harness: the array-validation layer. fit / evaluate / predict / train_on_batch /
test_on_batch / compute_gradients / set_weights get arrays of any dtype (numbers, bool,
complex, strings, objects, datetimes), ndim, shape (empty too), values (NaN, inf, huge,
labels out of range) and any batch_size / epochs / sample_weight / class_weight.

A finding is anything but ValueError/TypeError, a crash or a hang; a call that is
accepted must return arrays of the documented shapes.

    python tests/fuzz/fuzz_arrays.py -max_total_time=600 CORPUS_DIR tests/fuzz/corpus/arrays
"""

import sys

import atheris

import _harness  # noqa: F401
import numpy as np

import dnnx
from dnnx import layers

_harness.instrument_dnnx()



def _models():
    seq = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(4, activation="relu"),
                           layers.Dense(3, activation="softmax")], seed=0)
    seq.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    reg = dnnx.Sequential([dnnx.Input(shape=(2, 3)), layers.Dense(2)], seed=1)
    reg.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    num = dnnx.Input(shape=(2,), name="num")
    ids = dnnx.Input(shape=(1,), dtype="int64", name="ids")
    h = layers.Concatenate()([num, layers.Flatten()(layers.Embedding(5, 2)(ids))])
    fn = dnnx.Model([num, ids], {"p": layers.Dense(1, activation="sigmoid", name="p")(h),
                                 "q": layers.Dense(2, name="q")(h)}, seed=2)
    fn.compile(optimizer="rmsprop", loss={"p": "binary_crossentropy", "q": "mse"}, metrics={"p": ["auc"]})
    lazy = dnnx.Sequential([layers.Dense(2)], seed=3)  # built from the first data it sees
    lazy.compile(optimizer="sgd", loss="mse")
    return [seq, reg, fn, lazy]


MODELS = _models()
DTYPES = [np.float32, np.float64, np.float16, np.int64, np.int32, np.int8, np.uint8, np.uint64, np.bool_,
          np.complex64, object, "U3", "S2", "datetime64[s]"]
SPECIAL = [0.0, 1.0, -1.0, 2.0, 5.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 3.5, 1e-40, 2.0**63, -(2.0**63)]


def _int(fdp, options):
    return options[fdp.ConsumeIntInRange(0, len(options) - 1)]


def _array(fdp):
    kind = fdp.ConsumeIntInRange(0, 9)
    if kind == 0:
        return None
    if kind == 1:  # nested lists
        return [[fdp.ConsumeFloat() for _ in range(fdp.ConsumeIntInRange(0, 3))]
                for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if kind == 2:
        return _int(fdp, ["abc", 3, 2.5, {"num": 1}, (1, 2), b"x", [None]])
    ndim = fdp.ConsumeIntInRange(0, 4)
    shape = tuple(fdp.ConsumeIntInRange(0, 5) for _ in range(ndim))
    n = int(np.prod(shape)) if shape else 1
    vals = np.array([_int(fdp, SPECIAL) if fdp.ConsumeBool() else fdp.ConsumeIntInRange(-3, 6) for _ in range(n)],
                    np.float64).reshape(shape)
    dt = _int(fdp, DTYPES)
    with np.errstate(all="ignore"):
        if dt in ("U3", "S2"):
            a = vals.astype(dt)
        elif dt == "datetime64[s]":
            a = np.zeros(shape, dt)
        elif dt is object:
            a = vals.astype(object)
        elif np.issubdtype(np.dtype(dt), np.integer) or dt is np.bool_:
            a = np.nan_to_num(vals, nan=0, posinf=0, neginf=0).clip(-100, 100).astype(dt)
        else:
            a = vals.astype(dt)
    a = np.asarray(a) if isinstance(a, np.generic) else a  # a 0-d result comes back as a scalar
    if kind == 3 and a.ndim >= 2:
        a = a.T  # not C-contiguous
    if kind == 4 and a.ndim >= 1:
        a = a[::-1]
    if kind == 5:
        a.flags.writeable = False
    return a


def _data(fdp, model):
    a = _array(fdp)
    if len(model.inputs if model.built else []) > 1 and fdp.ConsumeBool():
        return {"num": a, "ids": _array(fdp)} if fdp.ConsumeBool() else [a, _array(fdp)]
    return a


def TestOneInput(data: bytes) -> None:  # noqa: N802
    fdp = atheris.FuzzedDataProvider(data)
    model = MODELS[fdp.ConsumeIntInRange(0, len(MODELS) - 1)]
    call = fdp.ConsumeIntInRange(0, 6)
    x = _data(fdp, model)
    y = _data(fdp, model)
    bs = _int(fdp, [None, 1, 2, 3, 0, -1, 2**63, 2.5, True, "4"])
    sw = _array(fdp) if fdp.ConsumeBool() else None
    try:
        if call == 0:
            cw = _int(fdp, [None, {0: 1.0, 1: 2.0}, {-1: 1.0}, {"a": 1}, [1, 2], {0: np.nan}])
            model.fit(x, y, batch_size=bs, epochs=_int(fdp, [1, 0, 2, -1, 1.5]), verbose=0, sample_weight=sw,
                      class_weight=cw, shuffle=fdp.ConsumeBool(),
                      validation_split=_int(fdp, [0.0, 0.5, 1.0, -0.1, np.nan]))
        elif call == 1:
            model.evaluate(x, y, batch_size=bs, verbose=0, sample_weight=sw)
        elif call == 2:
            out = model.predict(x, batch_size=bs, verbose=0)
            outs = out if isinstance(out, list) else [out]
            assert all(isinstance(o, np.ndarray) and o.dtype == np.dtype(model.dtype) for o in outs)
        elif call == 3:
            model.train_on_batch(x, y, sample_weight=sw)
        elif call == 4:
            model.test_on_batch(x, y, sample_weight=sw)
        elif call == 5:
            model.compute_gradients(x, y, sample_weight=sw)
        else:
            if not model.built:
                return
            ws = model.get_weights()
            i = fdp.ConsumeIntInRange(0, len(ws))
            if i < len(ws):
                ws[i] = _array(fdp)
            elif ws:
                ws.pop()
            model.set_weights(ws)
    except (ValueError, TypeError):
        return


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
