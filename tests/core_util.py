"""Helpers shared by the _core.Network tests: spec builders and a tiny data generator."""

import numpy as np

from dnnx import _core


def dense(units, activation="linear", **kw):
    return {"type": "dense", "units": units, "activation": activation, **kw}


def make_net(layers, input_dim, loss=None, optimizer=None, metrics=(), dtype="float64", seed=0):
    spec = {"dtype": dtype, "input_dim": input_dim, "seed": seed, "layers": list(layers),
            "loss": loss, "optimizer": optimizer, "metrics": list(metrics)}
    return _core.Network(spec)


def set_params(net, values):
    for view, v in zip(net.params(), values):
        view[...] = v


def classification_data(n, d, classes, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((d, classes))
    x = rng.standard_normal((n, d)).astype(dtype)
    y = np.argmax(x @ w, axis=1).astype(dtype)[:, None]
    return x, y


def central_difference(net, flat, i, x, y, sw=None, eps=1e-6):
    """d objective / d flat[i] by central differences (flat: a 1-D view of a weight)."""
    old = flat[i]
    flat[i] = old + eps
    net.params_changed()
    up = net.compute_gradients(x, y, sw)
    flat[i] = old - eps
    net.params_changed()
    down = net.compute_gradients(x, y, sw)
    flat[i] = old
    net.params_changed()
    return (up - down) / (2 * eps)
