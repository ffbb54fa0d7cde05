"""Run once from the repository root (at commit 0cd217c of main, before the graph core): writes tests/data/sequential_v1.dnnx with the pre-graph (format_version 1) code of main.
It ran with the avx512 GEMM kernel (the expected predictions are that kernel's bits)."""
import numpy as np
import dnnx
from dnnx import layers

rng = np.random.default_rng(0)
x = rng.standard_normal((64, 5)).astype(np.float32)
y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 0.5)
m = dnnx.Sequential([dnnx.Input(shape=(5,)), layers.Dense(8, activation="relu", name="hidden"),
                     layers.BatchNormalization(), layers.Dropout(0.1), layers.LayerNormalization(),
                     layers.Dense(3, activation="softmax")], seed=11)
m.compile(optimizer=dnnx.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
m.fit(x, y, epochs=2, batch_size=16, verbose=0)
m.save("tests/data/sequential_v1.dnnx")
np.savez("tests/data/sequential_v1_expected.npz", x=x, y=y, predict=m.predict(x),
         iterations=np.array(m.optimizer.iterations))
print(m.predict(x)[:2], m.optimizer.iterations)
