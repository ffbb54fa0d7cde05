"""atheris harness: the model-file loader (``dnnx.saving.model_from_bytes``) on any bytes.

A finding is anything but the documented errors (ValueError, of which InvalidModelFile is
one, TypeError, OSError): another exception type, a crash, a hang (libFuzzer -timeout) or
memory beyond -rss_limit_mb. A file that loads must give a model that predicts.

    python tests/fuzz/fuzz_model_file.py -max_total_time=600 CORPUS_DIR tests/fuzz/corpus/model_file
"""

import json
import struct
import sys

import atheris

import _harness  # noqa: F401  (numpy & co. imported before instrumentation; memory limit)

import dnnx  # noqa: F401
from dnnx import saving

_harness.instrument_dnnx()



def _good_file() -> bytes:
    num = dnnx.Input(shape=(2,), name="num")
    ids = dnnx.Input(shape=(1,), dtype="int64", name="ids")
    h = dnnx.layers.Concatenate()([num, dnnx.layers.Flatten()(dnnx.layers.Embedding(4, 2)(ids))])
    h = dnnx.layers.BatchNormalization()(dnnx.layers.Dense(3, activation="relu")(h))
    m = dnnx.Model([num, ids], dnnx.layers.Dense(2, activation="softmax", name="out")(h), seed=0)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return saving.model_to_bytes(m)


GOOD = _good_file()
_N = int.from_bytes(GOOD[:8], "little")
GOOD_HEADER, GOOD_BODY = json.loads(GOOD[8:8 + _N]), GOOD[8 + _N:]


def _file(data: bytes) -> bytes:
    """Mode (first byte % 4): 0-1 the bytes as a file; 2 the rest as the safetensors header
    JSON (over a real file's tensor bytes); 3 the rest as the model_config of a real file."""
    mode = data[0] % 4 if data else 0
    if mode < 2:
        return data
    text = data[1:].decode("utf-8", "replace")
    if mode == 2:
        h = text.encode("utf-8")
        return struct.pack("<Q", len(h)) + h + GOOD_BODY
    header = dict(GOOD_HEADER)
    header["__metadata__"] = dict(header["__metadata__"], model_config=text)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + GOOD_BODY


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    try:
        model = saving.model_from_bytes(_file(data), "<fuzz>")
    except (ValueError, TypeError, OSError):
        return
    _harness.exercise(model)


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
