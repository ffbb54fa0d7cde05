"""Model files: one safetensors file per model.

Tensors: ``param.NNNN`` (every weight, Keras order), ``opt.NN`` (optimizer slots),
``state.iterations`` and ``state.rng`` (int64). Metadata (JSON strings): ``format``,
``format_version``, ``dnnx_version``, ``model_config``, ``compile_config``, ``param_names`` and,
when the model carries any, ``extra`` (a JSON object of plain data, e.g. ``dnnx.tabular``'s
task, target column and class labels).

``model_config`` (format_version 2) is Keras's model layout, ``{"class_name": "Functional" |
"Sequential", "config": ...}`` (see ``_serialization``), plus ``"seed"``; ``compile_config`` is
the optimizer and the per-output losses, loss weights, metrics and weighted metrics. Files of
format_version 1 (the pre-graph Sequential layout) still load.

Writes are atomic: a temporary file in the same directory is written, fsync'ed and renamed
over the target, so a crash mid-save never destroys the previous file. Loading parses the
safetensors header (JSON) and raw tensor bytes only: it never executes code, and it checks
every field before building anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict

import numpy as np

from ._custom_objects import (custom_object_scope, get_registered_name, get_registered_object,  # noqa: F401
                              register_keras_serializable)

FORMAT_MODEL = "dnnx.model"
FORMAT_WEIGHTS = "dnnx.weights"
FORMAT_VERSION = "2"  # 2: the Keras model layout (graphs); 1: the pre-graph Sequential layout
READABLE_VERSIONS = ("1", "2")


class InvalidModelFile(ValueError):
    """Raised when a file is not a valid dnnx model/weights file."""


def _atomic_write(path: str, data: bytes) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _serialize(tensors: Dict[str, np.ndarray], metadata: Dict[str, str]) -> bytes:
    from safetensors.numpy import save
    return save({k: np.ascontiguousarray(v) for k, v in tensors.items()}, metadata=metadata)


def _read_bytes(path) -> tuple:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such model file: {path!r}")
    with open(path, "rb") as f:
        return path, f.read()


def _parse(data: bytes, path: str) -> tuple:
    if len(data) < 8:
        raise InvalidModelFile(f"{path!r} is not a dnnx file: too short")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise InvalidModelFile(f"{path!r} is not a dnnx file: bad safetensors header length")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise InvalidModelFile(f"{path!r} is not a dnnx file: header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise InvalidModelFile(f"{path!r} is not a dnnx file: header is not a JSON object")
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise InvalidModelFile(f"{path!r} is not a dnnx file: no metadata")
    try:
        from safetensors.numpy import load
        tensors = load(data)
    except Exception as e:  # the safetensors parser validates offsets, dtypes and shapes
        raise InvalidModelFile(f"{path!r} is not a valid safetensors file: {e}") from None
    return path, meta, tensors


def _read(path) -> tuple:
    path, data = _read_bytes(path)
    return _parse(data, path)


def _json(meta: Dict[str, str], key: str, path: str) -> Any:
    if key not in meta:
        raise InvalidModelFile(f"{path!r}: metadata field {key!r} is missing")
    try:
        return json.loads(meta[key])
    except (json.JSONDecodeError, RecursionError) as e:
        raise InvalidModelFile(f"{path!r}: metadata field {key!r} is not valid JSON ({e})") from None


def _check_format(meta, path, expected):
    fmt = meta.get("format")
    if fmt != expected:
        raise InvalidModelFile(f"{path!r}: expected a {expected!r} file; found format {fmt!r}")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise InvalidModelFile(f"{path!r}: unsupported format_version {meta.get('format_version')!r} "
                               f"(this dnnx reads {', '.join(READABLE_VERSIONS)})")


def _param_tensors(model) -> Dict[str, np.ndarray]:
    return {f"param.{i:04d}": p for i, p in enumerate(model._net.params())}


def _assign(views, tensors: Dict[str, np.ndarray], prefix: str, path: str, what: str) -> None:
    keys = sorted(k for k in tensors if k.startswith(prefix))
    if len(keys) != len(views):
        raise InvalidModelFile(f"{path!r}: expected {len(views)} {what} tensors; found {len(keys)}")
    for i, v in enumerate(views):
        key = f"{prefix}{i:04d}" if prefix == "param." else f"{prefix}{i:02d}"
        t = tensors.get(key)
        if t is None:
            raise InvalidModelFile(f"{path!r}: tensor {key!r} is missing")
        if t.dtype != v.dtype or t.shape != v.shape:
            raise InvalidModelFile(f"{path!r}: tensor {key!r} must be {v.dtype} {v.shape}; found {t.dtype} "
                                   f"{t.shape}")
    for i, v in enumerate(views):
        key = f"{prefix}{i:04d}" if prefix == "param." else f"{prefix}{i:02d}"
        v[...] = tensors[key]


def _compile_config(model):
    """Optimizer plus the per-output losses, loss weights and (weighted) metrics."""
    if not model.compiled:
        return None
    return {"optimizer": model.optimizer.get_config(), **model._resolved_compile().get_config()}


def model_to_bytes(model) -> bytes:
    """The model file's bytes: what ``save`` writes."""
    from . import __version__
    from ._serialization import serialize_model
    model._require_built("save")
    model._pull_shared()
    net = model._net
    tensors = _param_tensors(model)
    if model.compiled:
        for j, s in enumerate(net.optimizer_state()):
            tensors[f"opt.{j:02d}"] = s
    seed, counter = net.get_rng_state()
    tensors["state.iterations"] = np.array([net.iterations], np.int64)
    tensors["state.rng"] = np.array([seed, counter], np.int64)
    cfg = dict(serialize_model(model), seed=int(seed))
    meta = {"format": FORMAT_MODEL, "format_version": FORMAT_VERSION, "dnnx_version": __version__,
            "model_config": json.dumps(cfg), "compile_config": json.dumps(_compile_config(model)),
            "param_names": json.dumps(net.param_names())}
    extra = getattr(model, "_file_metadata", None)
    if extra is not None:
        meta["extra"] = json.dumps(extra)  # data that travels with the model (dnnx.tabular: task, classes)
    return _serialize(tensors, meta)


