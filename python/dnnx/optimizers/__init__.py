"""Optimizers (Keras 3 update rules and defaults). The update runs in C++ as one vectorized
pass over the parameter arena; these classes validate and carry hyper-parameters.

Every optimizer takes ``learning_rate`` (a float or a schedule), ``weight_decay``
(decoupled: ``w -= lr * weight_decay * w`` before the update), ``clipnorm`` (per tensor),
``clipvalue`` and ``global_clipnorm``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _core, _registry
from .._registry import check_number
from . import schedules
from .schedules import LearningRateSchedule

# Every default below is C++'s (opt_defaults in cpp/include/dnnx/optimizers.hpp), read once.
_DEFAULTS = _core._defaults()["optimizers"]
_SGD, _ADAM, _ADAMW = _DEFAULTS["sgd"], _DEFAULTS["adam"], _DEFAULTS["adamw"]
_RMSPROP, _ADAGRAD, _NADAM = _DEFAULTS["rmsprop"], _DEFAULTS["adagrad"], _DEFAULTS["nadam"]


class Optimizer:
    name = "optimizer"
    _hyper: tuple = ()

    def __init__(self, learning_rate=_ADAM["learning_rate"], weight_decay: Optional[float] = None,
                 clipnorm: Optional[float] = None,
                 clipvalue: Optional[float] = None, global_clipnorm: Optional[float] = None):
        owner = type(self).__name__
        if not isinstance(learning_rate, LearningRateSchedule):
            check_number(owner, "learning_rate", learning_rate, low=0)
        self._learning_rate = learning_rate
        self.weight_decay = check_number(owner, "weight_decay", weight_decay, low=0, allow_none=True)
        self.clipnorm = check_number(owner, "clipnorm", clipnorm, low=0, low_open=True, allow_none=True)
        self.clipvalue = check_number(owner, "clipvalue", clipvalue, low=0, low_open=True, allow_none=True)
        self.global_clipnorm = check_number(owner, "global_clipnorm", global_clipnorm, low=0, low_open=True,
                                            allow_none=True)
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(f"{owner}: only one of clipnorm and global_clipnorm can be set. Received: "
                             f"clipnorm={clipnorm}, global_clipnorm={global_clipnorm}")
        self._model = None

    # -- learning rate -----------------------------------------------------------
    @property
    def learning_rate(self):
        """The current learning rate: a float, or the schedule's value at the current step."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            return self._learning_rate(self.iterations)
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        if not isinstance(value, LearningRateSchedule):
            check_number(type(self).__name__, "learning_rate", value, low=0)
            value = float(value)
        self._learning_rate = value

    def learning_rates(self, first_step: int, n_steps: int) -> np.ndarray:
        """One learning rate per step ``first_step .. first_step + n_steps - 1``."""
        if isinstance(self._learning_rate, LearningRateSchedule):
            steps = np.arange(first_step, first_step + n_steps, dtype=np.float64)
            return np.ascontiguousarray(self._learning_rate(steps), dtype=np.float64).reshape(n_steps)
        return np.full(n_steps, float(self._learning_rate), np.float64)

    @property
    def iterations(self) -> int:
        """Optimizer steps taken so far."""
        net = self._model._net if self._model is not None else None
        return int(net.iterations) if net is not None else 0

    # -- a step with gradients computed elsewhere ---------------------------------
    def apply_gradients(self, grads_and_vars) -> None:
        """One step of this optimizer with gradients computed elsewhere, as Keras's
        ``optimizer.apply_gradients(zip(grads, model.trainable_weights))``.

        The optimizer must be compiled into a built model; each variable is one of that
        model's weight views (``model.weights``, ``model.trainable_weights``,
        ``layer.weights``) and each gradient an array of its shape. Weights not listed get a
        zero gradient (the rule still runs on them, as for any zero gradient); frozen layers
        do not move. The step runs in C++ like a training step (clipping, weight decay, the
        rule), advances ``iterations`` and uses the learning rate of that step."""
        model = self._model
        net = getattr(model, "_net", None)
        if net is None:
            raise ValueError(f"{type(self).__name__}.apply_gradients: the optimizer is not compiled into a built "
                             f"model; call model.compile(optimizer=...) and build the model first")
        model._pull_shared()
        params = net.params()
        where = {p.__array_interface__["data"][0]: i for i, p in enumerate(params)}
        grads = [np.zeros_like(p) for p in params]
        for k, pair in enumerate(grads_and_vars):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"apply_gradients: grads_and_vars[{k}] must be a (gradient, variable) pair; "
                                 f"received {type(pair).__name__}")
            g, v = pair
            i = where.get(v.__array_interface__["data"][0]) if isinstance(v, np.ndarray) else None
            if i is None or v.shape != params[i].shape:
                raise ValueError(f"apply_gradients: variable {k} is not one of the model's weights (pass views "
                                 f"from model.weights or model.trainable_weights); received "
                                 f"{type(v).__name__} of shape {getattr(v, 'shape', None)}")
            g = np.asarray(g)
            if g.shape != params[i].shape:
                raise ValueError(f"apply_gradients: gradient {k} must have shape {params[i].shape} (the shape of "
                                 f"{net.param_names()[i]}); received {g.shape}")
            grads[i] = np.ascontiguousarray(g, dtype=params[i].dtype)
        net.apply_gradients(grads, float(self.learning_rates(net.iterations, 1)[0]))

    # -- config ------------------------------------------------------------------
    def spec(self) -> dict:
        d = {"name": self.name, "learning_rate": float(self.learning_rate), "weight_decay": self.weight_decay,
             "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}
        for h in self._hyper:
            d[h] = getattr(self, h)
        return d

    def get_config(self) -> dict:
        d = self.spec()
        lr = self._learning_rate
        d["learning_rate"] = lr.get_config() if isinstance(lr, LearningRateSchedule) else float(lr)
        return d

    def __repr__(self) -> str:
        return f"{type(self).__name__}(learning_rate={self._learning_rate!r})"


class SGD(Optimizer):
    """Gradient descent with momentum (Keras 3 rule).

    ``v = momentum * v - lr * g``; ``w += v`` (``w += momentum * v - lr * g`` with nesterov).
    Sutskever et al., 2013: https://proceedings.mlr.press/v28/sutskever13.html
    """

    name = "sgd"
    _hyper = ("momentum", "nesterov")

    def __init__(self, learning_rate=_SGD["learning_rate"], momentum: float = _SGD["momentum"],
                 nesterov: bool = _SGD["nesterov"], **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = float(check_number("SGD", "momentum", momentum, low=0, high=1))
        if not isinstance(nesterov, bool):
            raise TypeError(f"SGD: nesterov must be a bool. Received: nesterov={nesterov!r}")
        self.nesterov = nesterov


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2014: https://arxiv.org/abs/1412.6980), Keras 3 form.

    ``m += (g - m)(1 - beta_1)``; ``v += (g^2 - v)(1 - beta_2)``;
    ``w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``.
    """

    name = "adam"
    _hyper = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(self, learning_rate=_ADAM["learning_rate"], beta_1: float = _ADAM["beta_1"],
                 beta_2: float = _ADAM["beta_2"], epsilon: float = _ADAM["epsilon"],
                 amsgrad: bool = _ADAM["amsgrad"], **kwargs):
        super().__init__(learning_rate, **kwargs)
        owner = type(self).__name__
        self.beta_1 = float(check_number(owner, "beta_1", beta_1, low=0, high=1, high_open=True))
        self.beta_2 = float(check_number(owner, "beta_2", beta_2, low=0, high=1, high_open=True))
        self.epsilon = float(check_number(owner, "epsilon", epsilon, low=0))
        if not isinstance(amsgrad, bool):
            raise TypeError(f"{owner}: amsgrad must be a bool. Received: amsgrad={amsgrad!r}")
        self.amsgrad = amsgrad


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter: https://arxiv.org/abs/1711.05101)."""

    name = "adamw"

    def __init__(self, learning_rate=_ADAMW["learning_rate"], weight_decay: float = _ADAMW["weight_decay"],
                 beta_1: float = _ADAMW["beta_1"], beta_2: float = _ADAMW["beta_2"],
                 epsilon: float = _ADAMW["epsilon"], amsgrad: bool = _ADAMW["amsgrad"], **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Hinton, lecture 6e), Keras 3 rule with optional momentum and centering."""

    name = "rmsprop"
    _hyper = ("rho", "momentum", "epsilon", "centered")

    def __init__(self, learning_rate=_RMSPROP["learning_rate"], rho: float = _RMSPROP["rho"],
                 momentum: float = _RMSPROP["momentum"], epsilon: float = _RMSPROP["epsilon"],
                 centered: bool = _RMSPROP["centered"], **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = float(check_number("RMSprop", "rho", rho, low=0, high=1))
        self.momentum = float(check_number("RMSprop", "momentum", momentum, low=0, high=1))
        self.epsilon = float(check_number("RMSprop", "epsilon", epsilon, low=0))
        self.centered = bool(centered)


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011: https://jmlr.org/papers/v12/duchi11a.html)."""

    name = "adagrad"
    _hyper = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=_ADAGRAD["learning_rate"],
                 initial_accumulator_value: float = _ADAGRAD["initial_accumulator_value"],
                 epsilon: float = _ADAGRAD["epsilon"], **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = float(check_number("Adagrad", "initial_accumulator_value",
                                                            initial_accumulator_value, low=0))
        self.epsilon = float(check_number("Adagrad", "epsilon", epsilon, low=0))


class Nadam(Adam):
    """Adam with Nesterov momentum (Dozat, 2016: https://openreview.net/pdf?id=OM0jvwB8jIp57ZJjtNEZ)."""

    name = "nadam"
    _hyper = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=_NADAM["learning_rate"], beta_1: float = _NADAM["beta_1"],
                 beta_2: float = _NADAM["beta_2"], epsilon: float = _NADAM["epsilon"], **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, False, **kwargs)


_TABLE = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad, "nadam": Nadam}


def get(identifier) -> Optimizer:
    return _registry.get("optimizer", _TABLE, Optimizer, identifier)


def deserialize(config: dict) -> Optimizer:
    cls = _registry.config_class("optimizer", _TABLE, config)
    kw = {k: v for k, v in config.items() if k != "name"}  # without learning_rate: the class default
    if isinstance(kw.get("learning_rate"), dict):
        kw["learning_rate"] = schedules.deserialize(kw["learning_rate"])
    allowed = set(cls._hyper) | {"learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"}
    unknown = set(kw) - allowed
    if unknown:
        raise ValueError(f"invalid optimizer config: unknown keys {sorted(unknown)}")
    return cls(**kw)


__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Nadam", "get", "schedules"]
