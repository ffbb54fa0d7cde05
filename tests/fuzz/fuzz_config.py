"""atheris harness: ``dnnx.models.model_from_json`` and ``Model.from_config`` /
``Sequential.from_config`` on any text.

A finding is anything but ValueError/TypeError (and MemoryError for a model that really is
too large for the harness's address-space limit), a crash or a hang. A config that loads
must give a model that predicts and round-trips through to_json.

    python tests/fuzz/fuzz_config.py -max_total_time=600 CORPUS_DIR tests/fuzz/corpus/config
"""

import json
import sys

import atheris

import _harness  # noqa: F401

import dnnx
from dnnx.models import model_from_json

_harness.instrument_dnnx()



def TestOneInput(data: bytes) -> None:  # noqa: N802
    if not data:
        return
    how = data[0] % 3  # 0: model_from_json, 1: Model.from_config, 2: Sequential.from_config
    text = data[1:].decode("utf-8", "replace")
    try:
        if how == 0:
            model = model_from_json(text)
        else:
            try:
                config = json.loads(text)
            except (ValueError, RecursionError):
                return
            cls = dnnx.Model if how == 1 else dnnx.Sequential
            model = cls.from_config(config)
    except (ValueError, TypeError, MemoryError):
        return
    if not model.built:
        return
    _harness.exercise(model)
    again = model_from_json(model.to_json())
    assert again.count_params() == model.count_params()


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