def save_model(model, filepath, overwrite: bool = True) -> None:
    """Write ``model`` to ``filepath`` (Keras's ``keras.saving.save_model``); with
    ``overwrite=False`` an existing file is an error (Keras would ask on the terminal)."""
    if not isinstance(overwrite, bool):
        raise TypeError(f"save_model: overwrite must be a bool. Received: overwrite={overwrite!r}")
    if not overwrite and os.path.exists(os.fspath(filepath)):
        raise FileExistsError(f"save_model: {os.fspath(filepath)!r} exists and overwrite=False")
    _atomic_write(filepath, model_to_bytes(model))


def _seed(cfg: dict) -> int:
    seed = cfg.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, found {seed!r}")
    return seed


def _model_from_v1_config(cfg: dict):
    """The pre-graph layout (format_version 1): a Sequential as {name, dtype, input_dim, seed,
    layers: [{"class": type_name, "config"}]}."""
    from .layers import LAYER_CLASSES, Input
    from .models import Sequential
    if cfg.get("dtype") not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64, found {cfg.get('dtype')!r}")
    dim = cfg.get("input_dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"input_dim must be a positive integer, found {dim!r}")
    if not isinstance(cfg.get("layers"), list) or not cfg["layers"]:
        raise ValueError("layers must be a non-empty list")
    model = Sequential(dtype=cfg["dtype"], name=str(cfg.get("name", "sequential")), seed=_seed(cfg))
    model.add(Input(shape=(dim,)))
    for entry in cfg["layers"]:
        if not isinstance(entry, dict) or entry.get("class") not in LAYER_CLASSES \
                or not isinstance(entry.get("config"), dict):
            raise ValueError(f"unknown or malformed layer entry {entry!r}")
        model.add(LAYER_CLASSES[entry["class"]].from_config(entry["config"]))
    model.build()
    return model


def _model_from_config(cfg: Any, path: str, version: str, n_weights: int):
    from ._functional import max_params
    from ._serialization import model_from_config
    token = max_params.set(n_weights)  # the file's weights bound the model: nothing larger is allocated
    try:
        if not isinstance(cfg, dict):
            raise TypeError("model_config is not an object")
        if version == "1":
            return _model_from_v1_config(cfg)
        return model_from_config(cfg, seed=_seed(cfg))
    except (TypeError, ValueError, KeyError, RecursionError) as e:
        raise InvalidModelFile(f"{path!r}: invalid model_config: {e}") from None
    finally:
        max_params.reset(token)


def _compile_from_config(model, ccfg: Any, version: str) -> None:
    from . import losses, metrics, optimizers

    def metric_dict(d):
        if not isinstance(d, dict) or not all(isinstance(v, list) for v in d.values()):
            raise ValueError("metrics must map output names to lists")
        return {k: [metrics.deserialize(m) for m in v] for k, v in d.items()}

    if not isinstance(ccfg, dict):
        raise ValueError("compile_config must be an object")
    opt = optimizers.deserialize(ccfg["optimizer"])
    if version == "1":
        if not isinstance(ccfg.get("metrics"), list):
            raise ValueError("compile_config must be an object with a metrics list")
        model.compile(optimizer=opt, loss=losses.deserialize(ccfg["loss"]),
                      metrics=[metrics.deserialize(m) for m in ccfg["metrics"]])
        return
    loss = ccfg["loss"]
    if not isinstance(loss, dict):
        raise ValueError("loss must map output names to loss configs")
    model.compile(optimizer=opt, loss={k: None if v is None else losses.deserialize(v) for k, v in loss.items()},
                  loss_weights=ccfg["loss_weights"], metrics=metric_dict(ccfg["metrics"]),
                  weighted_metrics=metric_dict(ccfg["weighted_metrics"]))


def model_from_bytes(data: bytes, path: str = "<bytes>", compile: bool = True):
    """The model whose file bytes are ``data`` (what ``load_model`` reads)."""
    path, meta, tensors = _parse(data, path)
    _check_format(meta, path, FORMAT_MODEL)
    version = meta["format_version"]
    n_weights = sum(int(t.size) for k, t in tensors.items() if k.startswith("param."))
    model = _model_from_config(_json(meta, "model_config", path), path, version, n_weights)
    if not model.built:
        raise InvalidModelFile(f"{path!r}: invalid model_config: the model has no input shape (a saved model is "
                               f"always built)")
    _assign(model._net.params(), tensors, "param.", path, "weight")
    ccfg = _json(meta, "compile_config", path)
    if compile and ccfg is not None:
        try:
            _compile_from_config(model, ccfg, version)
        except (TypeError, ValueError, KeyError) as e:
            raise InvalidModelFile(f"{path!r}: invalid compile_config: {e}") from None
        _assign(model._net.optimizer_state(), tensors, "opt.", path, "optimizer state")
        for key, shape in (("state.iterations", (1,)), ("state.rng", (2,))):
            t = tensors.get(key)
            if t is None or t.dtype != np.int64 or t.shape != shape:
                raise InvalidModelFile(f"{path!r}: tensor {key!r} must be int64 {shape}")
        it, rng = tensors["state.iterations"], tensors["state.rng"]
        if it[0] < 0 or rng[0] < 0 or rng[1] < 0:
            raise InvalidModelFile(f"{path!r}: negative iteration or RNG state")
        model._net.iterations = int(it[0])
        model._net.set_rng_state(int(rng[0]), int(rng[1]))
    if "extra" in meta:
        extra = _json(meta, "extra", path)
        if not isinstance(extra, dict):
            raise InvalidModelFile(f"{path!r}: metadata field 'extra' must be a JSON object")
        model._file_metadata = extra
    model._weights_changed()
    return model


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Load a model saved by ``model.save`` (any dnnx format version; Keras's signature).
    Never executes code from the file: subclassed layers and models are rebuilt only from
    classes registered with ``register_keras_serializable`` or given in ``custom_objects``
    (``{"ClassName": cls}``). ``safe_mode`` is accepted for Keras scripts (always safe)."""
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"load_model: custom_objects must be a dict {{name: class}}. Received: "
                        f"custom_objects={custom_objects!r}")
    if not isinstance(compile, bool):
        raise TypeError(f"load_model: compile must be a bool. Received: compile={compile!r}")
    path, data = _read_bytes(filepath)
    with custom_object_scope(custom_objects or {}):
        return model_from_bytes(data, path, compile)


def model_payload(model) -> tuple:
    """What ``copy``/serialization of a model carries: the file bytes of a built model, or
    the architecture and compile JSON of an unbuilt Sequential (data only, never code)."""
    if model.built:
        return ("file", model_to_bytes(model))
    from ._serialization import serialize_model
    return ("config", json.dumps(serialize_model(model)), json.dumps(_compile_config(model)))


def _restore(kind: str, *payload):
    if kind == "file":
        return model_from_bytes(payload[0])
    if kind == "config":
        from ._serialization import model_from_config
        model = model_from_config(json.loads(payload[0]))
        ccfg = json.loads(payload[1])
        if ccfg is not None:
            _compile_from_config(model, ccfg, FORMAT_VERSION)
        return model
    raise ValueError(f"unknown model payload kind {kind!r}")


def save_weights(model, filepath) -> None:
    from . import __version__
    model._require_built("save_weights")
    model._pull_shared()
    meta = {"format": FORMAT_WEIGHTS, "format_version": FORMAT_VERSION, "dnnx_version": __version__,
            "param_names": json.dumps(model._net.param_names())}
    _atomic_write(filepath, _serialize(_param_tensors(model), meta))


def load_weights(model, filepath) -> None:
    model._require_built("load_weights")
    path, meta, tensors = _read(filepath)
    if meta.get("format") == FORMAT_MODEL:
        _check_format(meta, path, FORMAT_MODEL)  # a full model file also carries the weights
    else:
        _check_format(meta, path, FORMAT_WEIGHTS)
    model._pull_shared()
    _assign(model._net.params(), tensors, "param.", path, "weight")
    model._weights_changed()
