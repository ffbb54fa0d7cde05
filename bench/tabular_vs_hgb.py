"""`dnnx train` beside scikit-learn's HistGradientBoosting (defaults) on two tables: the
bundled breast-cancer data and a generated mixed-type table (numeric columns with missing
values and a skewed one, a 40-level and a 3-level text column; binary target).

Both see the same split: the validation rows are the ones `dnnx train` holds out
(``np.random.default_rng(seed).permutation(n)[:round(n * 0.2)]``). `dnnx train` runs as a
user runs it, one subprocess per round (its own reported training time and validation
metrics are read from its output); HistGradientBoostingClassifier runs in another
subprocess per round, rounds alternating (dnnx, HGB, dnnx, HGB, ...). HGB gets the text
columns as ordinal codes flagged in ``categorical_features`` (its native categorical
support), everything else at its defaults.

    python bench/tabular_vs_hgb.py --rounds 5 --threads 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile

import numpy as np

HGB = r"""
import json, sys, time
import numpy as np
from dnnx import tabular
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score
path, target, seed, val_split = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
t = tabular.read_table(path)
y_raw = t.pop(target)
classes, y = np.unique(y_raw, return_inverse=True)
cols, cat = [], []
for i, (k, v) in enumerate(t.items()):
    if v.dtype.kind == "U":
        cols.append(np.unique(v, return_inverse=True)[1].astype(float)); cat.append(i)
    else:
        cols.append(v)
x = np.stack(cols, 1)
n = len(y); n_val = int(round(n * val_split))
perm = np.random.default_rng(seed).permutation(n); va, tr = perm[:n_val], perm[n_val:]
m = HistGradientBoostingClassifier(categorical_features=cat or None, random_state=0)
t0 = time.perf_counter(); m.fit(x[tr], y[tr]); dt = time.perf_counter() - t0
p = m.predict_proba(x[va])
print(json.dumps({"seconds": dt, "accuracy": accuracy_score(y[va], p.argmax(1)), "log_loss": log_loss(y[va], p),
                  "auc": roc_auc_score(y[va], p[:, 1]), "n_iter": int(m.n_iter_)}))
"""


def write(path, cols):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(cols))
        for row in zip(*cols.values()):
            w.writerow(["" if isinstance(v, float) and v != v else v for v in row])


def breast_cancer(path):
    import dnnx
    x, y = dnnx.datasets.load_breast_cancer()
    cols = {f"f{i}": x[:, i].tolist() for i in range(x.shape[1])}
    cols["diagnosis"] = ["malignant" if t == 0 else "benign" for t in y.tolist()]
    write(path, cols)
    return "diagnosis"


def mixed(path, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(n), rng.standard_normal(n)
    c = np.exp(rng.standard_normal(n) * 1.5)
    shop = rng.integers(0, 40, n)
    effect = rng.standard_normal(40)
    tier = rng.choice(["gold", "silver", "bronze"], n, p=[0.2, 0.3, 0.5])
    score = (np.sin(2 * a) + a * b + 0.8 * np.log(c) + effect[shop] + (tier == "gold") - 0.5 * (tier == "bronze"))
    y = np.where(score + 0.5 * rng.standard_normal(n) > 0, "buy", "skip")
    a_obs = a.copy()
    a_obs[rng.random(n) < 0.15] = np.nan
    write(path, {"a": a_obs.tolist(), "b": b.tolist(), "c": c.tolist(), "shop": [f"s{v}" for v in shop],
                 "tier": tier.tolist(), "label": y.tolist()})
    return "label"


def dnnx_round(path, target, threads, out):
    cmd = [sys.executable, "-m", "dnnx", "train", "--data", path, "--target", target, "--out", out, "--quiet",
           "--threads", str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    sec = float(re.search(r"rows in ([0-9.]+) s", r.stdout).group(1))
    val = dict((k, float(v)) for k, v in re.findall(r"(\w+) ([0-9.]+)", r.stdout.splitlines()[2].split(":", 1)[1]))
    epochs = int(re.search(r"trained (\d+) epochs", r.stdout).group(1))
    return {"seconds": sec, **val, "epochs": epochs}, " ".join(cmd[1:]), r.stdout


def hgb_round(path, target, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, "-c", HGB, path, target, "0", "0.2"], capture_output=True, text=True,
                       check=True, env=env)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"CPU: {cpu}; {args.threads} threads; {args.rounds} alternating rounds; medians (min-max)")
    with tempfile.TemporaryDirectory() as d:
        for name, make in (("breast cancer (569 rows, 30 numeric)", breast_cancer),
                           ("mixed (20,000 rows: 3 numeric, 1 with 15% missing, 1 skewed; 40- and 3-level text)",
                            mixed)):
            path = os.path.join(d, "t.csv")
            target = make(path)
            res = {"dnnx train": [], "HistGradientBoosting": []}
            for _ in range(args.rounds):
                r, cmd, out = dnnx_round(path, target, args.threads, os.path.join(d, "m.dnnx"))
                res["dnnx train"].append(r)
                res["HistGradientBoosting"].append(hgb_round(path, target, args.threads))
            print(f"\n{name}; validation = the 20% dnnx holds out; `{cmd}`")
            print(out.rstrip())
            for k, rs in res.items():
                def med(key):
                    vs = [r[key] for r in rs]
                    return f"{statistics.median(vs):.4f} ({min(vs):.4f}-{max(vs):.4f})"
                print(f"  {k:22s} fit {med('seconds')} s | accuracy {med('accuracy')} | log_loss {med('log_loss')} "
                      f"| auc {med('auc')}")


if __name__ == "__main__":
    main()
