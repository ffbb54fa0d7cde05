"""Command line: ``python -m dnnx demo|train|predict|evaluate|summary|bench`` (also the
``dnnx`` console script). ``demo`` lives here; the table commands in ``_cli``."""

from __future__ import annotations

import argparse
import os
import sys
import time



def _softmax_regression(xtr, ytr, xte, classes: int, steps: int = 500, lr: float = 0.5):
    """The plain baseline beside dnnx: multinomial logistic regression by full-batch
    gradient descent in NumPy. Returns (predicted classes of xte, seconds)."""
    import numpy as np
    t = time.perf_counter()
    w = np.zeros((xtr.shape[1], classes))
    b = np.zeros(classes)
    onehot = np.eye(classes)[ytr]
    for _ in range(steps):
        z = xtr @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(xtr)
        w -= lr * (xtr.T @ g + 1e-4 * w)
        b -= lr * g.sum(0)
    return np.argmax(xte @ w + b, axis=1), time.perf_counter() - t


def _demo(args: argparse.Namespace) -> int:
    import dnnx
    from dnnx import layers

    if args.threads:
        dnnx.set_num_threads(args.threads)
    dnnx.show_config()
    print()

    # 1. Digits: 10-class classification of 8x8 images (bundled, 1,797 samples).
    dnnx.utils.set_random_seed(args.seed)
    x, y = dnnx.datasets.load_digits()
    x = x / 16.0
    xtr, xte, ytr, yte = dnnx.datasets.train_test_split(x, y, 0.25, seed=args.seed)
    model = dnnx.Sequential([
        dnnx.Input(shape=(64,)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.1),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=dnnx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.summary()
    t = time.perf_counter()
    hist = model.fit(xtr, ytr, batch_size=32, epochs=args.epochs, validation_split=0.1, verbose=0)
    dt = time.perf_counter() - t
    res = model.evaluate(xte, yte, return_dict=True, verbose=0)
    print(f"digits (64-128-64-10, Adam, {args.epochs} epochs, batch 32): train loss "
          f"{hist.history['loss'][-1]:.4f}, val accuracy {hist.history['val_accuracy'][-1]:.4f}, "
          f"TEST ACCURACY {res['accuracy']:.4f} on {len(xte)} held-out images; fit took {dt:.2f} s "
          f"({args.epochs * len(xtr) * 0.9 / dt:,.0f} samples/s)")
    pred, bt = _softmax_regression(xtr, ytr, xte, 10)
    print(f"  baseline (NumPy softmax regression, 500 gradient steps): test accuracy {(pred == yte).mean():.4f}, "
          f"{bt:.2f} s")

    # 2. Breast cancer: binary classification of 30 tabular features (569 samples).
    x, y = dnnx.datasets.load_breast_cancer()
    xtr, xte, ytr, yte = dnnx.datasets.train_test_split(x, y, 0.25, seed=args.seed)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    model = dnnx.Sequential([
        dnnx.Input(shape=(30,)),
        layers.Dense(32, activation="relu"),
        layers.Dense(16, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", "auc"])
    t = time.perf_counter()
    model.fit(xtr, ytr, batch_size=32, epochs=50, verbose=0)
    dt = time.perf_counter() - t
    res = model.evaluate(xte, yte, return_dict=True, verbose=0)
    print(f"breast cancer (30-32-16-1, Adam, 50 epochs): TEST ACCURACY {res['accuracy']:.4f}, "
          f"AUC {res['auc']:.4f} on {len(xte)} held-out samples; fit took {dt:.2f} s")
    pred, bt = _softmax_regression(xtr, ytr.astype(int), xte, 2)
    print(f"  baseline (NumPy logistic regression, 500 gradient steps): test accuracy "
          f"{(pred == yte).mean():.4f}, {bt:.2f} s")

    t = time.perf_counter()
    for _ in range(1000):
        model.predict_on_batch(xte[:1])
    print(f"single-sample predict latency: {(time.perf_counter() - t) * 1e3:.1f} µs")
    return 0


def main(argv=None) -> int:
    from . import _cli
    parser = argparse.ArgumentParser(prog="dnnx", description="dnnx command line: train and use MLPs on tables")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train models on bundled data and report what they achieved")
    p.add_argument("--epochs", type=int, default=30, help="epochs for the digits model (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="threads (default: all usable CPUs)")
    p.set_defaults(func=_demo)
    _cli.add_commands(sub)
    args = parser.parse_args(argv)
    return _run(args)


def _run(args) -> int:
    """Run a command; a problem with the user's input is one line on stderr and exit status
    2, never a traceback."""
    from .saving import InvalidModelFile
    from .tabular import TableError
    try:
        return int(args.func(args))
    except (TableError, InvalidModelFile) as e:
        print(f"dnnx {args.command}: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"dnnx {args.command}: error: {e.filename or e}: no such file", file=sys.stderr)
        return 2
    except (IsADirectoryError, PermissionError) as e:
        print(f"dnnx {args.command}: error: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the output was piped into a command that stopped reading (head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 0
    except KeyboardInterrupt:
        print(f"dnnx {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
