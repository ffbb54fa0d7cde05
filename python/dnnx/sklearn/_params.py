"""Constructor-parameter checks (run by ``fit``, never by ``__init__``/``set_params``, as
scikit-learn requires): scikit-learn's constraints for its parameters, dnnx's for the rest.
Each failure is a ValueError (TypeError for a wrong type) naming the parameter."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ._network import ACTIVATIONS


def _fail(est, name, expected, exc=ValueError):
    value = getattr(est, name)
    raise exc(f"The '{name}' parameter of {type(est).__name__} must be {expected}. Got {value!r} instead.")


def _real(est, name, low=None, high=None, low_open=False, high_open=False):
    v = getattr(est, name)
    if isinstance(v, bool) or not isinstance(v, Real):
        _fail(est, name, "a float", TypeError)
    lo_ok = low is None or (v > low if low_open else v >= low)
    hi_ok = high is None or (v < high if high_open else v <= high)
    if not (lo_ok and hi_ok) or np.isnan(v):
        lb = "(" if low_open else "["
        hb = ")" if high_open else "]"
        _fail(est, name, f"a float in the range {lb}{low if low is not None else '-inf'}, "
                         f"{high if high is not None else 'inf'}{hb}")


def _int(est, name, low=1, allow_inf=False):
    v = getattr(est, name)
    if allow_inf and isinstance(v, Real) and not isinstance(v, bool) and v == np.inf:
        return
    if isinstance(v, bool) or not isinstance(v, Integral):
        _fail(est, name, f"an int in the range [{low}, inf)" + (" or inf" if allow_inf else ""), TypeError)
    if v < low:
        _fail(est, name, f"an int in the range [{low}, inf)" + (" or inf" if allow_inf else ""))


def _bool(est, name):
    if not isinstance(getattr(est, name), (bool, np.bool_)):
        _fail(est, name, "a bool", TypeError)


def _option(est, name, options):
    v = getattr(est, name)
    if not isinstance(v, str) or v not in options:
        _fail(est, name, "a str among " + "{" + ", ".join(repr(o) for o in options) + "}")


def hidden_layer_sizes(est) -> list:
    h = est.hidden_layer_sizes
    sizes = list(h) if hasattr(h, "__iter__") and not isinstance(h, str) else [h]
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, Integral):
            raise TypeError(f"hidden_layer_sizes must be an int or a sequence of ints >= 1; got {h!r}")
        if s <= 0:
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(s) for s in sizes]


def check(est, losses) -> None:
    hidden = hidden_layer_sizes(est)
    _option(est, "activation", ACTIVATIONS)
    _option(est, "solver", ("lbfgs", "sgd", "adam"))
    _real(est, "alpha", low=0)
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        if isinstance(est.batch_size, bool) or not isinstance(est.batch_size, Integral) or est.batch_size < 1:
            _fail(est, "batch_size", "'auto' or an int in the range [1, inf)",
                  ValueError if isinstance(est.batch_size, (Integral, str)) else TypeError)
    _option(est, "learning_rate", ("constant", "invscaling", "adaptive"))
    _real(est, "learning_rate_init", low=0, low_open=True)
    _real(est, "power_t", low=0)
    _int(est, "max_iter")
    _bool(est, "shuffle")
    rs = est.random_state
    if not (rs is None or isinstance(rs, np.random.RandomState) or (isinstance(rs, Integral) and not isinstance(rs, bool)
                                                                   and 0 <= rs < 2**32)):
        _fail(est, "random_state", "an int in the range [0, 4294967295], an instance of 'numpy.random.RandomState' "
                                   "or None")
    _real(est, "tol", low=0)
    if isinstance(est.verbose, bool) is False and not isinstance(est.verbose, Integral):
        _fail(est, "verbose", "an int or a bool", TypeError)
    _bool(est, "warm_start")
    _real(est, "momentum", low=0, high=1)
    _bool(est, "nesterovs_momentum")
    _bool(est, "early_stopping")
    _real(est, "validation_fraction", low=0, high=1, high_open=True)
    _real(est, "beta_1", low=0, high=1, high_open=True)
    _real(est, "beta_2", low=0, high=1, high_open=True)
    _real(est, "epsilon", low=0, low_open=True)
    _int(est, "n_iter_no_change", allow_inf=True)
    _int(est, "max_fun")
    # dnnx's additions
    d = est.dropout
    rates = [d] if isinstance(d, (Real, np.number)) or isinstance(d, bool) else list(d) if hasattr(d, "__iter__") \
        else [d]
    for r in rates:
        if isinstance(r, bool) or not isinstance(r, Real) or not (0 <= r < 1):
            raise ValueError(f"The 'dropout' parameter of {type(est).__name__} must be a float in [0, 1) or one such "
                             f"rate per hidden layer. Got {d!r} instead.")
    if not isinstance(d, Real) and len(rates) != len(hidden):
        raise ValueError(f"dropout: expected one rate per hidden layer ({len(hidden)}); got {len(rates)}: {d!r}")
    if est.solver == "lbfgs" and any(r > 0 for r in rates):
        raise ValueError("dropout requires a stochastic solver ('adam' or 'sgd'): lbfgs needs a deterministic "
                         f"objective. Got solver='lbfgs', dropout={d!r}")
    if est.dtype is not None:
        _option(est, "dtype", ("float32", "float64"))
    if losses is not None:
        _option(est, "loss", losses)
    if est.n_jobs is not None and (isinstance(est.n_jobs, bool) or not isinstance(est.n_jobs, Integral)
                                   or est.n_jobs == 0):
        _fail(est, "n_jobs", "None or a non-zero int (-1: every CPU)")
