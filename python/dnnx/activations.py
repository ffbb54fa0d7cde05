"""Activation functions (Keras 3 definitions), resolved by name.

The math runs in C++ (fused into the Dense GEMM epilogue where it is elementwise); this
module only names them and checks parameters.
"""

from __future__ import annotations

from typing import Optional

from ._registry import lookup

# name -> (canonical name, default alpha parameter or None)
_ACTIVATIONS = {
    "linear": ("linear", None),
    "relu": ("relu", None),
    "leaky_relu": ("leaky_relu", 0.2),
    "elu": ("elu", 1.0),
    "selu": ("selu", None),
    "gelu": ("gelu", None),
    "silu": ("silu", None),
    "swish": ("silu", None),
    "tanh": ("tanh", None),
    "sigmoid": ("sigmoid", None),
    "hard_sigmoid": ("hard_sigmoid", None),
    "softplus": ("softplus", None),
    "softsign": ("softsign", None),
    "softmax": ("softmax", None),
    "log_softmax": ("log_softmax", None),
}


class ActivationSpec:
    """A resolved activation: canonical name plus its parameter (negative slope / alpha)."""

    def __init__(self, name: str, alpha: Optional[float] = None):
        canon, default = lookup("activation", _ACTIVATIONS, name)
        self.name = canon
        self.alpha = default if alpha is None else float(alpha)

    def __repr__(self) -> str:
        return f"ActivationSpec({self.name!r}, alpha={self.alpha!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ActivationSpec) and (self.name, self.alpha) == (other.name, other.alpha)


def get(identifier) -> ActivationSpec:
    """Resolve None, a name or an ActivationSpec. Raises ValueError listing the valid names."""
    if identifier is None:
        return ActivationSpec("linear")
    if isinstance(identifier, ActivationSpec):
        return identifier
    if isinstance(identifier, str):
        return ActivationSpec(identifier)
    raise TypeError(
        f"activation must be a string name or None; received {identifier!r}. "
        f"Valid names: {', '.join(sorted(_ACTIVATIONS))}"
    )


def leaky_relu(negative_slope: float = 0.2) -> ActivationSpec:
    """``f(x) = x if x >= 0 else negative_slope * x``."""
    return ActivationSpec("leaky_relu", negative_slope)


def elu(alpha: float = 1.0) -> ActivationSpec:
    """``f(x) = x if x > 0 else alpha * (exp(x) - 1)``."""
    return ActivationSpec("elu", alpha)


def serialize(spec: ActivationSpec) -> dict:
    return {"name": spec.name, "alpha": spec.alpha}


def deserialize(config) -> ActivationSpec:
    if isinstance(config, str):
        return ActivationSpec(config)
    if not isinstance(config, dict) or not isinstance(config.get("name"), str):
        raise ValueError(f"invalid activation config: {config!r}")
    alpha = config.get("alpha")
    if alpha is not None and not isinstance(alpha, (int, float)):
        raise ValueError(f"invalid activation alpha: {alpha!r}")
    return ActivationSpec(config["name"], alpha)
