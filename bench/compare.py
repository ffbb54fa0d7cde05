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
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_compare_worker.py"
sys.path.insert(0, str(HERE))
from _compare_worker import RESULT_MARK, gemm_flops_per_sample  # noqa: E402

TRAIN_FWS = ["dnnx", "torch", "torch-fused", "sklearn", "numpy"]
SECTIONS = ["train", "small", "tabular", "digits", "predict", "gflops", "memory", "import"]
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
    "digits": ["dnnx", "torch", "sklearn", "numpy"],
    "predict": ["dnnx", "torch", "sklearn", "numpy"],
    "gemm": ["dnnx", "numpy"],
}
IMPORTS = {
    "numpy": "import numpy",
    "dnnx": "import numpy, dnnx",
    "torch": "import numpy, torch",
    "sklearn": "import numpy, sklearn.neural_network",
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
    return env


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
    cmd = [python, str(WORKER), framework, task, json.dumps(params)]
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


class Table:
    def __init__(self, title, note, header, rows, footnotes=(), left=2):
        self.title, self.note, self.header, self.rows = title, note, header, rows
        self.footnotes, self.left = list(footnotes), left

    def text(self):
        widths = [max(len(str(r[i])) for r in [self.header] + self.rows) for i in range(len(self.header))]
        line = lambda r: "  ".join(  # noqa: E731
            str(c).ljust(w) if i < self.left else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))
        )
        out = [f"== {self.title} ==", self.note, line(self.header), line(["-" * w for w in widths])]
        out += [line(r) for r in self.rows]
        out += [f"  n/a {fn}" for fn in self.footnotes]
        return "\n".join(out)

    def markdown(self):
        out = [f"**{self.title}** ({self.note})", "", "| " + " | ".join(self.header) + " |"]
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


def predict_table(runner):
    fws = [f for f in SECTION_FWS["predict"] if f in runner.args.frameworks]
    others = [f for f in fws if f != "dnnx"]
    header = ["threads", "batch"] + [f"{f} us" for f in fws] + ratio_header(fws)
    rows = []
    for t in runner.args.threads:
        for b in runner.cfg["predict"]["batches"]:
            lat = {}
            for fw in fws:
                calls = [s for r in runner.get("predict", fw, t) for c in r["cases"] if c["batch"] == b
                         for s in c["call_s"]]
                lat[fw] = med(calls) * 1e6 if calls else None
            row = [t, b] + [fmt_num(lat[f], 1) for f in fws]
            if "dnnx" in fws:  # latency ratio other/dnnx == throughput ratio dnnx/other
                row += [fmt_ratio(lat[f], lat["dnnx"]) for f in others]
            rows.append(row)
    note = ("latency of one predict-on-batch call in microseconds (dnnx predict_on_batch, torch eager "
            "under inference_mode + softmax, sklearn predict_proba, numpy forward); "
            "dnnx/X = ratio of samples/s, >1: dnnx faster")
    note += runner.pressure_note("predict")
    return Table("inference latency, 784-512-256-10", note, header, rows, footnotes(runner, "predict", fws))


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
    return Table("float32 GEMM probe", "GFLOP/s, best of N; the best per-thread rate of the first shape sets "
                 "the peak below" + runner.pressure_note("gemm"),
                 header, rows, footnotes(runner, "gemm", fws))


def peak_gflops(runner, t):
    """FMA peak for t threads: --peak per thread, else t x the best per-thread GFLOP/s of the
    GEMM probe. The FMA rate is a per-core property; scaling the best per-thread probe keeps
    one noisy multi-thread probe on a shared machine from setting the bar."""
    if runner.args.peak:
        return runner.args.peak * t, "--peak x threads"
    shape = runner.cfg["gemm"]["shapes"][0]
    best, src = None, None
    for fw in SECTION_FWS["gemm"]:
        for tt in runner.args.threads:
            for r in runner.get("gemm", fw, tt):
                for c in r["cases"]:
                    if c["shape"] == shape and (best is None or c["gflops"] / tt > best):
                        best = c["gflops"] / tt
                        lib = "numpy" if fw == "numpy" else "dnnx"
                        src = f"{t} x {lib}.matmul {'x'.join(map(str, shape))} at {tt}t"
    return (best * t if best else None), src


def gflops_table(runner, values, batch):
    sizes = runner.cfg["train"]["sizes"]
    flops = gemm_flops_per_sample(sizes)
    fws = [f for f in TRAIN_FWS if f in runner.args.frameworks]
    header = ["threads", "peak GFLOP/s"] + fws
    rows = []
    for t in runner.args.threads:
        peak, src = peak_gflops(runner, t)
        row = [t, f"{fmt_num(peak, 1)} ({src})" if peak else "n/a"]
        for fw in fws:
            sps = values.get((t, batch), {}).get(fw)
            if sps is None:
                row.append("n/a")
                continue
            g = sps * flops / 1e9
            row.append(f"{g:.1f} ({100 * g / peak:.0f}%)" if peak else f"{g:.1f}")
        rows.append(row)
    note = (f"GEMM GFLOP/s of a batch-{batch} training epoch of {'-'.join(map(str, sizes))}: "
            f"{flops:,} FLOPs/sample (fwd + dW + dX, no dX for layer 1) x samples/s; % of the measured peak")
    return Table("training GEMM throughput", note, header, rows, footnotes(runner, "train", fws))


