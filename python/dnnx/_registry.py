"""Name -> object resolution shared by every family (activations, losses, ...)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable


def lookup(family: str, table: Dict[str, Any], name: str) -> Any:
    key = name.lower() if isinstance(name, str) else name
    if key not in table:
        valid = ", ".join(sorted(table))
        raise ValueError(f"Unknown {family} '{name}'. Valid names: {valid}")
    return table[key]


def get(family: str, table: Dict[str, Any], base: type, identifier: Any) -> Any:
    """One ``get()`` for every family: an instance passes through, a name is looked up and
    instantiated, anything else is a TypeError listing the valid names."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        return lookup(family, table, identifier)()
    raise TypeError(f"{family} must be a name or a {base.__module__}.{base.__name__}; received "
                    f"{identifier!r}. Valid names: {', '.join(sorted(table))}")


def config_class(family: str, table: Dict[str, Any], config: Any, key: str = "name") -> Any:
    """The class a serialized config names, after checking the config's shape."""
    if not isinstance(config, dict) or not isinstance(config.get(key), str):
        raise ValueError(f"invalid {family} config: {config!r}")
    return lookup(family, table, config[key])


def check_number(owner: str, name: str, value: Any, *, low=None, high=None, low_open=False, high_open=False,
                 allow_none=False, integer=False) -> Any:
    """Keras-style immediate validation of a hyper-parameter; echoes 'Received: name=value'."""
    if value is None and allow_none:
        return None
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    if integer:
        ok_type = isinstance(value, int) and not isinstance(value, bool)
    if not ok_type:
        raise TypeError(f"{owner}: {name} must be {kind}. Received: {name}={value!r}")
    v = float(value)
    if v != v:
        raise ValueError(f"{owner}: {name} must not be NaN. Received: {name}={value!r}")
    bad = False
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        rng = ("(" if low_open else "[") + f"{lo}, {hi}" + (")" if high_open else "]")
        raise ValueError(f"{owner}: {name} must be in {rng}. Received: {name}={value!r}")
    return value


def names(table: Dict[str, Any]) -> Iterable[str]:
    return sorted(table)


Factory = Callable[..., Any]
