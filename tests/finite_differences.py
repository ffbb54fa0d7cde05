"""The float64 finite-difference check of a compiled model's gradients, shared by the
gradient tests of the graph core, the ops and the custom losses."""

import numpy as np


def check_gradients(model, x, y, sw=None, samples=10, h=1e-6, tol=1e-6, rng=None):
    """Compare ``model.compute_gradients`` with central differences of its loss at
    ``samples`` random entries of every weight (perturbed in place through the zero-copy
    views). Returns (loss, grads)."""
    rng = rng if rng is not None else np.random.default_rng(11)
    loss, grads = model.compute_gradients(x, y, sw)
    checked = 0
    for p, g in zip(model.weights, grads):
        flat = p.reshape(-1)
        for i in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + h
            lp = model.compute_gradients(x, y, sw)[0]
            flat[i] = old - h
            lm = model.compute_gradients(x, y, sw)[0]
            flat[i] = old
            num = (lp - lm) / (2 * h)
            assert abs(num - g.reshape(-1)[i]) <= tol * max(1.0, abs(num)), (p.shape, i, num, g.reshape(-1)[i])
            checked += 1
    assert np.isfinite(loss) and checked > 0
    return loss, grads