def memory_table(runner, section):
    fws = [f for f in TRAIN_FWS if f in runner.args.frameworks]
    others = [f for f in fws if f != "dnnx"]
    header = ["threads", "MiB"] + fws + ratio_header(fws)
    rows = []
    for t in runner.args.threads:
        mem, base = {}, {}
        for fw in fws:
            rs = runner.get(section, fw, t)
            mem[fw] = med([r["rss_peak_delta_mib"] for r in rs]) if rs else None
            base[fw] = med([r["rss_base_mib"] for r in rs]) if rs else None
        row = [t, "training peak - baseline"] + [fmt_num(mem[f], 1) for f in fws]
        if "dnnx" in fws:
            row += [fmt_ratio(mem["dnnx"], mem[f]) for f in others]
        rows.append(row)
        rows.append(["", "baseline"] + [fmt_num(base[f], 1) for f in fws] + [""] * len(ratio_header(fws)))
    cfg = runner.cfg[section]
    note = (f"peak RSS (ru_maxrss) of each worker while training {'-'.join(map(str, cfg['sizes']))} on "
            f"{cfg['n']:,} samples at batch {', '.join(map(str, cfg['batches']))}, "
            f"minus its RSS after imports "
            f"and data creation (baseline); dnnx/X <1: dnnx uses less")
    return Table("peak training memory", note, header, rows, footnotes(runner, section, fws))


def import_table(runner, times):
    names = [n for n in IMPORTS if n == "numpy" or n in runner.args.frameworks]
    np_ms = med(times["numpy"]) * 1e3 if times["numpy"] else None
    dn_ms = med(times["dnnx"]) * 1e3 if times.get("dnnx") else None
    header = ["command", "ms", "over numpy ms", "dnnx/X time"]
    rows = []
    for n in names:
        ms = med(times[n]) * 1e3 if times[n] else None
        over = ms - np_ms if (ms is not None and np_ms is not None) else None
        rows.append([f'python -c "{IMPORTS[n]}"', fmt_num(ms, 1), fmt_num(over, 1),
                     fmt_ratio(dn_ms, ms) if n != "dnnx" else ""])
    notes = [f"{n}: {runner.reasons[('import', n)]}" for n in names if ("import", n) in runner.reasons]
    return Table("import time", f"median wall time of {runner.cfg['import_runs']} fresh interpreters, "
                 "alternating; dnnx/X <1: dnnx imports faster", header, rows, notes, left=1)


# --------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes and 1 repeat (smoke test)")
    ap.add_argument("--repeats", type=int, help="worker runs per framework and thread count (default 3)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--only", help="comma-separated sections: " + ", ".join(SECTIONS))
    ap.add_argument("--frameworks", default=",".join(TRAIN_FWS),
                    help="comma-separated subset of " + ", ".join(TRAIN_FWS))
    ap.add_argument("--n-train", type=int, help="samples for the 784-512-256-10 training runs")
    ap.add_argument("--peak", type=float,
                    help="FMA peak in GFLOP/s per thread (default: measured GEMM probe)")
    ap.add_argument("--json", help="write raw worker results and the tables to this file")
    ap.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",") if t]
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    bad = [f for f in args.frameworks if f not in TRAIN_FWS]
    if bad:
        ap.error(f"unknown framework(s) {bad}; choose from {TRAIN_FWS}")
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
    started = time.perf_counter()
    only = set(args.only)
    tables = []

    print(f"dnnx compare: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, threads {args.threads}, repeats {args.repeats}"
          f"{', quick' if args.quick else ''}", flush=True)

    # The big-net training run feeds three tables; a run of only gflops or memory does the
    # batch it needs (512 for GEMM throughput, 128 for memory) instead of all three.
    train_values = {}
    if only & {"train", "gflops", "memory"}:
        tcfg = dict(cfg["train"])
        if "train" not in only:
            keep = [512] if "gflops" in only else []
            keep += [128] if "memory" in only else []
            pairs = [(b, e) for b, e in zip(tcfg["batches"], tcfg["epochs"]) if b in keep]
            tcfg["batches"], tcfg["epochs"] = [p[0] for p in pairs], [p[1] for p in pairs]
            cfg["train"] = tcfg
        runner.run("train", "train", tcfg, SECTION_FWS["train"])
        t, train_values = throughput_table(runner, "train", "training 784-512-256-10, Adam, sparse CE",
                                           SECTION_FWS["train"], tcfg["batches"])
        if "train" in only:
            tables.append(t)
    if "small" in only:
        runner.run("small", "train", cfg["small"], SECTION_FWS["small"])
        title = f"training 40-100-100-10 on {cfg['small']['n']:,} samples"
        tables.append(throughput_table(runner, "small", title, SECTION_FWS["small"],
                                       cfg["small"]["batches"])[0])
    if "tabular" in only:
        runner.run("tabular", "train", cfg["tabular"], SECTION_FWS["tabular"])
        tables.append(throughput_table(runner, "tabular", "training tabular 30-64-32-1, sigmoid + BCE",
                                       SECTION_FWS["tabular"], cfg["tabular"]["batches"])[0])
    if "digits" in only:
        runner.run("digits", "digits", cfg["digits"], SECTION_FWS["digits"])
        tables.append(digits_table(runner))
    if "predict" in only:
        runner.run("predict", "predict", cfg["predict"], SECTION_FWS["predict"])
        tables.append(predict_table(runner))
    if "gflops" in only:
        if not args.peak:
            runner.run("gemm", "gemm", cfg["gemm"], SECTION_FWS["gemm"])
            tables.append(gemm_table(runner))
        if 512 in cfg["train"]["batches"]:
            tables.append(gflops_table(runner, train_values, 512))
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
