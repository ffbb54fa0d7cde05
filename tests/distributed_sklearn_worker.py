"""Runs on every rank under ``mpiexec -n 2`` (started by tests/test_distributed_sklearn.py):
dnnx.sklearn estimators fitting their own shards after dnnx.distributed.init().

Usage: python distributed_sklearn_worker.py OUTDIR. Saves OUTDIR/rank{r}.npz (arrays) and
OUTDIR/rank{r}.json (facts); what it prints goes to OUTDIR/rank{r}.out.
"""

import json
import os
import sys
import warnings

import numpy as np

from dnnx import distributed as dist
from dnnx.sklearn import MLPClassifier, MLPRegressor

out = sys.argv[1]
rank, size = dist.init()
stream = open(os.path.join(out, f"rank{rank}.out"), "w")
sys.stdout.flush()
os.dup2(stream.fileno(), 1)
assert size == 2, size
warnings.simplefilter("ignore")  # ConvergenceWarning: short fits on purpose
arrays, facts = {}, {"rank": rank}
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_distributed_sklearn import B, classification, regression  # noqa: E402  (the data the test rebuilds)


def keep(key, est):
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        arrays[f"{key}_w{i}"] = np.asarray(w).copy()
        arrays[f"{key}_b{i}"] = np.asarray(b).copy()
    facts[key] = {"n_iter": int(est.n_iter_), "loss": float(est.loss_), "t": int(getattr(est, "t_", 0)),
                  "loss_curve": [float(v) for v in getattr(est, "loss_curve_", None) or []],
                  "validation_scores": [float(v) for v in (getattr(est, "validation_scores_", None) or [])],
                  "classes": None if not hasattr(est, "classes_") else [str(c) for c in est.classes_]}


# 1. Equal shards, per-rank batch B, no shuffle, sample weights, a penalty; rank 1's rows
#    lack class 2: equal to one process on the union of each step's rows (the test).
X, y, sw, parts = classification()
mine = parts[rank]
for solver, extra in (("adam", {}), ("sgd", {"class_weight": "balanced", "momentum": 0.5})):
    est = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, batch_size=B, shuffle=False, alpha=1e-2,
                        learning_rate_init=0.05, max_iter=6, tol=0.0, random_state=0, **extra)
    est.fit(X[mine], y[mine], sample_weight=sw[mine])
    keep(f"clf_{solver}", est)
facts["rank1_classes"] = sorted(set(int(v) for v in y[parts[1]]))

# 2. Regressor, early stopping on per-rank validation rows (X_val): the merged R^2 decides.
Xr, yr, swr, parts_r, val_r = regression()
est = MLPRegressor(hidden_layer_sizes=(6,), batch_size=B, shuffle=False, alpha=1e-3, learning_rate_init=0.02,
                   max_iter=40, early_stopping=True, n_iter_no_change=2, tol=0.05, random_state=1)
est.fit(Xr[parts_r[rank]], yr[parts_r[rank]], sample_weight=swr[parts_r[rank]],
        X_val=Xr[val_r[rank]], y_val=yr[val_r[rank]])
keep("reg_es", est)

# 3. lbfgs (float64): the union's full-batch objective.
est = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", alpha=1e-2, max_iter=15, random_state=0)
est.fit(X[mine].astype(np.float64), y[mine], sample_weight=sw[mine])
keep("lbfgs", est)

# 4. Uneven shards (53 and 40 rows), shuffle, dropout, batch 'auto', stopping on the training
#    loss (a huge tol): every rank the same weights and the same stopping epoch.
rng = np.random.default_rng(7)
Xu = rng.normal(size=(93, 4)).astype(np.float32)
yu = (Xu[:, 0] + Xu[:, 1] > 0).astype(int)
cut = slice(0, 53) if rank == 0 else slice(53, 93)
est = MLPClassifier(hidden_layer_sizes=(10,), dropout=0.2, batch_size=8, max_iter=30, tol=1e3, n_iter_no_change=3,
                    random_state=None)
est.fit(Xu[cut], yu[cut])
keep("uneven", est)
est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=4, random_state=None).fit(Xu[cut], Xu[cut, 0])  # 'auto' batch
keep("uneven_auto", est)

# 5. partial_fit with classes, then more: shards joined as in fit.
est = MLPClassifier(hidden_layer_sizes=(6,), random_state=3, batch_size=8)
est.partial_fit(Xu[cut], yu[cut], classes=[0, 1, 2])
est.partial_fit(Xu[cut], yu[cut], epochs=2)
keep("partial", est)

# 6. Only rank 0 prints (verbose).
print(f"worker rank {rank} output is captured", flush=True)
MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, verbose=True, random_state=0).fit(Xu[cut], yu[cut])
sys.stdout.flush()

# 7. Ranks that disagree, and a bad shard on one rank: a clear error on every rank.
try:
    MLPClassifier(hidden_layer_sizes=(4 + rank,), max_iter=1).fit(Xu[cut], yu[cut])
except ValueError as e:
    facts["params_error"] = str(e)
bad = Xu[cut].copy()
if rank == 1:
    bad[0, 0] = np.nan
try:
    MLPClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(bad, yu[cut])
except ValueError as e:
    facts["data_error"] = str(e)

np.savez(os.path.join(out, f"rank{rank}.npz"), **arrays)
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump(facts, f)
