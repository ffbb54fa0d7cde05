"""Shared by the atheris harnesses: heavy modules imported before instrumentation, a
memory limit, and ``exercise(model)``: a model that was accepted must work."""

import os
import resource

import numpy as np  # noqa: F401  (not instrumented)
import safetensors.numpy  # noqa: F401

# A model that is too large must fail fast (MemoryError), never swap the machine.
_limit = int(os.environ.get("DNNX_FUZZ_AS_LIMIT", str(4 << 30)))
resource.setrlimit(resource.RLIMIT_AS, (_limit, _limit))


def instrument_dnnx() -> int:
    """Coverage instrumentation for every function of the loaded dnnx modules (in place).
    atheris.instrument_imports skips modules an editable install's loader brings in, and
    instrument_all would instrument NumPy too."""
    import sys
    import types

    import atheris
    done = set()

    def one(f):
        if isinstance(f, (staticmethod, classmethod)):
            f = f.__func__
        if isinstance(f, property):
            for g in (f.fget, f.fset, f.fdel):
                one(g)
            return
        if isinstance(f, types.FunctionType) and id(f) not in done and (f.__module__ or "").startswith("dnnx"):
            done.add(id(f))
            atheris.instrument_func(f)

    for name, mod in list(sys.modules.items()):
        if name != "dnnx" and not name.startswith("dnnx."):
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, type) and (obj.__module__ or "").startswith("dnnx"):
                for member in vars(obj).values():
                    one(member)
            else:
                one(obj)
    return len(done)


def exercise(model) -> None:
    xs = {}
    if sum(int(np.prod(t.shape[1:], dtype=np.float64)) for t in model.inputs + model.outputs) > 1_000_000:
        return  # the harness's own arrays would be the large allocation
    for t in model.inputs:
        shape = (2,) + tuple(t.shape[1:])
        xs[t._keras_history[0].name] = np.zeros(shape, np.int64 if "int" in t.dtype else model.dtype)
    out = model.predict(xs, verbose=0)
    outs = out if isinstance(out, list) else [out]
    assert len(outs) == len(model.outputs)
    for o in outs:
        assert o.shape[0] == 2 and o.dtype == np.dtype(model.dtype), (o.shape, o.dtype)
