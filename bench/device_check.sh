#!/usr/bin/env bash
# One-shot check on a many-core machine (e.g. the 16-core device host): build, run the
# GEMM/matmul tests under every kernel the CPU has (AVX-512 included), bench_gemm at 1 and
# all threads, and OpenMP scaling + bitwise thread invariance of a training epoch.
# Usage: bash bench/device_check.sh [OUTDIR]
set -uo pipefail
OUT=${1:-/tmp/dnnx-device}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
REPO=$(pwd)
export DNNX_CHECK_N=${DNNX_CHECK_N:-30000}
exec > >(tee "$OUT/device_check.log") 2>&1
echo "== machine"; nproc; lscpu | grep -E "Model name|Socket|Thread|Core|L2|L3|Flags" | sed 's/\(Flags:.\{0,40\}\).*\(avx512[a-z_]*\).*/\1 ... has \2 .../'
grep -o -w -E "avx512f|avx512vl|avx512dq|avx512bw|avx2|fma" /proc/cpuinfo | sort | uniq -c
echo "== build"; T0=$(date +%s)
$PY -m pip install --no-build-isolation --no-deps -q --target "$OUT/site" . || exit 1
export PYTHONPATH="$OUT/site${PYTHONPATH:+:$PYTHONPATH}"
cmake -S . -B "$OUT/bb" -DDNNX_BUILD_BENCH=ON -DDNNX_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build "$OUT/bb" -j "$(nproc)" >/dev/null || echo "bench build failed"
echo "build took $(( $(date +%s) - T0 )) s"
cd "$OUT" || exit 1
$PY -c "import dnnx; dnnx.show_config()"
echo "== tests: GEMM/matmul (every kernel), core, bindings"
TESTS=()
for f in test_gemm.py test_matmul.py test_core_network.py test_core_perf_paths.py test_bindings.py test_models.py; do
  [ -f "$REPO/tests/$f" ] && TESTS+=("$REPO/tests/$f")
done
$PY -m pytest -q -x -p no:cacheprovider -W ignore::DeprecationWarning --rootdir "$REPO" -c "$REPO/pyproject.toml" "${TESTS[@]}" 2>&1 | tail -4
B=$(find "$OUT/bb" -name bench_gemm -type f | head -1)
if [ -n "$B" ]; then
  echo "== bench_gemm 1 thread"; DNNX_NUM_THREADS=1 timeout 120 "$B" --reps 3 2>&1 | tail -60
  echo "== bench_gemm $(nproc) threads"; DNNX_NUM_THREADS=$(nproc) timeout 120 "$B" --reps 3 2>&1 | tail -60
fi
echo "== training epoch scaling (784-512-256-10, Adam, $DNNX_CHECK_N samples)"
$PY - <<'PYEOF'
import time, numpy as np, dnnx, os
from dnnx import layers
rng = np.random.default_rng(0)
N = int(os.environ["DNNX_CHECK_N"])
x = rng.standard_normal((N, 784)).astype(np.float32); y = rng.integers(0, 10, N)
def run(threads, bs, epochs=2):
    dnnx.set_num_threads(threads)
    dnnx.utils.set_random_seed(0)
    m = dnnx.Sequential([dnnx.Input(shape=(784,)), layers.Dense(512, activation="relu"), layers.Dropout(0.1),
                         layers.Dense(256, activation="relu"), layers.Dense(10, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x[:2048], y[:2048], batch_size=bs, epochs=1, verbose=0)
    ts = []
    for _ in range(epochs):
        t = time.perf_counter(); m.fit(x, y, batch_size=bs, epochs=1, verbose=0); ts.append(time.perf_counter() - t)
    fl = 6 * len(x) * (784*512 + 512*256 + 256*10) - 2 * len(x) * 784 * 512
    return min(ts), fl / min(ts) / 1e9, m.get_weights()
ncpu = os.cpu_count()
for bs in (128, 512):
    ref = None
    for t in sorted({1, 2, 4, 8, ncpu}):
        dt, gf, w = run(t, bs)
        same = "ref" if ref is None else ("bitwise-equal" if all(np.array_equal(a, b) for a, b in zip(ref, w)) else "DIFFERENT")
        ref = ref or w
        print(f"bs={bs:4d} threads={t:2d}: {dt*1e3:8.1f} ms/epoch {gf:7.1f} GFLOP/s  weights vs 1 thread: {same}", flush=True)
m = dnnx.Sequential([dnnx.Input(shape=(784,)), layers.Dense(512, activation="relu"), layers.Dense(256, activation="relu"), layers.Dense(10)])
m.build()
for t in sorted({1, 2, ncpu}):
    dnnx.set_num_threads(t)
    for bs in (1, 32, 256):
        xb = x[:bs].copy()
        for _ in range(50): m.predict_on_batch(xb)
        t0 = time.perf_counter(); n = 300
        for _ in range(n): m.predict_on_batch(xb)
        print(f"predict threads={t:2d} bs={bs:3d}: {(time.perf_counter()-t0)/n*1e6:8.1f} us", flush=True)
PYEOF
echo "== done"
