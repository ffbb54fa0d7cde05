"""Weight initializers (Keras names and formulas), drawn in C++ from the seeded RNG.

fan_in/fan_out are the kernel's (in, out). Uniform variants draw from U(-limit, limit);
normal variants from a truncated normal (2 sigma) as Keras does.
"""

from __future__ import annotations

from typing import Optional

from . import _registry
from ._layer import declared_default
from ._registry import check_number


class Initializer:
    name = "initializer"

    def __init__(self, seed: Optional[int] = None):
        if seed is not None:
            check_number(type(self).__name__, "seed", seed, low=0, integer=True)
        self.seed = seed

    def get_config(self) -> dict:
        return {"name": self.name, "value": 0.0, "seed": self.seed}

    def spec(self) -> dict:
        return self.get_config()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GlorotUniform(Initializer):
    """U(-l, l), ``l = sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""

    name = "glorot_uniform"


class GlorotNormal(Initializer):
    """Truncated normal, ``stddev = sqrt(2 / (fan_in + fan_out))``."""

    name = "glorot_normal"


class HeUniform(Initializer):
    """U(-l, l), ``l = sqrt(6 / fan_in)`` (He et al., 2015)."""

    name = "he_uniform"


class HeNormal(Initializer):
    """Truncated normal, ``stddev = sqrt(2 / fan_in)``."""

    name = "he_normal"


class LecunUniform(Initializer):
    """U(-l, l), ``l = sqrt(3 / fan_in)``."""

    name = "lecun_uniform"


class LecunNormal(Initializer):
    """Truncated normal, ``stddev = sqrt(1 / fan_in)``."""

    name = "lecun_normal"


class Zeros(Initializer):
    name = "zeros"


class Ones(Initializer):
    name = "ones"


class Constant(Initializer):
    """Every entry equals ``value``."""

    name = "constant"

    def __init__(self, value: float = 0.0):
        super().__init__()
        self.value = float(check_number("Constant", "value", value))

    def get_config(self) -> dict:
        return {"name": self.name, "value": self.value, "seed": None}


_UNIFORM = declared_default("embedding", "embeddings_initializer")  # the core's U(minval, maxval) defaults


class RandomUniform(Initializer):
    """U(minval, maxval); Embedding's default ``"uniform"`` is U(-0.05, 0.05), as in Keras."""

    name = "random_uniform"

    def __init__(self, minval: float = _UNIFORM["minval"], maxval: float = _UNIFORM["maxval"],
                 seed: Optional[int] = None):
        super().__init__(seed)
        self.minval = float(check_number("RandomUniform", "minval", minval))
        self.maxval = float(check_number("RandomUniform", "maxval", maxval))
        if self.minval > self.maxval:
            raise ValueError(f"RandomUniform: minval must be <= maxval. Received: minval={minval}, maxval={maxval}")

    def get_config(self) -> dict:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    """N(mean, stddev) (not truncated)."""

    name = "random_normal"

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: Optional[int] = None):
        super().__init__(seed)
        self.mean = float(check_number("RandomNormal", "mean", mean))
        self.stddev = float(check_number("RandomNormal", "stddev", stddev, low=0))

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


_TABLE = {
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "uniform": RandomUniform, "random_normal": RandomNormal, "normal": RandomNormal,
}


def get(identifier) -> Initializer:
    return _registry.get("initializer", _TABLE, Initializer, identifier)


def deserialize(config: dict) -> Initializer:
    cls = _registry.config_class("initializer", _TABLE, config)
    if cls is Constant:
        return Constant(config.get("value", 0.0))
    if cls is RandomUniform:
        return RandomUniform(config.get("minval", _UNIFORM["minval"]), config.get("maxval", _UNIFORM["maxval"]),
                             seed=config.get("seed"))
    if cls is RandomNormal:
        return RandomNormal(config.get("mean", 0.0), config.get("stddev", 0.05), seed=config.get("seed"))
    return cls(seed=config.get("seed"))
