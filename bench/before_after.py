"""dnnx before and after a change: compare.py's dnnx workloads under two Python interpreters.

Each interpreter has its own dnnx build installed (say a venv with the old commit and the
current environment with the new one). Every measurement is one ``bench/_compare_worker.py``
subprocess, exactly as ``bench/compare.py`` runs dnnx; rounds alternate before, after,
before, after ... per workload and thread count, so drift on a shared machine hits both
builds alike. The table gives, per workload, the median over rounds of each build's figure,
the ratio after/before of the medians and the range (min-max) of the per-round ratios. Every
figure is a cost (time, or MiB), so after/before > 1 means the new build is slower.

Before timing, both builds train the same small seeded Sequential models and compare the
sha256 of their weights, loss histories and predictions ("weights bitwise equal").

    python bench/before_after.py --before /work/venv-before/bin/python          # ~5-7 min
    python bench/before_after.py --before OLD_PY --after NEW_PY --threads 2 --markdown
    python bench/before_after.py --quick --before OLD_PY                         # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import CONFIGS, IMPORTS, Table, med, run_worker, time_import  # noqa: E402

SIDES = ("before", "after")
# section -> worker task; "memory" is read off the train workers, "import" runs no worker
SECTIONS = {"train": "train", "small": "train", "tabular": "train", "digits": "digits",
            "predict": "predict", "gemm": "gemm", "import": None}
# The bitwise check: small seeded fits (a partial last batch, L2, a sigmoid head, the big net).
WEIGHT_CASES = [
    dict(name="40-100-100-10 b32", data="blobs", n=1000, sizes=[40, 100, 100, 10], batch=32, epochs=2),
    dict(name="30-64-32-1 b100 L2", data="tabular", n=1000, sizes=[30, 64, 32, 1], batch=100, epochs=2,
         l2=1e-4),
    dict(name="784-512-256-10 b128", data="blobs", n=600, sizes=[784, 512, 256, 10], batch=128, epochs=1),
]
PROBE = ("import json, platform, dnnx, dnnx._core as c; print(json.dumps({'dnnx': dnnx.__file__, "
         "'core': c.__file__, 'kernel': c.active_kernel(), 'python': platform.python_version()}))")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def probe(python):
    """dnnx's location, the active GEMM kernel and the Python version under ``python``."""
    proc = subprocess.run([python, "-c", PROBE], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{python}: cannot import dnnx: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def metrics(section, res, cfg):
    """(workload, unit, value) of one worker result; every value is a cost (lower is better)."""
    if section in ("train", "small", "tabular"):
        net = "-".join(map(str, cfg[section]["sizes"]))
        for c in res["cases"]:
            yield f"{section} {net} b{c['batch']}", "us/sample", med(c["epoch_s"]) / c["n"] * 1e6
        if section == "train":
            yield "memory: training peak - baseline", "MiB", res["rss_peak_delta_mib"]
            yield "memory: baseline (after imports, data)", "MiB", res["rss_base_mib"]
    elif section == "digits":
        yield "digits fit (MLPClassifier defaults)", "s", res["fit_s"]
        yield "digits epochs", "epochs", res["epochs"]
    elif section == "predict":
        for c in res["cases"]:
            yield f"predict 784-512-256-10 b{c['batch']}", "us/call", med(c["call_s"]) * 1e6
    elif section == "gemm":
        for c in res["cases"]:
            m, n, k = c["shape"]
            yield f"dnnx.matmul {m}x{n}x{k} f32", "ms best", 2 * m * n * k / c["gflops"] / 1e6


class BeforeAfter:
    def __init__(self, args, cfg):
        self.args, self.cfg = args, cfg
        self.pythons = {"before": args.before, "after": args.after}
        self.values = {}  # (threads, workload) -> {"unit", "before": {round: v}, "after": {...}}
        self.order = []  # workloads in first-seen order
        self.failures = {}  # (section, side, threads) -> reason
        self.pressure = []
        self.raw = []

    def log(self, msg):
        if not self.args.quiet:
            print(msg, file=sys.stderr, flush=True)

    def record(self, t, rnd, side, workload, unit, value):
        key = (t, workload)
        if key not in self.values:
            self.values[key] = {"unit": unit, "before": {}, "after": {}}
            self.order.append(key)
        self.values[key][side][rnd] = value

    def weights(self):
        """{threads: (equal or None, detail)} from the weights task under both builds."""
        out = {}
        for t in self.args.threads:
            digests = {}
            for side in SIDES:
                res = run_worker("dnnx", "weights", {"cases": WEIGHT_CASES}, t, self.cfg["timeout"],
                                 python=self.pythons[side])
                self.raw.append(dict(res, side=side, section="weights"))
                if res["status"] != "ok":
                    digests[side] = res.get("reason", res["status"])
                    continue
                digests[side] = {c["name"]: c["sha256"] for c in res["cases"]}
            if not all(isinstance(d, dict) for d in digests.values()):
                out[t] = (None, "; ".join(f"{s}: {d}" for s, d in digests.items() if not isinstance(d, dict)))
            else:
                diff = [n for n in digests["before"] if digests["before"][n] != digests["after"].get(n)]
                out[t] = (not diff, "differ: " + ", ".join(diff) if diff else
                          f"{len(digests['before'])} fits, sha256 of weights + losses + predictions")
            self.log(f"[weights t={t}] {'n/a' if out[t][0] is None else 'equal' if out[t][0] else 'DIFFER'}"
                     f" ({out[t][1]})")
        return out

    def imports(self, rnd):
        runs = self.cfg["import_runs"]
        times = {(side, name): [] for side in SIDES for name in ("numpy", "dnnx")}
        for _ in range(runs):
            for side in SIDES:
                for name in ("numpy", "dnnx"):
                    dt, err = time_import(self.pythons[side], IMPORTS[name])
                    if err is None:
                        times[(side, name)].append(dt)
                    else:
                        self.failures[("import", side, "-")] = err
        self.raw.append({"section": "import", "round": rnd,
                         "times_s": {f"{s} {n}": v for (s, n), v in times.items()}})
        for side in SIDES:
            npy, dnx = med(times[(side, "numpy")]), med(times[(side, "dnnx")])
            if dnx is not None:
                self.record("-", rnd, side, f'import: python -c "{IMPORTS["dnnx"]}"', "ms", 1e3 * dnx)
            if dnx is not None and npy is not None:
                self.record("-", rnd, side, "import: dnnx over numpy", "ms", 1e3 * (dnx - npy))
        self.log(f"[import round {rnd + 1}] done")

    def run(self):
        cfg, args = self.cfg, self.args
        failed = set()
        for rnd in range(args.repeats):
            for section in args.only:
                task = SECTIONS[section]
                if task is None:
                    self.imports(rnd)
                    continue
                for t in args.threads:
                    for side in SIDES:
                        if (section, side, t) in failed:
                            continue
                        res = run_worker("dnnx", task, cfg[section], t, cfg["timeout"], python=self.pythons[side])
                        self.raw.append(dict(res, side=side, section=section, round=rnd))
                        tag = f"[round {rnd + 1}/{args.repeats} {section} t={t}] {side}"
                        if res["status"] != "ok":
                            failed.add((section, side, t))
                            self.failures[(section, side, t)] = res.get("reason", res["status"])
                            self.log(f"{tag}: n/a ({self.failures[(section, side, t)]})")
                            continue
                        if res.get("cpu_pressure") is not None:
                            self.pressure.append(res["cpu_pressure"])
                        for workload, unit, value in metrics(section, res, cfg):
                            self.record(t, rnd, side, workload, unit, value)
                        self.log(f"{tag}: {res['wall_s']:.1f} s")

    def table(self):
        header = ["threads", "workload", "unit", "before", "after", "after/before", "per-round range",
                  "best after/best before"]
        rows, worst = [], None
        for key in sorted(self.order, key=lambda k: (k[0] == "-", str(k[0]))):  # stable: keeps order
            t, workload = key
            v = self.values[key]
            b, a = med(list(v["before"].values())), med(list(v["after"].values()))
            per_round = [v["after"][r] / v["before"][r] for r in v["before"]
                         if r in v["after"] and v["before"][r] > 0]
            ratio = a / b if (a is not None and b is not None and b > 0) else None
            best = (min(v["after"].values()) / min(v["before"].values())
                    if v["after"] and v["before"] and min(v["before"].values()) > 0 else None)
            digits = 3 if v["unit"] in ("s", "ms best") else 0 if v["unit"] == "epochs" else 2
            rng = f"{min(per_round):.2f}..{max(per_round):.2f}" if per_round else "n/a"
            rows.append([t, workload, v["unit"], fmt(b, digits), fmt(a, digits),
                         "n/a" if ratio is None else f"{ratio:.3f}", rng,
                         "n/a" if best is None else f"{best:.3f}"])
            timed = v["unit"] not in ("epochs",) and not workload.startswith("memory: baseline")
            if ratio is not None and timed and (worst is None or ratio > worst[0]):
                worst = (ratio, f"{workload} at {t} thread(s)" if t != "-" else workload)
        note = (f"median over {self.args.repeats} alternating round(s) of each build's figure; every figure "
                "is a cost, after/before > 1: after is slower (or uses more memory); per-round range = "
                "min-max of the per-round after/before ratios; best = each build's lowest round (on a "
                "shared machine the least disturbed one)")
        if self.pressure:
            note += (f"; CPU pressure (PSI some) during the workers: median {100 * med(self.pressure):.0f}%, "
                     f"max {100 * max(self.pressure):.0f}%")
        notes = [f"{s} {side}{'' if t == '-' else f' t={t}'}: {why}" for (s, side, t), why in self.failures.items()]
        return Table("dnnx before/after", note, header, rows, notes), worst


def fmt(x, digits):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="Python interpreter with the old dnnx installed")
    ap.add_argument("--after", default=sys.executable, help="Python with the new dnnx (default: this one)")
    ap.add_argument("--repeats", type=int, help="alternating rounds (default 5; --quick: 1)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--only", help="comma-separated sections: " + ", ".join(SECTIONS) + " (train includes memory)")
    ap.add_argument("--quick", action="store_true", help="compare.py's tiny sizes, 1 round (smoke test)")
    ap.add_argument("--markdown", action="store_true", help="also print the report as Markdown")
    ap.add_argument("--json", help="write the raw worker results and the table to this file")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)
    args.threads = [int(t) for t in args.threads.split(",") if t]
    args.only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    bad = [s for s in args.only if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}; choose from {list(SECTIONS)}")
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    return args


