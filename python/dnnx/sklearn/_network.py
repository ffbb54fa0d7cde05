"""The C++ network behind an estimator: its spec, its training config, its saved state.

An estimator's MLP is a chain of Dense layers (and Dropout after each hidden layer when
``dropout > 0``) on a ``_core.Network``. scikit-learn's objective on a batch B is

    J_B = (sum_{i in B} w_i l_i + alpha / 2 * sum ||W||^2) / sum_{i in B} w_i

(``l_i`` summed over the outputs), which the core computes with the loss reduction
``mean_with_sample_weight``, a loss weight (the output count where the core averages over
outputs, 1/2 for the squared error) and ``penalty_reduction="like_loss"`` with an L2 kernel
penalty of ``alpha / 2``. Intercepts are not penalized (as in scikit-learn).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np

from .. import _core

# scikit-learn's activation names -> dnnx's; every dnnx activation is accepted by its name.
SKLEARN_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
DNNX_ACTIVATIONS = ("linear", "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "tanh", "sigmoid",
                    "hard_sigmoid", "softplus", "softsign", "softmax", "log_softmax")
ACTIVATIONS = tuple(SKLEARN_ACTIVATIONS) + tuple(a for a in DNNX_ACTIVATIONS if a not in SKLEARN_ACTIVATIONS)

# out_activation_ (scikit-learn's name) -> (the core's output activation, its loss, loss sums outputs).
# The core's MSE, MAE, Huber, Poisson and binary cross-entropy average over the outputs while
# scikit-learn's per-sample loss sums them: the loss weight puts the sum back.
OUTPUTS = {
    "softmax": "softmax",    # + sparse categorical cross-entropy (fused)
    "logistic": "sigmoid",   # + binary cross-entropy (fused)
    "identity": "linear",
    "exp": "linear",         # Poisson on the log rate; predict applies exp
}


def core_activation(name: str) -> str:
    return SKLEARN_ACTIVATIONS.get(name, name)


def init_bound(activation: str, fan_in: int, fan_out: int) -> float:
    """scikit-learn's (Glorot's) uniform bound: sqrt(6 / (in + out)), sqrt(2 / ...) for logistic."""
    factor = 2.0 if activation in ("logistic", "sigmoid") else 6.0
    return math.sqrt(factor / (fan_in + fan_out))


def dropout_rates(dropout, n_hidden: int) -> List[float]:
    if isinstance(dropout, (int, float, np.integer, np.floating)) and not isinstance(dropout, bool):
        return [float(dropout)] * n_hidden
    rates = [float(r) for r in dropout]
    if len(rates) != n_hidden:
        raise ValueError(f"dropout must be a float or one rate per hidden layer ({n_hidden}); received {dropout!r}")
    return rates


def network_spec(layer_units: Sequence[int], activation: str, out_activation: str, alpha: float, dropout,
                 dtype: str, seed: int) -> dict:
    """The core spec of scikit-learn's MLP: ``layer_units = [n_features, *hidden, n_outputs]``."""
    hidden = len(layer_units) - 2
    rates = dropout_rates(dropout, hidden)
    reg = {"l1": 0.0, "l2": 0.5 * float(alpha)} if alpha > 0 else None
    layers = []
    for i in range(len(layer_units) - 1):
        fan_in, fan_out = int(layer_units[i]), int(layer_units[i + 1])
        b = init_bound(activation, fan_in, fan_out)
        init = {"name": "random_uniform", "minval": -b, "maxval": b, "seed": seed + 2 * i + 1}
        bias_init = {"name": "random_uniform", "minval": -b, "maxval": b, "seed": seed + 2 * i + 2}
        last = i == len(layer_units) - 2
        layers.append({"type": "dense", "units": fan_out,
                       "activation": OUTPUTS[out_activation] if last else core_activation(activation),
                       "kernel_initializer": init, "bias_initializer": bias_init, "kernel_regularizer": reg})
        if not last and rates[i] > 0:
            layers.append({"type": "dropout", "rate": rates[i]})
    return {"dtype": dtype, "input_dim": int(layer_units[0]), "seed": int(seed), "layers": layers}


def loss_config(kind: str, n_outputs: int, huber_delta: float = 1.0) -> dict:
    """The core loss for scikit-learn's objective (see the module docstring)."""
    common = {"reduction": "mean_with_sample_weight", "penalty_reduction": "like_loss"}
    if kind == "log_loss_softmax":
        return {"name": "sparse_categorical_crossentropy", **common}
    if kind == "log_loss_logistic":
        return {"name": "binary_crossentropy", "weight": float(n_outputs), **common}
    if kind == "squared_error":  # 1/2 sum_j e_j^2 (the gradient scikit-learn uses)
        return {"name": "mean_squared_error", "weight": 0.5 * n_outputs, **common}
    if kind == "absolute_error":
        return {"name": "mean_absolute_error", "weight": float(n_outputs), **common}
    if kind == "huber":
        return {"name": "huber", "delta": float(huber_delta), "weight": float(n_outputs), **common}
    if kind == "poisson":  # sum_j exp(z_j) - y_j z_j on the log rate z
        return {"name": "poisson", "from_logits": True, "weight": float(n_outputs), **common}
    raise ValueError(f"unknown loss kind {kind!r}")


def optimizer_config(solver: str, learning_rate_init: float, momentum: float, nesterovs_momentum: bool,
                     beta_1: float, beta_2: float, epsilon: float) -> Optional[dict]:
    """scikit-learn's SGD (momentum, Nesterov) and Adam rules are Keras's: the core's optimizers."""
    if solver == "sgd":
        return {"name": "sgd", "learning_rate": float(learning_rate_init), "momentum": float(momentum),
                "nesterov": bool(nesterovs_momentum) and momentum > 0}
    if solver == "adam":
        return {"name": "adam", "learning_rate": float(learning_rate_init), "beta_1": float(beta_1),
                "beta_2": float(beta_2), "epsilon": float(epsilon)}
    return None  # lbfgs: scipy steps, the core only computes the loss and its gradient


def build(spec: dict, loss: dict, optimizer: Optional[dict]) -> _core.Network:
    net = _core.Network(spec)
    net.set_training_config(loss, optimizer, [])
    return net


def state(net: _core.Network) -> dict:
    """Everything needed to rebuild ``net`` bit for bit (pickle)."""
    seed, counter = net.get_rng_state()
    return {"params": [p.copy() for p in net.params()], "optimizer_state": [s.copy() for s in net.optimizer_state()],
            "iterations": int(net.iterations), "rng": (int(seed), int(counter))}


def restore(net: _core.Network, saved: dict) -> None:
    for view, value in zip(net.params(), saved["params"]):
        view[...] = value
    for view, value in zip(net.optimizer_state(), saved["optimizer_state"]):
        view[...] = value
    net.iterations = saved["iterations"]
    net.set_rng_state(*saved["rng"])
    net.params_changed()
