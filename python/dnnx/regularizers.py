"""Weight regularizers: penalty ``l1 * sum|w| + l2 * sum w^2`` added to the loss."""

from __future__ import annotations

from ._registry import check_number, lookup


class Regularizer:
    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = float(check_number(type(self).__name__, "l1", l1, low=0))
        self.l2 = float(check_number(type(self).__name__, "l2", l2, low=0))

    def spec(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}

    get_config = spec

    def __repr__(self) -> str:
        return f"{type(self).__name__}(l1={self.l1}, l2={self.l2})"


class L1L2(Regularizer):
    """``l1 * sum|w| + l2 * sum w^2``."""


class L1(Regularizer):
    """``l1 * sum|w|``."""

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1)


class L2(Regularizer):
    """``l2 * sum w^2``."""

    def __init__(self, l2: float = 0.01):
        super().__init__(l2=l2)


# Keras's lower-case names are the classes themselves: regularizers.l2(1e-4) is L2(1e-4).
l1 = L1
l2 = L2
l1_l2 = L1L2

_TABLE = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def get(identifier):
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        return lookup("regularizer", _TABLE, identifier)()
    raise TypeError(f"regularizer must be None, a name or a Regularizer; received {identifier!r}")


def deserialize(config):
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) - {"l1", "l2"}:
        raise ValueError(f"invalid regularizer config: {config!r}")
    return L1L2(config.get("l1", 0.0), config.get("l2", 0.0))
