"""Name -> object resolution shared by every family (activations, losses, ...)."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable


def lookup(family: str, table: Dict[str, Any], name: str) -> Any:
    key = name.lower() if isinstance(name, str) else name
    if key not in table:
        valid = ", ".join(sorted(table))
        raise ValueError(f"Unknown {family} '{name}'. Valid names: {valid}")
    return table[key]


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
