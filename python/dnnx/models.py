"""Models: ``Model(inputs, outputs)`` (Keras's functional API, ``_functional``) and
``Sequential``, its one-path case (``_sequential``). Both build one C++ ``_core.Network``
from the traced graph; training, evaluation and inference live in ``_trainer.Trainer``.
"""

from __future__ import annotations

from ._functional import Model
from ._sequential import Sequential


def model_from_json(json_string: str) -> Model:
    """A model from ``model.to_json()`` (architecture only; weights are fresh)."""
    import json
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"model_from_json: not valid JSON ({e})") from None
    return Model.from_config(config)


Functional = Model

from .saving import load_model, save_model  # noqa: E402  (keras.models.load_model / save_model)

__all__ = ["Model", "Sequential", "Functional", "model_from_json", "load_model", "save_model"]