def main(argv=None):
    started = time.perf_counter()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cfg = json.loads(json.dumps(CONFIGS["quick" if args.quick else "full"]))  # compare.py's sizes
    ba = BeforeAfter(args, cfg)
    info = {side: probe(ba.pythons[side]) for side in SIDES}  # also warms both builds' files
    head = [f"dnnx before/after: {cpu_model()}, {os.cpu_count()} CPUs, threads {args.threads}, "
            f"rounds {args.repeats}{', quick' if args.quick else ''}"]
    for side in SIDES:
        i = info[side]
        head.append(f"{side:6s} {ba.pythons[side]} (Python {i['python']}): dnnx {i['dnnx']}, "
                    f"_core {i['core']}, active kernel {i['kernel']}")
    if info["before"]["kernel"] != info["after"]["kernel"]:
        head.append("WARNING: the two builds run different GEMM kernels")
    for part in ("dnnx", "core"):
        if info["before"][part] == info["after"][part] and args.before != args.after:
            head.append(f"WARNING: both interpreters load the same {info['after'][part]}")
    print("\n".join(head), flush=True)

    weights = ba.weights()
    verdicts = [w[0] for w in weights.values()]
    equal = "n/a" if None in verdicts else "yes" if all(verdicts) else "no"
    wline = f"weights bitwise equal: {equal} (" + "; ".join(
        f"{t} thread(s): {'n/a' if e is None else 'yes' if e else 'no'}, {d}" for t, (e, d) in weights.items()) + ")"

    ba.run()
    table, worst = ba.table()
    elapsed = time.perf_counter() - started
    print()
    print(wline)
    print()
    print(table.text())
    if worst:
        print(f"\nlargest after/before (timed workloads): {worst[0]:.3f} ({worst[1]})")
    if args.markdown:
        print("\n## Markdown\n")
        print("\n".join(f"- {h}" for h in head) + "\n")
        print(f"**{wline}**\n")
        print(table.markdown())
    print(f"\ntotal {elapsed:.0f} s", flush=True)
    if args.json:
        doc = {"argv": sys.argv[1:] if argv is None else argv, "config": cfg, "info": info,
               "weights_equal": equal, "elapsed_s": elapsed, "raw": ba.raw,
               "table": {"header": table.header, "rows": table.rows, "note": table.note}}
        Path(args.json).write_text(json.dumps(doc, indent=1))
    return 0 if equal != "no" else 1


if __name__ == "__main__":
    sys.exit(main())
