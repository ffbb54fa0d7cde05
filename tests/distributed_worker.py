"""Runs on every rank under ``mpiexec -n 2`` (started by tests/test_distributed.py).

Usage: python distributed_worker.py OUTDIR. Each scenario trains on this rank's shard and
saves what the test checks into OUTDIR/rank{r}.npz (arrays) and OUTDIR/rank{r}.json.
"""

import json
import os
import sys
import zlib

import numpy as np

import dnnx
from dnnx import callbacks, layers
from dnnx import distributed as dist

out = sys.argv[1]
rank, size = dist.init()
# What this rank writes to stdout and stderr (print, progress bars) goes to its own file.
stream = open(os.path.join(out, f"rank{rank}.out"), "w")
sys.stdout.flush()
sys.stderr.flush()
os.dup2(stream.fileno(), 1)
os.dup2(stream.fileno(), 2)
assert size == 2, size
arrays, facts = {}, {"rank": rank, "size": size}


def data(n, seed=0, d=6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=n) > 0).astype("float32")
    return x, y


def model(width=16, bn=False, optimizer="adam"):
    dnnx.utils.set_random_seed(1 + rank * 1000)  # different initial weights: rank 0's must win
    ls = [dnnx.Input(shape=(6,)), layers.Dense(width, activation="relu",
                                               kernel_regularizer=dnnx.regularizers.L2(1e-3))]
    if bn:
        ls.append(layers.BatchNormalization())
    ls.append(layers.Dense(1, activation="sigmoid"))
    m = dnnx.Sequential(ls)
    m.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy", "auc", "precision"])
    return m


class Record(callbacks.Callback):
    """Every epoch: the full parameter arena and optimizer state of this rank."""

    def __init__(self, key):
        super().__init__()
        self.key = key

    def on_train_begin(self, logs=None):  # after the broadcast: rank 0's initial weights
        arrays[f"{self.key}_init"] = self.model._net.param_arena().copy()

    def on_epoch_end(self, epoch, logs=None):
        net = self.model._net
        arrays[f"{self.key}_w{epoch}"] = net.param_arena().copy()
        arrays[f"{self.key}_opt{epoch}"] = np.concatenate([s.copy() for s in net.optimizer_state()])


# 1. Uneven shards (53 and 40 samples, batch 8: 7 and 5 steps), no shuffle: the test compares
#    with one process training on each step's union; weights recorded every epoch.
x, y = data(93)
xs, ys = (x[:53], y[:53]) if rank == 0 else (x[53:], y[53:])
m = model()
h = m.fit(xs, ys, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[Record("uneven")],
          validation_data=(xs[:20], ys[:20]))
facts["uneven_history"] = h.history
facts["uneven_iterations"] = int(m._net.iterations)
facts["uneven_rng"] = [str(v) for v in m._net.get_rng_state()]
facts["uneven_eval"] = m.evaluate(xs, ys, return_dict=True)

# 2. BatchNormalization + dropout + shuffle: identical weights (moving statistics too) after
#    every epoch; the same run twice gives the same bits (reproducible sharded shuffle).
for run in range(2):
    xb, yb = data(300, seed=3)
    m = model(bn=True)
    m.fit(dist.shard(xb), dist.shard(yb), batch_size=16, epochs=2, shuffle=True, verbose=0,
          callbacks=[Record(f"bn{run}")])

# 3. Only rank 0 writes files and prints: ModelCheckpoint and CSVLogger into this rank's own
#    directory; verbose=2 lines (each rank's output goes to its own file).
own = os.path.join(out, f"dir{rank}")
os.makedirs(own)
os.chdir(own)
m = model()
print(f"worker rank {rank} output is captured", flush=True)
m.fit(dist.shard(x), dist.shard(y), batch_size=16, epochs=2, verbose=2,
      callbacks=[callbacks.ModelCheckpoint("ckpt.dnnx"), callbacks.CSVLogger("log.csv"),
                 callbacks.ReduceLROnPlateau(monitor="loss", patience=1, min_delta=1e9, factor=0.5, verbose=1)])
facts["files"] = sorted(os.listdir(own))
facts["reduced_lr"] = float(m.optimizer.learning_rate)
os.chdir(out)

# 4. EarlyStopping on merged logs, and a stop that one rank alone asks for.
m = model()
es = callbacks.EarlyStopping(monitor="val_loss", min_delta=1e9, patience=1)
h = m.fit(dist.shard(x), dist.shard(y), batch_size=16, epochs=6, verbose=0, callbacks=[es],
          validation_data=(dist.shard(x), dist.shard(y)))
facts["early_epochs"] = h.epoch
facts["early_stopped_epoch"] = es.stopped_epoch


class StopOnRank1(callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if rank == 1 and epoch == 1:
            self.model.stop_training = True


h = model().fit(dist.shard(x), dist.shard(y), batch_size=16, epochs=6, verbose=0,
                         callbacks=[StopOnRank1()])
facts["rank1_stop_epochs"] = h.epoch


class StopInBatch(callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if rank == 0 and batch == 1:
            self.model.stop_training = True


h = model().fit(dist.shard(x), dist.shard(y), batch_size=8, epochs=4, verbose=0, callbacks=[StopInBatch()])
facts["batch_stop_epochs"] = h.epoch

# 5. A rank with an empty shard joins every step; nothing deadlocks.
m = model()
m.fit(x if rank == 0 else x[:0], y if rank == 0 else y[:0], batch_size=16, epochs=1, verbose=0,
      callbacks=[Record("empty")])

# 6. Ranks that disagree on the model, or on the fit arguments: a clear error on every rank.
try:
    model(width=16 if rank == 0 else 17).fit(xs, ys, epochs=1, verbose=0)
except ValueError as e:
    facts["model_error"] = str(e)
try:
    model().fit(xs, ys, epochs=1, batch_size=8 + rank, verbose=0)
except ValueError as e:
    facts["fit_error"] = str(e)

# 7. A NaN prediction on rank 1 only: the merged metrics are NaN on every rank, as one
#    process evaluating the union gives (the NaN travels in the metric state).
xn = x[:40].copy()
if rank == 1:
    xn[5, 0] = np.nan
facts["nan_eval"] = model().evaluate(xn, y[:40], return_dict=True, verbose=0)

# 8. The bucketed gradient allreduce: started during backward or after it, one bucket per
#    layer, a few, or one for all: the same bits (BatchNormalization, shuffle, Adam).
xb, yb = data(300, seed=3)
for overlap, mb in ((True, 0.0), (False, 0.0), (True, 1e-4), (True, float("inf")), (False, float("inf"))):
    dist.init(dist.communicator(), bucket_mb=mb, overlap=overlap)
    m = model(bn=True)
    m.fit(dist.shard(xb), dist.shard(yb), batch_size=16, epochs=2, shuffle=True, verbose=0)
    arrays[f"bucket_{overlap}_{mb}"] = m._net.param_arena().copy()
dist.init(dist.communicator())

np.savez(os.path.join(out, f"rank{rank}.npz"), **arrays)
with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
    json.dump(facts, f)
