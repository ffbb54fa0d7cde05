"""The registry of user classes a model file may name (Keras's
``keras.saving.register_keras_serializable``).

A saved subclassed layer or model is written as its registered name (``"package>Class"``)
and its ``get_config()``. Loading looks the name up here, or in ``custom_objects`` given to
``load_model``: only classes the running program registered or handed over are ever
constructed, nothing named in a file is imported.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Dict, Optional

_REGISTERED: Dict[str, type] = {}
_NAMES: Dict[type, str] = {}
_scope: contextvars.ContextVar = contextvars.ContextVar("dnnx_custom_objects", default=None)


def register_keras_serializable(package: str = "Custom", name: Optional[str] = None):
    """Class decorator: ``@dnnx.saving.register_keras_serializable(package="my_pkg")``
    makes the class loadable from a model file under ``"my_pkg>ClassName"``."""
    if not isinstance(package, str) or not package or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a non-empty string without '>'. "
                         f"Received: package={package!r}")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"register_keras_serializable: name must be None or a non-empty string. Received: "
                         f"name={name!r}")

    def decorate(cls):
        if not isinstance(cls, type) or not hasattr(cls, "get_config"):
            raise TypeError(f"register_keras_serializable: {cls!r} must be a class with get_config() (a subclass "
                            f"of dnnx.layers.Layer, dnnx.Model or dnnx.metrics.Metric)")
        key = f"{package}>{name or cls.__name__}"
        _REGISTERED[key] = cls
        _NAMES[cls] = key
        return cls

    return decorate


def get_registered_name(cls) -> str:
    """``"package>Class"`` for a registered class, else its class name (Keras)."""
    cls = cls if isinstance(cls, type) else type(cls)
    return _NAMES.get(cls, cls.__name__)


def get_registered_object(name: str, custom_objects: Optional[dict] = None):
    """The class registered (or passed in ``custom_objects``, or in a ``custom_object_scope``)
    under ``name`` (``"package>Class"`` or a bare class name); None if there is none."""
    for table in (custom_objects, _scope.get()):
        if table:
            if name in table:
                return table[name]
            bare = name.split(">", 1)[-1]
            if bare in table:
                return table[bare]
    return _REGISTERED.get(name)


@contextlib.contextmanager
def custom_object_scope(custom_objects: dict):
    """``with custom_object_scope({"MyLayer": MyLayer}): load_model(path)``."""
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_object_scope: expected a dict {{name: class}}; received {custom_objects!r}")
    token = _scope.set({**(_scope.get() or {}), **custom_objects})
    try:
        yield
    finally:
        _scope.reset(token)


def resolve(entry: dict, base: type, what: str) -> Optional[type]:
    """The user class a config entry names (``registered_name`` first), checked to be a
    subclass of ``base``; None when the entry names no registered class."""
    for key in (entry.get("registered_name"), entry.get("class_name")):
        if isinstance(key, str) and key:
            cls = get_registered_object(key)
            if cls is not None:
                if not (isinstance(cls, type) and issubclass(cls, base)):
                    raise ValueError(f"{what}: {key!r} is registered as {cls!r}, which is not a "
                                     f"{base.__module__}.{base.__name__} subclass")
                return cls
    return None


def unregistered(entry: dict, what: str) -> ValueError:
    name = entry.get("registered_name") or entry.get("class_name")
    return ValueError(f"unknown {what} {name!r}: not a dnnx class and not registered; decorate the class with "
                      f"@dnnx.saving.register_keras_serializable() and import it before loading, or pass "
                      f"custom_objects={{{str(name).split('>')[-1]!r}: TheClass}} to load_model")
