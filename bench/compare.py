"""dnnx against PyTorch, scikit-learn and plain NumPy on the same data, as ratios.

Every measurement runs in its own subprocess (``bench/_compare_worker.py``): two OpenMP
runtimes in one process disturb each other, and a fresh process gives a clean peak-RSS
reading. Repeats alternate between frameworks (A B C D A B C D ...) so that slow drift on a
shared machine hits all of them alike, and every table shows medians.

    python bench/compare.py                       # everything, 1 and 2 threads (~10-15 min)
    python bench/compare.py --quick               # tiny sizes, 1 repeat (the test runs this)
    python bench/compare.py --only train,predict --threads 2 --repeats 5
    python bench/compare.py --markdown --json results.json

A framework that is not installed (or a dnnx without the training API yet) shows as n/a with
the reason under the table; it never stops the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_compare_worker.py"
sys.path.insert(0, str(HERE))
from _compare_worker import RESULT_MARK, gemm_flops_per_sample  # noqa: E402

TRAIN_FWS = ["dnnx", "torch", "torch-fused", "torch-compile", "jax", "jax-scan", "keras-jax", "sklearn",
             "numpy"]
ALL_FWS = TRAIN_FWS + ["ort"]  # onnxruntime serves (predict) only
SECTIONS = ["train", "small", "tabular", "digits", "predict", "gflops", "memory", "import"]
PROBE_SRC = HERE / "probe.c"
BIG = [784, 512, 256, 10]

# Sizes. "full" keeps the whole run near 10-15 minutes on 2 cores: epochs are sized so each
# batch size costs about the same, and samples/s does not depend on the dataset length.
CONFIGS = {
    "full": {
        "train": dict(data="blobs", n=20000, sizes=BIG, batches=[32, 128, 512], epochs=[1, 2, 3]),
        "small": dict(data="blobs", n=4000, sizes=[40, 100, 100, 10], batches=[128], epochs=[10]),
        "tabular": dict(data="tabular", n=50000, sizes=[30, 64, 32, 1], batches=[256], epochs=[4]),
        "digits": dict(max_iter=200),
        "predict": dict(data="blobs", n=256, sizes=BIG, batches=[1, 32, 256], groups=15, group_s=0.02),
        "gemm": dict(shapes=[[1024, 1024, 1024], [512, 512, 784], [512, 256, 512]]),
        "import_runs": 7,
        "repeats": 3,
        "timeout": 1800,
    },
    "quick": {
        "train": dict(data="blobs", n=384, sizes=BIG, batches=[32, 128, 512], epochs=[1, 1, 1]),
        "small": dict(data="blobs", n=400, sizes=[40, 100, 100, 10], batches=[128], epochs=[2]),
        "tabular": dict(data="tabular", n=512, sizes=[30, 64, 32, 1], batches=[256], epochs=[2]),
        "digits": dict(max_iter=3),
        "predict": dict(data="blobs", n=256, sizes=BIG, batches=[1, 32, 256],
                        groups=3, group_s=0.002, warmup_calls=3),
        "gemm": dict(shapes=[[128, 128, 128]], max_reps=3),
        "import_runs": 1,
        "repeats": 1,
        "timeout": 300,
    },
}

SECTION_FWS = {
    "train": TRAIN_FWS,
    "small": TRAIN_FWS,
    "tabular": TRAIN_FWS,
    "digits": ["dnnx", "torch", "jax", "sklearn", "numpy"],
    "predict": ["dnnx", "torch", "torch-compile", "jax", "ort", "sklearn", "numpy"],
    "gemm": ["dnnx", "numpy"],
}
IMPORTS = {
    "numpy": "import numpy",
    "dnnx": "import numpy, dnnx",
    "torch": "import numpy, torch",
    "sklearn": "import numpy, sklearn.neural_network",
    "jax": "import numpy, jax",
    "keras-jax": "import os; os.environ['KERAS_BACKEND'] = 'jax'; import numpy, keras",
    "ort": "import numpy, onnxruntime",
}


# --------------------------------------------------------------------------- running workers


def worker_env(framework, threads):
    """The subprocess environment: thread counts for every runtime; OpenBLAS tuning removed for
    the NumPy and scikit-learn workers only (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE slow OpenBLAS
    on this machine, and the parent's environment is left as it is)."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "DNNX_NUM_THREADS"):
        env[var] = str(threads)
    if framework in ("numpy", "sklearn"):
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    if framework in ("jax", "jax-scan", "keras-jax"):
        env["KERAS_BACKEND"] = "jax"
        # XLA's CPU thread pool has no thread-count knob of its own: it sizes itself from the
        # CPUs the process may use, which run_worker restricts to `threads` (taskset).
        if threads == 1:
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                                " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    return env


def affinity_prefix(framework, threads):
    """``taskset -c 0..threads-1`` for the JAX workers (see worker_env); [] for the others."""
    if framework not in ("jax", "jax-scan", "keras-jax") or not hasattr(os, "sched_getaffinity"):
        return []
    cpus = sorted(os.sched_getaffinity(0))[:threads]
    if len(cpus) < threads or not shutil.which("taskset"):
        return []
    return ["taskset", "-c", ",".join(map(str, cpus))]


class Probe:
    """bench/probe.c, compiled once per run with the system C compiler: the machine's FMA
    peak and the time of a plain read of N bytes, measured without dnnx (n/a without a
    compiler)."""

    def __init__(self):
        self.exe, self.error, self.cache = None, None, {}
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if not cc:
            self.error = "no C compiler for bench/probe.c"
            return
        out = Path(tempfile.mkdtemp(prefix="dnnx-probe-")) / "probe"
        proc = subprocess.run([cc, "-O2", "-march=native", "-fopenmp", str(PROBE_SRC), "-o", str(out)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            self.error = f"bench/probe.c did not compile: {(proc.stderr.strip().splitlines() or [''])[-1][:120]}"
            return
        self.exe = str(out)

    def _run(self, *args):
        if self.exe is None:
            return None
        if args not in self.cache:
            proc = subprocess.run([self.exe, *map(str, args)], capture_output=True, text=True, timeout=120)
            vals = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
            self.cache[args] = vals if proc.returncode == 0 else None
        return self.cache[args]

    def fma_gflops(self, threads):
        """(GFLOP/s, isa) of float32 FMAs on `threads` threads at once, or (None, None)."""
        v = self._run("fma", threads)
        return (float(v["fma_gflops"]), v["isa"]) if v else (None, None)

    def read_us(self, nbytes, threads):
        v = self._run("read", nbytes, threads)
        return float(v["read_us"]) if v else None


def cpu_stall_us():
    """Linux PSI: total microseconds in which some runnable task waited for a CPU (None if absent).

    Over a worker's run, stall / wall is how much the machine was oversubscribed: near 0 on an
    idle machine at 1 thread, large when other work competes for the cores."""
    try:
        with open("/proc/pressure/cpu") as f:
            return int(f.readline().split("total=")[1])
    except (OSError, IndexError, ValueError):
        return None


def run_worker(framework, task, params, threads, timeout, python=sys.executable):
    """One worker run under the interpreter ``python`` (bench/before_after.py passes two)."""
    params = dict(params, threads=threads)
    cmd = affinity_prefix(framework, threads) + [python, str(WORKER), framework, task, json.dumps(params)]
    stall0 = cpu_stall_us()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, env=worker_env(framework, threads), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"framework": framework, "task": task, "threads": threads, "status": "error",
                "reason": f"timed out after {timeout} s"}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            res = json.loads(line[len(RESULT_MARK):])
            res["wall_s"] = time.perf_counter() - t0
            stall1 = cpu_stall_us()
            if stall0 is not None and stall1 is not None:
                res["cpu_pressure"] = (stall1 - stall0) / 1e6 / res["wall_s"]
            return res
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
    return {"framework": framework, "task": task, "threads": threads, "status": "error",
            "reason": f"worker exited {proc.returncode} without a result: {tail[0][:200]}"}


def time_import(python, code):
    """(wall seconds, None) of one fresh ``python -c code``, or (None, its last error line)."""
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if proc.returncode == 0:
        return dt, None
    return None, (proc.stderr.strip().splitlines() or ["failed"])[-1][:120]


class Runner:
    """Spawns workers, alternating frameworks within each repeat, and keeps every result."""

    def __init__(self, args, cfg):
        self.args, self.cfg = args, cfg
        self.raw = []  # every worker result, in run order
        self.results = {}  # (section, framework, threads) -> [ok results]
        self.reasons = {}  # framework -> why it is n/a (per section key when partial)
        self.available = {}
        self.versions = {}
        self.probe_tool = Probe()

    def log(self, msg):
        if not self.args.quiet:
            print(msg, file=sys.stderr, flush=True)

    def probe(self, frameworks):
        for fw in frameworks:
            if fw in self.available:
                continue
            res = run_worker(fw, "probe", {}, 1, 120)
            self.available[fw] = res["status"] == "ok"
            if not self.available[fw]:
                self.reasons[fw] = res.get("reason", "unavailable")
            self.log(f"probe {fw:12s} {'ok' if self.available[fw] else 'n/a: ' + self.reasons[fw]}")

    def run(self, section, task, params, frameworks):
        fws = [f for f in frameworks if f in self.args.frameworks]
        if task != "gemm":  # gemm needs only numpy / dnnx.matmul, not the training API
            self.probe(fws)
            for f in fws:
                if not self.available[f]:
                    self.reasons[(section, f)] = self.reasons[f]
            fws = [f for f in fws if self.available[f]]
        failed = set()
        for rep in range(self.args.repeats):
            for t in self.args.threads:
                for fw in fws:
                    if (fw, t) in failed:
                        continue
                    res = run_worker(fw, task, params, t, self.cfg["timeout"])
                    res["section"], res["repeat"] = section, rep
                    self.raw.append(res)
                    tag = f"[{section} rep {rep + 1}/{self.args.repeats} t={t}] {fw}"
                    if res["status"] == "ok":
                        self.results.setdefault((section, fw, t), []).append(res)
                        psi = res.get("cpu_pressure")
                        psi = "" if psi is None else f", cpu pressure {100 * psi:.0f}%"
                        self.log(f"{tag}: {res['wall_s']:.1f} s{psi}")
                    else:
                        failed.add((fw, t))
                        self.reasons[(section, fw)] = res.get("reason", res["status"])
                        self.log(f"{tag}: n/a ({self.reasons[(section, fw)]})")

    def get(self, section, fw, t):
        return self.results.get((section, fw, t), [])

    def pressure_note(self, section):
        """'cpu pressure median a%, max b%' over the section's workers, or '' without PSI."""
        ps = [r["cpu_pressure"] for (s, _, _), rs in self.results.items() if s == section
              for r in rs if r.get("cpu_pressure") is not None]
        if not ps:
            return ""
        return (f"; CPU pressure (PSI some) during the workers: median {100 * med(ps):.0f}%, "
                f"max {100 * max(ps):.0f}%")

    def reason(self, section, fw):
        return self.reasons.get((section, fw))

    def imports(self, runs):
        times = {name: [] for name in IMPORTS}
        for _ in range(runs):
            for name, code in IMPORTS.items():
                if name != "numpy" and name not in self.args.frameworks:
                    continue
                dt, err = time_import(sys.executable, code)
                if err is None:
                    times[name].append(dt)
                else:
                    self.reasons[("import", name)] = err
        self.raw.append({"section": "import", "times_s": times})
        self.log("[import] done")
        return times


# --------------------------------------------------------------------------- tables


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_num(x, digits=0):
    if x is None:
        return "n/a"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def machine_line(python=sys.executable):
    """'CPU model, N CPUs, ISA flags, dnnx kernel K': named under every table."""
    model = platform.processor() or platform.machine()
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine()):
                    model = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2+FMA (no AVX-512)" if {"avx2", "fma"} <= flags else "no AVX2"
    proc = subprocess.run([python, "-c", "import dnnx; print(dnnx._core.kernel_info()['name'])"],
                          capture_output=True, text=True)
    kernel = proc.stdout.strip() if proc.returncode == 0 else "n/a"
    return f"{model}, {os.cpu_count()} CPUs, {isa}, dnnx kernel {kernel}"


class Table:
    machine = ""  # set once per run by main(): the CPU and ISA, printed under every title

    def __init__(self, title, note, header, rows, footnotes=(), left=2):
        self.title, self.note, self.header, self.rows = title, note, header, rows
        self.footnotes, self.left = list(footnotes), left

    def text(self):
        widths = [max(len(str(r[i])) for r in [self.header] + self.rows) for i in range(len(self.header))]
        line = lambda r: "  ".join(  # noqa: E731
            str(c).ljust(w) if i < self.left else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        )
        out = [f"== {self.title} ==", f"[{self.machine}]", self.note, line(self.header),
               line(["-" * w for w in widths])]
        out += [line(r) for r in self.rows]
        out += [f"  n/a {fn}" for fn in self.footnotes]
        return "\n".join(out)

    def markdown(self):
        out = [f"**{self.title}** ({self.note}; {self.machine})", "", "| " + " | ".join(self.header) + " |"]
        out.append("|" + "|".join("---" if i < self.left else "---:" for i in range(len(self.header))) + "|")
        out += ["| " + " | ".join(str(c) for c in r) + " |" for r in self.rows]
        if self.footnotes:
            out += [""] + [f"- n/a {fn}" for fn in self.footnotes]
        return "\n".join(out)


def ratio_header(fws):
    return [f"dnnx/{f}" for f in fws if f != "dnnx"] if "dnnx" in fws else []


def footnotes(runner, section, fws):
    notes = []
    for fw in fws:
        if fw not in runner.args.frameworks:
            continue
        why = runner.reason(section, fw)
        if why:
            notes.append(f"{fw}: {why}")
    return notes


def throughput_table(runner, section, title, fws, batches):
    """samples/s per (threads, batch) and framework, plus dnnx/other ratios."""
    fws = [f for f in fws if f in runner.args.frameworks]
    others = [f for f in fws if f != "dnnx"]
    header = ["threads", "batch"] + fws + ratio_header(fws)
    rows, values = [], {}
    for t in runner.args.threads:
        for b in batches:
            vals = {}
            for fw in fws:
                epochs = [s for r in runner.get(section, fw, t) for c in r["cases"] if c["batch"] == b
                          for s in c["epoch_s"]]
                n = next((c["n"] for r in runner.get(section, fw, t) for c in r["cases"]), None)
                vals[fw] = n / med(epochs) if epochs else None
            values[(t, b)] = vals
            row = [t, b] + [fmt_num(vals[f]) for f in fws]
            if "dnnx" in fws:
                row += [fmt_ratio(vals["dnnx"], vals[f]) for f in others]
            rows.append(row)
    note = "samples/s, median over epochs and repeats; dnnx/X = ratio of samples/s, >1: dnnx faster"
    if section == "train":
        note += "; s/epoch of 60,000 samples = 60,000 / samples/s"
    note += runner.pressure_note(section)
    return Table(title, note, header, rows, footnotes(runner, section, fws)), values


def spread_table(runner, section, title, fws, batches):
    """Slowest / fastest timed epoch over all rounds, per framework: how steady each is on
    this machine in the same run (1.00x = every epoch took the same time)."""
    fws = [f for f in fws if f in runner.args.frameworks]
    header = ["threads", "batch"] + fws
    rows = []
    for t in runner.args.threads:
        for b in batches:
            row = [t, b]
            for fw in fws:
                ep = [s for r in runner.get(section, fw, t) for c in r["cases"] if c["batch"] == b
                      for s in c["epoch_s"]]
                row.append(f"{max(ep) / min(ep):.2f}x" if len(ep) > 1 else "n/a")
            rows.append(row)
    note = (f"epoch-time spread, slowest / fastest of all timed epochs over {runner.args.repeats} "
            "alternating rounds (lower: steadier)")
    return Table(f"{title}: spread", note, header, rows, footnotes(runner, section, fws))


def predict_table(runner):
    fws = [f for f in SECTION_FWS["predict"] if f in runner.args.frameworks]
    others = [f for f in fws if f != "dnnx"]
    sizes = runner.cfg["predict"]["sizes"]
    wbytes = 4 * sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
    header = (["threads", "batch", "floor us"] + [f"{f} us" for f in fws] + ratio_header(fws)
              + (["dnnx/floor time"] if "dnnx" in fws else []))
    rows = []
    for t in runner.args.threads:
        floor = runner.probe_tool.read_us(wbytes, t)
        for b in runner.cfg["predict"]["batches"]:
            lat = {}
            for fw in fws:
                calls = [s for r in runner.get("predict", fw, t) for c in r["cases"] if c["batch"] == b
                         for s in c["call_s"]]
                lat[fw] = med(calls) * 1e6 if calls else None
            row = [t, b, fmt_num(floor, 1)] + [fmt_num(lat[f], 1) for f in fws]
            if "dnnx" in fws:  # latency ratio other/dnnx == throughput ratio dnnx/other
                row += [fmt_ratio(lat[f], lat["dnnx"]) for f in others]
                row.append(fmt_ratio(lat["dnnx"], floor) if b == 1 else "")
            rows.append(row)
    note = ("latency of one predict-on-batch call in microseconds (dnnx predict_on_batch, torch eager "
            "under inference_mode + softmax, torch.compile of that model, a jitted JAX forward, "
            "onnxruntime on the same MLP as an ONNX graph, sklearn predict_proba, numpy forward); "
            "dnnx/X = ratio of samples/s, >1: dnnx faster; floor = one plain read of the "
            f"{wbytes:,} weight bytes with the same threads (bench/probe.c), dnnx/floor time <= 1.25 "
            "is the batch-1 bar")
    note += runner.pressure_note("predict")
    notes = footnotes(runner, "predict", fws)
    if runner.probe_tool.error:
        notes.append(f"floor: {runner.probe_tool.error}")
    return Table("inference latency, 784-512-256-10", note, header, rows, notes)


def digits_table(runner):
    fws = [f for f in SECTION_FWS["digits"] if f in runner.args.frameworks]
    header = ["threads", "framework", "fit s", "epochs", "ms/epoch", "test acc", "fit speed dnnx/X"]
    rows = []
    for t in runner.args.threads:
        fit = {}
        for fw in fws:
            rs = runner.get("digits", fw, t)
            fit[fw] = med([r["fit_s"] for r in rs]) if rs else None
        for fw in fws:
            rs = runner.get("digits", fw, t)
            if not rs:
                rows.append([t, fw, "n/a", "n/a", "n/a", "n/a", "n/a"])
                continue
            ep = med([r["epochs"] for r in rs])
            acc = med([r["test_accuracy"] for r in rs])
            ratio = fmt_ratio(fit[fw], fit.get("dnnx")) if fw != "dnnx" else ""
            rows.append([t, fw, fmt_num(fit[fw], 3), fmt_num(ep), fmt_num(1e3 * fit[fw] / ep, 2),
                         f"{100 * acc:.1f}%", ratio])
    note = ("sklearn.datasets.load_digits, fixed 75/25 split, MLPClassifier() defaults (hidden 100, relu, "
            "adam 1e-3, batch 200, alpha 1e-4, stop on training loss tol 1e-4 / 10 epochs, max 200); "
            "fit speed dnnx/X = X fit time / dnnx fit time, >1: dnnx faster")
    note += runner.pressure_note("digits")
    return Table("scikit-learn digits fit", note, header, rows, footnotes(runner, "digits", fws))


def gemm_table(runner):
    fws = [f for f in SECTION_FWS["gemm"] if f in runner.args.frameworks]
    header = ["threads", "m x n x k"] + [f"{'numpy.matmul' if f == 'numpy' else 'dnnx.matmul'}" for f in fws]
    if len(fws) == 2:
        header.append("dnnx/numpy")
    rows = []
    for t in runner.args.threads:
        for shape in runner.cfg["gemm"]["shapes"]:
            g = {}
            for fw in fws:
                xs = [c["gflops"] for r in runner.get("gemm", fw, t) for c in r["cases"]
                      if c["shape"] == shape]
                g[fw] = max(xs) if xs else None
            row = [t, "x".join(map(str, shape))] + [fmt_num(g[f], 1) for f in fws]
            if len(fws) == 2:
                row.append(fmt_ratio(g["dnnx"], g["numpy"]))
            rows.append(row)
    peaks = "; ".join(f"{t}t FMA peak {fmt_num(peak_gflops(runner, t)[0], 1)}" for t in runner.args.threads)
    return Table("float32 GEMM, dnnx.matmul vs numpy.matmul", f"GFLOP/s, best of N; {peaks} (bench/probe.c)" + runner.pressure_note("gemm"),
                 header, rows, footnotes(runner, "gemm", fws))


def peak_gflops(runner, t):
    """FMA peak for t threads: --peak per thread, else t x the best per-thread rate of the
    FMA probe (bench/probe.c: 12 independent FMA chains per thread in the widest vectors)
    over the run's thread counts. The FMA rate is a per-core property; scaling the best
    per-thread probe keeps one noisy multi-thread probe on a shared machine from setting it."""
    if runner.args.peak:
        return runner.args.peak * t, "--peak x threads"
    best, src = None, None
    for tt in runner.args.threads:
        g, isa = runner.probe_tool.fma_gflops(tt)
        if g is not None and (best is None or g / tt > best):
            best, src = g / tt, f"{t} x FMA probe ({isa}) at {tt}t"
    return (best * t if best else None), (src or runner.probe_tool.error)


def gflops_table(runner, section, values, sizes, batches):
    """Each framework's GEMM GFLOP/s over whole training epochs, as a share of the FMA peak."""
    flops = gemm_flops_per_sample(sizes)
    fws = [f for f in SECTION_FWS[section] if f in runner.args.frameworks]
    header = ["threads", "batch", "peak GFLOP/s"] + fws
    rows = []
    for t in runner.args.threads:
        peak, src = peak_gflops(runner, t)
        for b in batches:
            row = [t, b, f"{fmt_num(peak, 1)} ({src})" if peak else "n/a"]
            for fw in fws:
                sps = values.get((t, b), {}).get(fw)
                if sps is None:
                    row.append("n/a")
                    continue
                g = sps * flops / 1e9
                row.append(f"{g:.1f} ({100 * g / peak:.0f}%)" if peak else f"{g:.1f}")
            rows.append(row)
    note = (f"GEMM GFLOP/s of training epochs of {'-'.join(map(str, sizes))}: "
            f"{flops:,} FLOPs/sample (fwd + dW + dX, no dX for layer 1) x samples/s; % of the FMA peak")
    return Table(f"training GEMM throughput, {'-'.join(map(str, sizes))}", note, header, rows,
                 footnotes(runner, section, fws))


def memory_table(runner, section):
    fws = [f for f in TRAIN_FWS if f in runner.args.frameworks]
    others = [f for f in fws if f != "dnnx"]
    header = ["threads", "MiB"] + fws + [f"{f}/dnnx" for f in others]
    rows = []
    for t in runner.args.threads:
        mem, base = {}, {}
        for fw in fws:
            rs = runner.get(section, fw, t)
            mem[fw] = med([r["rss_peak_delta_mib"] for r in rs]) if rs else None
            base[fw] = med([r["rss_base_mib"] for r in rs]) if rs else None
        row = [t, "training peak - baseline"] + [fmt_num(mem[f], 1) for f in fws]
        if "dnnx" in fws:
            row += [fmt_ratio(mem[f], mem["dnnx"]) for f in others]
        rows.append(row)
        rows.append(["", "baseline"] + [fmt_num(base[f], 1) for f in fws] + [""] * len(ratio_header(fws)))
    cfg = runner.cfg[section]
    note = (f"peak RSS (ru_maxrss) of each worker while training {'-'.join(map(str, cfg['sizes']))} on "
            f"{cfg['n']:,} samples at batch {', '.join(map(str, cfg['batches']))}, "
            f"minus its RSS after imports "
            f"and data creation (baseline); X/dnnx = X's memory / dnnx's, >1: dnnx uses less")
    return Table("peak training memory", note, header, rows, footnotes(runner, section, fws))


def import_table(runner, times):
    names = [n for n in IMPORTS if n == "numpy" or n in runner.args.frameworks]
    np_ms = med(times["numpy"]) * 1e3 if times["numpy"] else None
    dn_ms = med(times["dnnx"]) * 1e3 if times.get("dnnx") else None
    header = ["command", "ms", "over numpy ms", "X/dnnx time"]
    rows = []
    for n in names:
        ms = med(times[n]) * 1e3 if times[n] else None
        over = ms - np_ms if (ms is not None and np_ms is not None) else None
        rows.append([f'python -c "{IMPORTS[n]}"', fmt_num(ms, 1), fmt_num(over, 1),
                     fmt_ratio(ms, dn_ms) if n != "dnnx" else ""])
    notes = [f"{n}: {runner.reasons[('import', n)]}" for n in names if ("import", n) in runner.reasons]
    return Table("import time", f"median wall time of {runner.cfg['import_runs']} fresh interpreters, "
                 "alternating; X/dnnx >1: dnnx imports faster", header, rows, notes, left=1)


# --------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes and 1 repeat (smoke test)")
    ap.add_argument("--repeats", type=int, help="worker runs per framework and thread count (default 3)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--only", help="comma-separated sections: " + ", ".join(SECTIONS))
    ap.add_argument("--frameworks", default=",".join(ALL_FWS),
                    help="comma-separated subset of " + ", ".join(ALL_FWS))
    ap.add_argument("--n-train", type=int, help="samples for the 784-512-256-10 training runs")
    ap.add_argument("--peak", type=float,
                    help="FMA peak in GFLOP/s per thread (default: measured GEMM probe)")
    ap.add_argument("--json", help="write raw worker results and the tables to this file")
    ap.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",") if t]
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    bad = [f for f in args.frameworks if f not in ALL_FWS]
    if bad:
        ap.error(f"unknown framework(s) {bad}; choose from {ALL_FWS}")
    args.only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    bad = [s for s in args.only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}; choose from {SECTIONS}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = json.loads(json.dumps(CONFIGS["quick" if args.quick else "full"]))
    if args.repeats is None:
        args.repeats = cfg["repeats"]
    if args.n_train:
        cfg["train"]["n"] = args.n_train
    runner = Runner(args, cfg)
    Table.machine = machine_line()
    started = time.perf_counter()
    only = set(args.only)
    tables = []

    print(f"dnnx compare: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, threads {args.threads}, repeats {args.repeats}"
          f"{', quick' if args.quick else ''}", flush=True)

    # The big-net training run feeds three tables; a run of only memory does batch 128.
    train_values, small_values = {}, {}
    if only & {"train", "gflops", "memory"}:
        tcfg = dict(cfg["train"])
        if "train" not in only:
            keep = list(tcfg["batches"]) if "gflops" in only else []
            keep += [128] if "memory" in only else []
            pairs = [(b, e) for b, e in zip(tcfg["batches"], tcfg["epochs"]) if b in keep]
            tcfg["batches"], tcfg["epochs"] = [p[0] for p in pairs], [p[1] for p in pairs]
            cfg["train"] = tcfg
        runner.run("train", "train", tcfg, SECTION_FWS["train"])
        title = "training 784-512-256-10, Adam, sparse CE"
        t, train_values = throughput_table(runner, "train", title, SECTION_FWS["train"], tcfg["batches"])
        if "train" in only:
            tables += [t, spread_table(runner, "train", title, SECTION_FWS["train"], tcfg["batches"])]
    if "small" in only:
        runner.run("small", "train", cfg["small"], SECTION_FWS["small"])
        title = f"training 40-100-100-10 on {cfg['small']['n']:,} samples"
        t, small_values = throughput_table(runner, "small", title, SECTION_FWS["small"], cfg["small"]["batches"])
        tables.append(t)
        tables.append(spread_table(runner, "small", title, SECTION_FWS["small"], cfg["small"]["batches"]))
    if "tabular" in only:
        runner.run("tabular", "train", cfg["tabular"], SECTION_FWS["tabular"])
        title = "training tabular 30-64-32-1, sigmoid + BCE"
        tables.append(throughput_table(runner, "tabular", title, SECTION_FWS["tabular"],
                                       cfg["tabular"]["batches"])[0])
        tables.append(spread_table(runner, "tabular", title, SECTION_FWS["tabular"], cfg["tabular"]["batches"]))
    if "digits" in only:
        runner.run("digits", "digits", cfg["digits"], SECTION_FWS["digits"])
        tables.append(digits_table(runner))
    if "predict" in only:
        runner.run("predict", "predict", cfg["predict"], SECTION_FWS["predict"])
        tables.append(predict_table(runner))
    if "gflops" in only:
        runner.run("gemm", "gemm", cfg["gemm"], SECTION_FWS["gemm"])
        tables.append(gemm_table(runner))
        tables.append(gflops_table(runner, "train", train_values, cfg["train"]["sizes"], cfg["train"]["batches"]))
        if "small" in only:
            tables.append(gflops_table(runner, "small", small_values, cfg["small"]["sizes"],
                                       cfg["small"]["batches"]))
    if "memory" in only:
        tables.append(memory_table(runner, "train"))
    if "import" in only:
        tables.append(import_table(runner, runner.imports(cfg["import_runs"])))

    for t in tables:
        print()
        print(t.text())
    if args.markdown:
        print("\n## Markdown\n")
        for t in tables:
            print(t.markdown())
            print()
    elapsed = time.perf_counter() - started
    print(f"\ntotal {elapsed:.0f} s", flush=True)
    if args.json:
        doc = {
            "argv": sys.argv[1:] if argv is None else argv,
            "config": cfg,
            "threads": args.threads,
            "repeats": args.repeats,
            "elapsed_s": elapsed,
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "raw": runner.raw,
            "tables": [{"title": t.title, "note": t.note, "header": t.header, "rows": t.rows,
                        "footnotes": t.footnotes} for t in tables],
        }
        Path(args.json).write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
