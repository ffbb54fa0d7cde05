"""Serving: a dnnx model's ``predict`` against onnxruntime running the file
``dnnx.onnx.export`` wrote from the same model.

    python bench/onnx_serving.py                       # 5 rounds, 1 and 2 threads
    python bench/onnx_serving.py --rounds 7 --threads 1 --markdown

Nets: 784-512-256-10 (ReLU, softmax) and a small tabular net 30-64-32-1 (ReLU, sigmoid),
float32, random weights (seeded). Batches 1 and 256. Each (framework, net, batch, threads)
is measured in its own process (``--worker``), which imports only its framework, loads the
model (a dnnx file or the exported ONNX file), warms up and reports the median per-call
time of repeated calls on the same input; the two frameworks alternate within a round (the
one that goes first alternates too). Threads: ``dnnx.set_num_threads(T)``; onnxruntime
``SessionOptions.intra_op_num_threads = T`` (``inter_op_num_threads = 1``, sequential
execution, all graph optimizations on). The table gives the median over rounds of each
framework's per-call time and the ratio onnxruntime / dnnx (above 1: dnnx is faster) as
the median of the per-round ratios with their min-max spread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _machine import cpu_name

NETS = {"784-512-256-10": [784, 512, 256, 10], "30-64-32-1": [30, 64, 32, 1]}
MARK = "@@RESULT "


def build(workdir: str) -> dict:
    """Write each net as a dnnx file and its ONNX export; returns {net: (dnnx_path, onnx_path)}."""
    import numpy as np
    import dnnx
    from dnnx import layers
    files = {}
    for name, sizes in NETS.items():
        rng = np.random.default_rng(0)
        out_act = "softmax" if sizes[-1] > 1 else "sigmoid"
        model = dnnx.Sequential([dnnx.Input(shape=(sizes[0],))]
                                + [layers.Dense(n, activation="relu") for n in sizes[1:-1]]
                                + [layers.Dense(sizes[-1], activation=out_act)], seed=0)
        model.set_weights([rng.normal(scale=0.05, size=w.shape).astype(np.float32) for w in model.get_weights()])
        d, o = os.path.join(workdir, f"{name}.dnnx"), os.path.join(workdir, f"{name}.onnx")
        model.save(d)
        dnnx.onnx.export(model, o)
        files[name] = (d, o)
    return files


def worker(framework: str, path: str, batch: int, threads: int, min_time: float) -> dict:
    import numpy as np
    if framework == "dnnx":
        import dnnx
        dnnx.set_num_threads(threads)
        model = dnnx.load_model(path)
        width = model.input_dim

        def call(x):
            return model.predict(x, verbose=0)  # no progress line: the serving path
    else:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        inp = sess.get_inputs()[0]
        width = inp.shape[1]
        name = inp.name

        def call(x):
            return sess.run(None, {name: x})[0]
    x = np.random.default_rng(1).random((batch, width), dtype=np.float32)
    y = call(x)
    for _ in range(20):
        call(x)
    # calls per timing sample: about 5 ms of work, so the clock's resolution does not matter
    t0 = time.perf_counter()
    call(x)
    per = max(1, int(0.005 / max(time.perf_counter() - t0, 1e-7)))
    samples, start = [], time.perf_counter()
    while time.perf_counter() - start < min_time or len(samples) < 7:
        t0 = time.perf_counter()
        for _ in range(per):
            call(x)
        samples.append((time.perf_counter() - t0) / per)
    return {"us": statistics.median(samples) * 1e6, "checksum": float(np.asarray(y, np.float64).sum())}


def run_worker(framework, path, batch, threads, min_time) -> dict:
    env = dict(os.environ)
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(k, None)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, path, str(batch), str(threads),
           str(min_time)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    for line in out.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise RuntimeError(f"worker {framework} failed:\n{out.stdout}\n{out.stderr}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--min-time", type=float, default=0.4, help="seconds of timed calls per measurement")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    import onnxruntime
    import dnnx
    configs = [(n, b, t) for n in args.nets for b in args.batches for t in args.threads]
    times = {c: {"dnnx": [], "onnxruntime": []} for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        files = build(tmp)
        for r in range(args.rounds):
            for i, (net, batch, threads) in enumerate(configs):
                order = ["dnnx", "onnxruntime"] if (r + i) % 2 == 0 else ["onnxruntime", "dnnx"]
                sums = {}
                for fw in order:
                    path = files[net][0] if fw == "dnnx" else files[net][1]
                    res = run_worker(fw, path, batch, threads, args.min_time)
                    times[(net, batch, threads)][fw].append(res["us"])
                    sums[fw] = res["checksum"]
                if abs(sums["dnnx"] - sums["onnxruntime"]) > 1e-3 * max(1.0, abs(sums["dnnx"])):
                    raise RuntimeError(f"{net} batch {batch}: outputs differ ({sums})")
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"CPU: {cpu_name()}; dnnx {dnnx.__version__} (kernel {dnnx._core.kernel_info()['name']}), onnxruntime "
          f"{onnxruntime.__version__}; {args.rounds} rounds, separate processes, alternating")
    head = ["net", "batch", "threads", "dnnx µs/call", "onnxruntime µs/call", "ratio ort/dnnx (>1: dnnx faster)",
            "spread (min-max)"]
    rows = []
    for (net, batch, threads), t in times.items():
        ratios = [o / d for d, o in zip(t["dnnx"], t["onnxruntime"])]
        rows.append([net, str(batch), str(threads), f"{statistics.median(t['dnnx']):.1f}",
                     f"{statistics.median(t['onnxruntime']):.1f}", f"{statistics.median(ratios):.2f}x",
                     f"{min(ratios):.2f}-{max(ratios):.2f}"])
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        for row in [head] + rows:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        fw, path, batch, threads, min_time = sys.argv[2:7]
        print(MARK + json.dumps(worker(fw, path, int(batch), int(threads), float(min_time))), flush=True)
    else:
        sys.exit(main())
