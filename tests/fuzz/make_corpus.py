"""Writes the seed corpora under tests/fuzz/corpus/ (run from the repository root:
``python tests/fuzz/make_corpus.py``). Seeds are small valid inputs the fuzzers mutate."""

import hashlib
import json
import os
import sys

import numpy as np

import dnnx
from dnnx import layers, saving

HERE = os.path.dirname(os.path.abspath(__file__))


def models():
    a = dnnx.Sequential([dnnx.Input(shape=(3,)), layers.Dense(4, activation="relu"), layers.Dropout(0.1),
                         layers.Dense(2, activation="softmax")], seed=0)
    b = dnnx.Sequential([dnnx.Input(shape=(2, 3)), layers.LayerNormalization(), layers.Dense(2)], seed=1)
    b.compile(optimizer="adam", loss="mse", metrics=["mae"])
    num = dnnx.Input(shape=(2,), name="num")
    ids = dnnx.Input(shape=(1,), dtype="int64", name="ids")
    h = layers.Concatenate()([num, layers.Flatten()(layers.Embedding(5, 2)(ids))])
    h = layers.Add()([layers.Dense(4)(h), layers.Dense(4, activation="tanh")(h)])
    c = dnnx.Model([num, ids], {"p": layers.Dense(1, activation="sigmoid", name="p")(layers.BatchNormalization()(h)),
                                "q": layers.Dense(2, name="q")(h)}, seed=2)
    c.compile(optimizer=dnnx.optimizers.SGD(momentum=0.9), loss={"p": "binary_crossentropy", "q": "huber"},
              metrics={"p": ["auc", "accuracy"]})
    a.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.ones((4, 3), np.float32)
    a.fit(x, np.array([0, 1, 0, 1]), verbose=0)
    return [a, b, c]


def write(sub, blobs):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for blob in blobs:
        with open(os.path.join(d, hashlib.sha1(blob).hexdigest()[:16]), "wb") as f:
            f.write(blob)


def main():
    ms = models()
    files = [saving.model_to_bytes(m) for m in ms]
    uncompiled = dnnx.Sequential([dnnx.Input(shape=(2,)), layers.Dense(1)], seed=5)
    uncompiled.build()
    files.append(saving.model_to_bytes(uncompiled))
    for m in ms:  # the structure-aware modes of fuzz_model_file: a header / a model_config
        data = saving.model_to_bytes(m)
        n = int.from_bytes(data[:8], "little")
        files.append(bytes([2]) + data[8:8 + n])
        files.append(bytes([3]) + json.loads(data[8:8 + n])["__metadata__"]["model_config"].encode())
    write("model_file", files)
    configs = []
    for how in (0, 1, 2):
        for m in ms:
            configs.append(bytes([how]) + m.to_json().encode("ascii"))
    write("config", configs)
    rng = np.random.default_rng(0)
    write("arrays", [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (16, 64, 128, 256, 512)])


if __name__ == "__main__":
    sys.exit(main())
