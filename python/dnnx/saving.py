"""Model files: one safetensors file per model.

Tensors: ``param.NNNN`` (every weight, Keras order), ``opt.NN`` (optimizer slots),
``state.iterations`` and ``state.rng`` (int64). Metadata (JSON strings): ``format``,
``format_version``, ``dnnx_version``, ``model_config``, ``compile_config``, ``param_names``.

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

FORMAT_MODEL = "dnnx.model"
FORMAT_WEIGHTS = "dnnx.weights"
FORMAT_VERSION = "1"


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


def _read(path) -> tuple:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No such model file: {path!r}")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise InvalidModelFile(f"{path!r} is not a dnnx file: too short")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise InvalidModelFile(f"{path!r} is not a dnnx file: bad safetensors header length")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
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


def _json(meta: Dict[str, str], key: str, path: str) -> Any:
    if key not in meta:
        raise InvalidModelFile(f"{path!r}: metadata field {key!r} is missing")
    try:
        return json.loads(meta[key])
    except json.JSONDecodeError as e:
        raise InvalidModelFile(f"{path!r}: metadata field {key!r} is not valid JSON ({e})") from None


def _check_format(meta, path, expected):
    fmt = meta.get("format")
    if fmt != expected:
        raise InvalidModelFile(f"{path!r}: expected a {expected!r} file; found format {fmt!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InvalidModelFile(f"{path!r}: unsupported format_version {meta.get('format_version')!r} "
                               f"(this dnnx reads {FORMAT_VERSION!r})")


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
    if not model.compiled:
        return None
    from .metrics import serialize
    return {"optimizer": model.optimizer.get_config(), "loss": model.loss.get_config(),
            "metrics": [serialize(m) for m in model._metrics]}


def save_model(model, filepath) -> None:
    from . import __version__
    model._require_built("save")
    net = model._net
    tensors = _param_tensors(model)
    if model.compiled:
        for j, s in enumerate(net.optimizer_state()):
            tensors[f"opt.{j:02d}"] = s
    seed, counter = net.get_rng_state()
    tensors["state.iterations"] = np.array([net.iterations], np.int64)
    tensors["state.rng"] = np.array([seed, counter], np.int64)
    cfg = model.get_config()
    cfg["seed"] = int(seed)
    meta = {"format": FORMAT_MODEL, "format_version": FORMAT_VERSION, "dnnx_version": __version__,
            "model_config": json.dumps(cfg), "compile_config": json.dumps(_compile_config(model)),
            "param_names": json.dumps(net.param_names())}
    _atomic_write(filepath, _serialize(tensors, meta))


def _model_from_config(cfg: Any, path: str):
    from .layers import LAYER_CLASSES
    from .models import Sequential
    try:
        if not isinstance(cfg, dict):
            raise TypeError("model_config is not an object")
        if cfg.get("dtype") not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, found {cfg.get('dtype')!r}")
        dim = cfg.get("input_dim")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"input_dim must be a positive integer, found {dim!r}")
        seed = cfg.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, found {seed!r}")
        if not isinstance(cfg.get("layers"), list) or not cfg["layers"]:
            raise ValueError("layers must be a non-empty list")
        model = Sequential(dtype=cfg["dtype"], name=str(cfg.get("name", "sequential")), seed=seed)
        for entry in cfg["layers"]:
            if not isinstance(entry, dict) or entry.get("class") not in LAYER_CLASSES \
                    or not isinstance(entry.get("config"), dict):
                raise ValueError(f"unknown or malformed layer entry {entry!r}")
            model.add(LAYER_CLASSES[entry["class"]].from_config(entry["config"]))
        model.build((None, dim))
        return model
    except (TypeError, ValueError, KeyError) as e:
        raise InvalidModelFile(f"{path!r}: invalid model_config: {e}") from None


def load_model(filepath, compile: bool = True):
    """Load a model saved by ``model.save``. Never executes code from the file."""
    path, meta, tensors = _read(filepath)
    _check_format(meta, path, FORMAT_MODEL)
    model = _model_from_config(_json(meta, "model_config", path), path)
    _assign(model._net.params(), tensors, "param.", path, "weight")
    ccfg = _json(meta, "compile_config", path)
    if compile and ccfg is not None:
        from . import losses, metrics, optimizers
        try:
            if not isinstance(ccfg, dict) or not isinstance(ccfg.get("metrics"), list):
                raise ValueError("compile_config must be an object with a metrics list")
            model.compile(optimizer=optimizers.deserialize(ccfg["optimizer"]), loss=losses.deserialize(ccfg["loss"]),
                          metrics=[metrics.deserialize(m) for m in ccfg["metrics"]])
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
    model._weights_changed()
    return model


def save_weights(model, filepath) -> None:
    from . import __version__
    model._require_built("save_weights")
    meta = {"format": FORMAT_WEIGHTS, "format_version": FORMAT_VERSION, "dnnx_version": __version__,
            "param_names": json.dumps(model._net.param_names())}
    _atomic_write(filepath, _serialize(_param_tensors(model), meta))


def load_weights(model, filepath) -> None:
    model._require_built("load_weights")
    path, meta, tensors = _read(filepath)
    if meta.get("format") == FORMAT_MODEL:
        pass  # a full model file also carries the weights
    else:
        _check_format(meta, path, FORMAT_WEIGHTS)
    _assign(model._net.params(), tensors, "param.", path, "weight")
    model._weights_changed()
