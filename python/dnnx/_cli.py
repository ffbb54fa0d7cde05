"""The table commands of ``dnnx`` (``python -m dnnx``): train, predict, evaluate, summary,
bench. ``__main__`` wires them up next to ``demo``.

Every problem with the user's input (a missing file, an unknown column, an unparseable
value, a single-class target, a file that is not a dnnx model) is a ``TableError``: main()
prints it as one line, ``dnnx: error: ...``, and exits with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import List

import numpy as np

CHUNK_ROWS = 65536  # rows per chunk when predicting on (or evaluating) a file


def _hidden(text: str) -> List[int]:
    try:
        widths = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated layer widths like 256,128; received "
                                         f"{text!r}") from None
    if not widths or any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(f"--hidden takes positive layer widths like 256,128; received {text!r}")
    return widths


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}; received {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}; received {text!r}")
        return v
    return parse


def add_commands(sub) -> None:
    from .tabular import DEFAULTS
    p = sub.add_parser("train", help="train a model on a table (CSV, TSV, NPZ, Parquet) and save it to one file")
    p.add_argument("--data", required=True, help="the table: .csv, .tsv, .npz or .parquet (pyarrow)")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--out", required=True, help="the model file to write (e.g. model.dnnx)")
    p.add_argument("--hidden", type=_hidden, default=list(DEFAULTS["hidden"]),
                   help="hidden layer widths (default %(default)s)")
    p.add_argument("--residual", action="store_true", help="a residual MLP (skip connections around each layer)")
    p.add_argument("--dropout", type=float, default=DEFAULTS["dropout"], help="dropout rate (default %(default)s)")
    p.add_argument("--epochs", type=_positive(int), default=DEFAULTS["epochs"],
                   help="most epochs; training stops early when the validation loss stops improving "
                        "(default %(default)s)")
    p.add_argument("--patience", type=_positive(int), default=DEFAULTS["patience"],
                   help="epochs without improvement before stopping (default %(default)s)")
    p.add_argument("--batch-size", type=_positive(int), default=None, help="default: from the number of rows")
    p.add_argument("--lr", type=_positive(float), default=DEFAULTS["learning_rate"],
                   help="Adam learning rate (default %(default)s)")
    p.add_argument("--val-split", type=float, default=DEFAULTS["val_split"],
                   help="fraction of rows held out (at random) for validation and early stopping "
                        "(default %(default)s)")
    p.add_argument("--task", choices=["auto", "classification", "regression"], default="auto",
                   help="default: detected from the target column")
    p.add_argument("--plot", metavar="PNG", help="write the loss and metric curves to this PNG (needs matplotlib)")
    p.add_argument("--threads", type=_positive(int), default=None, help="threads (default: all usable CPUs)")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training on MPI: start it with mpiexec -n N dnnx train ... --distributed "
                        "(pip install 'dnnx[mpi]'); the rows are sharded over the ranks, rank 0 prints and saves")
    p.set_defaults(func=train)

    p = sub.add_parser("predict", help="predict every row of a table with a saved model")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="CSV to write: one row per input row, in order")
    p.add_argument("--threads", type=_positive(int), default=None)
    p.set_defaults(func=predict)

    p = sub.add_parser("evaluate", help="metrics of a saved model on a table that has the target column")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--threads", type=_positive(int), default=None)
    p.set_defaults(func=evaluate)

    p = sub.add_parser("summary", help="what a saved model expects and holds")
    p.add_argument("--model", required=True)
    p.set_defaults(func=summary)

    p = sub.add_parser("bench", help="a short speed comparison (bench/compare.py --quick in a source checkout)")
    p.add_argument("--builtin", action="store_true",
                   help="the built-in comparison (dnnx against a NumPy MLP) even in a source checkout")
    p.add_argument("--threads", type=_positive(int), default=None)
    p.set_defaults(func=bench)


def _threads(args) -> None:
    if getattr(args, "threads", None):
        import dnnx
        dnnx.set_num_threads(args.threads)


def _fmt(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())


class _Progress:
    """A tqdm bar over epochs with the latest losses (stderr)."""

    def __new__(cls, epochs: int, enabled: bool):
        from .callbacks import Callback

        class Bar(Callback):
            def on_train_begin(self, logs=None):
                from tqdm import tqdm
                self.bar = tqdm(total=epochs, unit="epoch", file=sys.stderr, disable=not enabled, leave=True,
                                dynamic_ncols=True)

            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                self.bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k in ("loss", "val_loss")})
                self.bar.update(1)

            def on_train_end(self, logs=None):
                self.bar.close()
        return Bar()


def train(args) -> int:
    from .tabular import TableError, TabularModel, read_table
    say = print
    if getattr(args, "distributed", False):
        from . import distributed
        try:
            rank = distributed.init()[0]
        except RuntimeError as e:  # no mpi4py / MPI library: one line, as every CLI error
            raise TableError(str(e)) from None
        if rank != 0:  # the other ranks train silently and write nothing
            say, args.quiet, args.plot, args.out = (lambda *a, **k: None), True, None, None
    _threads(args)
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise TableError("--plot needs matplotlib (pip install 'dnnx[plot]')") from None
    if not 0.0 <= args.dropout < 1.0:
        raise TableError(f"--dropout must be in [0, 1); received {args.dropout}")
    t0 = time.perf_counter()
    table = read_table(args.data)
    n = len(next(iter(table.values())))
    if n == 0:
        raise TableError(f"{args.data}: the table has no rows")
    tm = TabularModel.build(table, args.target, task=args.task, hidden=args.hidden, residual=args.residual,
                            dropout=args.dropout, seed=args.seed)
    info = tm.info
    kinds = [c["kind"] for c in info["columns"]]
    what = info["task"] + ("" if info["classes"] is None else f", {len(info['classes'])} classes")
    say(f"read {n:,} rows from {args.data}: {kinds.count('numeric')} numeric and {kinds.count('categorical')} "
        f"categorical columns; target {args.target!r} ({what})")
    result = tm.fit(table, epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                    val_split=args.val_split, patience=args.patience, seed=args.seed,
                    callbacks=[_Progress(args.epochs, not args.quiet)])
    fit = info["fit"]
    say(f"trained {fit['epochs_run']} epochs on {fit['rows_train']:,} rows in {fit['seconds']:.2f} s "
        f"(batch size {fit['batch_size']}); best weights kept")
    say(f"validation ({fit['rows_validation']:,} rows): {_fmt(result)}")
    if args.out:
        tm.save(args.out)
    say(f"saved {args.out} (preprocessing included; {time.perf_counter() - t0:.2f} s in all)")
    if args.plot:
        _plot(tm.history.history, args.plot)
        say(f"wrote {args.plot}")
    return 0


def _plot(history: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    metric = next((k for k in history if not k.startswith("val_") and k != "loss"), None)
    keys = ["loss"] + ([metric] if metric else [])
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5))
    axes = np.atleast_1d(axes)
    for ax, key in zip(axes, keys):
        epochs = np.arange(1, len(history[key]) + 1)
        ax.plot(epochs, history[key], label="train")
        if f"val_{key}" in history:
            ax.plot(epochs, history[f"val_{key}"], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def predict(args) -> int:
    from .tabular import TableError, TabularModel, iter_table, write_csv
    _threads(args)
    tm = TabularModel.load(args.model)
    classes = tm.info["classes"]
    header = [f"predicted_{tm.info['target']}"]
    if classes is not None:
        header += [f"probability_{c}" for c in classes]
    rows = 0
    tmp = args.out + ".partial"
    try:
        for i, chunk in enumerate(iter_table(args.data, CHUNK_ROWS, tm.numeric_columns)):
            labels, proba = tm.predict(chunk, what=args.data)
            cols = [labels] + ([] if proba is None else [proba[:, j] for j in range(proba.shape[1])])
            write_csv(tmp, header, cols, append=i > 0)
            rows += len(labels)
        os.replace(tmp, args.out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if rows == 0:
        raise TableError(f"{args.data}: the table has no rows")
    print(f"wrote {rows:,} predictions to {args.out}")
    return 0


def evaluate(args) -> int:
    from .tabular import TableError, TabularModel, iter_table
    _threads(args)
    tm = TabularModel.load(args.model)
    preds, ys = [], []
    for chunk in iter_table(args.data, CHUNK_ROWS, tm.numeric_columns + (
            [tm.info["target"]] if tm.info["task"] == "regression" else [])):
        y, keep = tm.targets(chunk, args.data)
        x = {k: v[keep] for k, v in tm.inputs(chunk, args.data).items()}
        if len(y):
            preds.append(tm.predict_proba_or_values(x))
            ys.append(y)
    if not ys:
        raise TableError(f"{args.data} has no rows with a target value")
    metrics = tm.metrics(np.concatenate(preds), np.concatenate(ys))
    print(f"{sum(len(y) for y in ys):,} rows: {_fmt(metrics)}")
    return 0


def summary(args) -> int:
    from .tabular import TabularModel
    tm = TabularModel.load(args.model)
    info = tm.info
    print(f"task: {info['task']}; target column: {info['target']!r}")
    if info["classes"] is not None:
        print(f"classes: {info['classes']}")
    for c in info["columns"]:
        if c["kind"] == "numeric":
            extra = [k for k in ("missing_indicator", "quantile_transform") if c.get(k)]
            print(f"  {c['name']!r}: numeric (median imputation, robust scaling{''.join(', ' + e for e in extra)})")
        else:
            print(f"  {c['name']!r}: categorical, {c['levels']} levels + unseen ({c['encoding']})")
    fit = info.get("fit")
    if fit:
        print(f"trained on {fit['rows_train']:,} rows, {fit['epochs_run']} epochs, {fit['seconds']} s; validation: "
              f"{_fmt(fit['validation'])}")
    tm.model.summary()
    return 0


def _compare_script():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "bench", "compare.py")
    return os.path.normpath(path) if os.path.isfile(path) else None


def bench(args) -> int:
    script = None if args.builtin else _compare_script()
    if script is not None:
        import subprocess
        cmd = [sys.executable, script, "--quick", "--only", "train,tabular"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print("running " + " ".join(cmd), flush=True)
        return subprocess.call(cmd)
    _threads(args)
    from ._bench import builtin_comparison
    builtin_comparison()
    return 0
