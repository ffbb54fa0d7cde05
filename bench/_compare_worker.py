"""One measurement in one process: ``python bench/_compare_worker.py FRAMEWORK TASK PARAMS_JSON``.

``bench/compare.py`` spawns this file once per (framework, task, thread count, repeat), so that
two OpenMP runtimes never share a process and each measurement starts cold. The worker imports
only the framework it measures, builds the seeded data, warms up, times, and prints exactly one
line ``@@RESULT {json}`` on stdout. Anything else it prints is ignored by the driver.

Frameworks: dnnx, torch, torch-fused (same loop, ``Adam(fused=True)``), torch-compile (the model
under ``torch.compile``, fused Adam), jax (a jitted step in a Python loop), jax-scan (the whole
epoch in one ``jit`` through ``lax.scan``), keras-jax (Keras 3 on JAX), ort (onnxruntime,
inference only), sklearn, numpy.
Tasks: probe, train, digits, predict, gemm, weights (bench/before_after.py's bitwise check).

Every framework trains the same architecture with the same optimizer (Adam, lr 1e-3) on the
same arrays: float32 inputs, softmax + sparse cross-entropy (or sigmoid + binary cross-entropy
for one output unit), ReLU hidden layers. Timed regions exclude imports, data generation and
model construction, and follow one warm-up epoch (or warm-up calls).
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
import traceback

import numpy as np

FRAMEWORKS = ("dnnx", "torch", "torch-fused", "torch-compile", "jax", "jax-scan", "keras-jax", "ort",
              "sklearn", "numpy")
RESULT_MARK = "@@RESULT "


class Unavailable(Exception):
    """The framework (or the part of its API a task needs) is not installed."""


# --------------------------------------------------------------------------- data


def make_blobs(n, d, k, seed=0, spread=0.1):
    """``n`` float32 samples in ``d`` dims around ``k`` gaussian centres; labels int64.

    Generated in chunks straight into float32 so that no float64 temporary raises the
    process's peak RSS above what the training itself needs (see the memory metric).
    """
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d), dtype=np.float32) * np.float32(spread)
    y = rng.integers(0, k, size=n, dtype=np.int64)
    x = np.empty((n, d), np.float32)
    chunk = 4096
    for i in range(0, n, chunk):
        j = min(n, i + chunk)
        rng.standard_normal((j - i, d), dtype=np.float32, out=x[i:j])
        x[i:j] += centers[y[i:j]]
    return x, y


def make_tabular(n, d, seed=0):
    """A binary task on ``d`` float32 features: a noisy linear rule plus a bit of curvature."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d), dtype=np.float32)
    w = rng.standard_normal(d).astype(np.float32)
    z = x @ w + 0.5 * x[:, 0] * x[:, 1] + rng.standard_normal(n).astype(np.float32)
    return x, (z > 0).astype(np.int64)


def load_digits_split(seed=0):
    """scikit-learn's 8x8 digits scaled to [0, 1], split 75/25 with a fixed seed."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:
        raise Unavailable("the digits task needs scikit-learn for load_digits") from e
    ds = load_digits()
    x = (ds.data / 16.0).astype(np.float32)
    y = ds.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    n_test = len(y) // 4
    te, tr = perm[:n_test], perm[n_test:]
    return x[tr], y[tr], x[te], y[te]


def make_data(p):
    kind = p["data"]
    if kind == "blobs":
        return make_blobs(p["n"], p["sizes"][0], p["sizes"][-1], seed=p.get("seed", 0))
    if kind == "tabular":
        return make_tabular(p["n"], p["sizes"][0], seed=p.get("seed", 0))
    raise ValueError(f"unknown data kind {kind!r}")


def gemm_flops_per_sample(sizes):
    """GEMM FLOPs of one training sample: forward X@W, backward dW = X^T@dZ and dX = dZ@W^T,
    each 2*in*out multiply-adds per sample, with no dX for the first layer."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return 6 * sum(i * o for i, o in pairs) - 2 * pairs[0][0] * pairs[0][1]


# --------------------------------------------------------------------------- numpy MLP


class NumpyMLP:
    """A plain NumPy MLP trained with Adam: ReLU hidden layers, softmax+CE or sigmoid+BCE.

    Parameters live in one float32 arena (kernels ``(in, out)`` and biases are views), so Adam is
    a handful of whole-arena ufunc calls. Activations, deltas and the gathered batch are buffers
    allocated once per batch size and reused; every product writes through ``out=``.
    """

    def __init__(self, sizes, l2=0.0, lr=1e-3, seed=0):
        self.sizes = list(sizes)
        self.binary = self.sizes[-1] == 1
        self.l2, self.lr = l2, lr
        self.b1, self.b2, self.eps, self.t = 0.9, 0.999, 1e-7, 0
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        total = sum(i * o + o for i, o in pairs)
        self.params = np.zeros(total, np.float32)
        self.grads = np.zeros(total, np.float32)
        self.m = np.zeros(total, np.float32)
        self.v = np.zeros(total, np.float32)
        self.tmp = np.zeros(total, np.float32)
        self.W, self.b, self.dW, self.db = [], [], [], []
        rng = np.random.default_rng(seed)
        off = 0
        for i, o in pairs:
            for arr, dst in ((self.params, self.W), (self.grads, self.dW)):
                dst.append(arr[off : off + i * o].reshape(i, o))
            limit = math.sqrt(6.0 / (i + o))  # glorot_uniform, as Keras and dnnx
            self.W[-1][...] = rng.uniform(-limit, limit, (i, o))
            off += i * o
            self.b.append(self.params[off : off + o])
            self.db.append(self.grads[off : off + o])
            off += o
        self._bufs = {}

    def _buffers(self, bs):
        if bs not in self._bufs:
            acts = [np.empty((bs, o), np.float32) for o in self.sizes[1:]]
            deltas = [np.empty((bs, o), np.float32) for o in self.sizes[1:]]
            masks = [np.empty((bs, o), bool) for o in self.sizes[1:-1]]
            xb = np.empty((bs, self.sizes[0]), np.float32)
            yb = np.empty(bs, np.int64)
            self._bufs[bs] = (xb, yb, acts, deltas, masks, np.arange(bs))
        return self._bufs[bs]

    def forward(self, x, acts):
        a = x
        last = len(self.W) - 1
        for li, (W, b, z) in enumerate(zip(self.W, self.b, acts)):
            np.matmul(a, W, out=z)
            z += b
            if li < last:
                np.maximum(z, 0, out=z)
            a = z
        if self.binary:  # sigmoid, computed stably as 1 / (1 + exp(-z))
            np.negative(a, out=a)
            np.exp(a, out=a)
            a += 1
            np.reciprocal(a, out=a)
        else:  # softmax in place
            a -= a.max(axis=1, keepdims=True)
            np.exp(a, out=a)
            a /= a.sum(axis=1, keepdims=True)
        return a

    def predict(self, x):
        n = x.shape[0]
        bufs = self._bufs.get(("predict", n))
        if bufs is None:
            bufs = self._bufs[("predict", n)] = [np.empty((n, o), np.float32) for o in self.sizes[1:]]
        return self.forward(x, bufs)

    def train_step(self, xb, yb, track_loss=False):
        bs = xb.shape[0]
        _, _, acts, deltas, masks, rows = self._buffers(self._full_bs)
        acts = [a[:bs] for a in acts]
        deltas = [d[:bs] for d in deltas]
        masks = [m[:bs] for m in masks]
        p = self.forward(xb, acts)
        loss = 0.0
        d = deltas[-1]
        if self.binary:
            yf = yb.reshape(-1, 1)
            if track_loss:
                pc = np.clip(p, 1e-7, 1 - 1e-7)
                loss = float(-np.mean(yf * np.log(pc) + (1 - yf) * np.log(1 - pc)))
            np.subtract(p, yf, out=d)
        else:
            r = rows[:bs]
            if track_loss:
                loss = float(-np.mean(np.log(np.maximum(p[r, yb], 1e-7))))
            d[...] = p
            d[r, yb] -= 1
        d *= np.float32(1.0 / bs)
        for li in range(len(self.W) - 1, -1, -1):
            a_in = xb if li == 0 else acts[li - 1]
            np.matmul(a_in.T, deltas[li], out=self.dW[li])
            np.sum(deltas[li], axis=0, out=self.db[li])
            if self.l2:
                self.dW[li] += np.float32(2 * self.l2) * self.W[li]
            if li > 0:
                np.matmul(deltas[li], self.W[li].T, out=deltas[li - 1])
                np.greater(acts[li - 1], 0, out=masks[li - 1])
                deltas[li - 1] *= masks[li - 1]
        self._adam()
        return loss

    def _adam(self):
        """Adam (Kingma & Ba, https://arxiv.org/abs/1412.6980) over the whole arena."""
        self.t += 1
        b1, b2 = self.b1, self.b2
        lr_t = self.lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        g, m, v, tmp = self.grads, self.m, self.v, self.tmp
        m *= np.float32(b1)
        np.multiply(g, np.float32(1 - b1), out=tmp)
        m += tmp
        v *= np.float32(b2)
        np.multiply(g, g, out=tmp)
        tmp *= np.float32(1 - b2)
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += np.float32(self.eps)
        np.divide(m, tmp, out=tmp)
        tmp *= np.float32(lr_t)
        self.params -= tmp

    def fit_epoch(self, x, y, batch, rng, track_loss=False):
        self._full_bs = batch
        xb, yb, *_ = self._buffers(batch)
        n = x.shape[0]
        perm = rng.permutation(n)
        total = 0.0
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            bs = idx.shape[0]
            np.take(x, idx, axis=0, out=xb[:bs])
            np.take(y, idx, out=yb[:bs])
            total += self.train_step(xb[:bs], yb[:bs], track_loss) * bs
        return total / n

    def l2_penalty(self):
        return self.l2 * sum(float(np.dot(W.ravel(), W.ravel())) for W in self.W)


# --------------------------------------------------------------------------- adapters
#
# Each adapter answers the same four questions for its framework: build a model for
# ``sizes`` (ReLU hidden layers; softmax output, or sigmoid when the last size is 1),
# train it for some epochs and say how long each took, give a predict-one-batch callable,
# and report test accuracy. ``l2`` is a Keras-style L2 factor (penalty l2 * sum(W**2)).


class NumpyAdapter:
    name = "numpy"

    def __init__(self, threads):
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # the env vars set by the driver still apply
            return
        self._limits = threadpool_limits(threads)

    def build(self, sizes, l2=0.0, batch=None):
        return NumpyMLP(sizes, l2=l2)

    def fit(self, model, x, y, batch, epochs, track_loss=False):
        rng = getattr(model, "_rng", None) or np.random.default_rng(0)
        model._rng = rng
        times, losses = [], []
        for _ in range(epochs):
            t0 = time.perf_counter()
            loss = model.fit_epoch(x, y, batch, rng, track_loss)
            times.append(time.perf_counter() - t0)
            losses.append(loss + model.l2_penalty())
        return times, losses

    def predictor(self, model, x):
        return lambda: model.predict(x)

    def accuracy(self, model, x, y):
        return _accuracy(model.predict(x), y)


class TorchAdapter:
    name = "torch"
    fused = False

    def __init__(self, threads):
        try:
            import torch
        except ImportError as e:
            raise Unavailable("torch is not installed") from e
        self.torch = torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)

    def build(self, sizes, l2=0.0, batch=None):
        nn = self.torch.nn
        mods = []
        for li, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
            mods.append(nn.Linear(i, o))
            if li < len(sizes) - 2:
                mods.append(nn.ReLU())
        model = nn.Sequential(*mods)
        weights = [m.weight for m in model if isinstance(m, nn.Linear)]
        biases = [m.bias for m in model if isinstance(m, nn.Linear)]
        # Keras L2(l) adds 2*l*W to the gradient; torch's weight_decay adds wd*W.
        groups = [{"params": weights, "weight_decay": 2 * l2}, {"params": biases, "weight_decay": 0.0}]
        model.opt = self.torch.optim.Adam(groups, lr=1e-3, fused=self.fused)
        model.l2 = l2
        model.binary = sizes[-1] == 1
        return model

    def fit(self, model, x, y, batch, epochs, track_loss=False):
        torch = self.torch
        F = torch.nn.functional
        xt = torch.from_numpy(x)
        yt = torch.from_numpy(y.astype(np.float32) if model.binary else y)
        opt, n = model.opt, x.shape[0]
        times, losses = [], []
        for _ in range(epochs):
            t0 = time.perf_counter()
            perm = torch.randperm(n)
            total = 0.0
            for i in range(0, n, batch):
                idx = perm[i : i + batch]
                xb, yb = xt[idx], yt[idx]
                opt.zero_grad()
                out = model(xb)
                if model.binary:
                    loss = F.binary_cross_entropy_with_logits(out.squeeze(1), yb)
                else:
                    loss = F.cross_entropy(out, yb)
                loss.backward()
                opt.step()
                if track_loss:
                    total += loss.item() * idx.shape[0]
            times.append(time.perf_counter() - t0)
            if track_loss:
                with torch.no_grad():
                    pen = sum(float((p * p).sum()) for p in opt.param_groups[0]["params"])
                losses.append(total / n + model.l2 * pen)
        return times, losses

    def predictor(self, model, x):
        torch = self.torch
        model.eval()

        def run():
            with torch.inference_mode():
                out = model(torch.from_numpy(x))
                return torch.sigmoid(out) if model.binary else torch.softmax(out, dim=1)

        return run

    def accuracy(self, model, x, y):
        return _accuracy(self.predictor(model, x)().numpy(), y)


class TorchFusedAdapter(TorchAdapter):
    name = "torch-fused"
    fused = True


class SklearnAdapter:
    name = "sklearn"

    def __init__(self, threads):
        try:
            from sklearn.neural_network import MLPClassifier
        except ImportError as e:
            raise Unavailable("scikit-learn is not installed") from e
        self.MLPClassifier = MLPClassifier
        self._blas = NumpyAdapter(threads)  # the same OpenBLAS thread limit as numpy

    def build(self, sizes, l2=0.0, batch=200):
        # sklearn's penalty is 0.5*alpha*sum(W**2)/batch: alpha = 2*l2*batch matches Keras L2(l2).
        return self.MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]),
            activation="relu",
            solver="adam",
            alpha=2 * l2 * batch,
            batch_size=batch,
            learning_rate_init=1e-3,
            epsilon=1e-7,
            shuffle=True,
            random_state=0,
        )

    def fit(self, model, x, y, batch, epochs, track_loss=False):
        classes = np.unique(y)
        times, losses = [], []
        for _ in range(epochs):  # partial_fit with the adam solver is exactly one epoch
            t0 = time.perf_counter()
            model.partial_fit(x, y, classes=classes)
            times.append(time.perf_counter() - t0)
            losses.append(float(model.loss_))
        return times, losses

    def predictor(self, model, x):
        return lambda: model.predict_proba(x)

    def accuracy(self, model, x, y):
        return float(np.mean(model.predict(x) == y))


class DnnxAdapter:
    name = "dnnx"

    def __init__(self, threads):
        try:
            import dnnx
        except ImportError as e:
            raise Unavailable(f"dnnx is not importable: {e}") from e
        needed = ("Sequential", "Input", "layers", "optimizers", "utils")
        missing = [n for n in needed if not hasattr(dnnx, n)]
        if missing:
            raise Unavailable("dnnx has no " + ", ".join(f"dnnx.{n}" for n in missing) + " yet")
        self.dnnx = dnnx
        dnnx.set_num_threads(threads)
        dnnx.utils.set_random_seed(0)

    def build(self, sizes, l2=0.0, batch=None):
        dnnx = self.dnnx
        layers, optimizers = dnnx.layers, dnnx.optimizers
        reg = {}
        if l2:
            reg = {"kernel_regularizer": dnnx.regularizers.L2(l2)}
        stack = [dnnx.Input(shape=(sizes[0],))]
        stack += [layers.Dense(h, activation="relu", **reg) for h in sizes[1:-1]]
        binary = sizes[-1] == 1
        stack.append(layers.Dense(sizes[-1], activation="sigmoid" if binary else "softmax", **reg))
        model = dnnx.Sequential(stack)
        model.compile(
            optimizer=optimizers.Adam(learning_rate=1e-3),
            loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model._bench_binary = binary
        return model

    def fit(self, model, x, y, batch, epochs, track_loss=False):
        if model._bench_binary:
            y = y.astype(np.float32).reshape(-1, 1)
        times, losses = [], []
        # One fit call per epoch: the call's fixed cost (argument checks) is part of what a
        # user pays, and it is tiny next to an epoch of the sizes measured here.
        for _ in range(epochs):
            t0 = time.perf_counter()
            hist = model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
            times.append(time.perf_counter() - t0)
            losses.append(float(hist.history["loss"][-1]))
        return times, losses

    def predictor(self, model, x):
        return lambda: model.predict_on_batch(x)

    def accuracy(self, model, x, y):
        return _accuracy(np.asarray(model.predict(x, verbose=0)), y)


class TorchCompileAdapter(TorchAdapter):
    """The torch loop with the model under ``torch.compile`` (inductor) and fused Adam.

    Each batch shape compiles once, in the warm-up epoch (a partial last batch is a second
    shape); the timed epochs reuse the compiled graphs."""

    name = "torch-compile"
    fused = True

    def build(self, sizes, l2=0.0, batch=None):
        model = super().build(sizes, l2=l2, batch=batch)
        compiled = self.torch.compile(model, dynamic=False)
        compiled.opt, compiled.l2, compiled.binary = model.opt, model.l2, model.binary
        return compiled


class JaxAdapter:
    """A jitted JAX training step (forward, loss, grad, Adam in one XLA program), driven by a
    Python loop over the batches of a host-side permutation: the usual JAX training loop.

    Adam is written out (lr 1e-3, beta 0.9/0.999, eps 1e-7 as Keras) so no optax is needed.
    Threads: the driver restricts the process to ``threads`` CPUs (XLA sizes its pool from them)."""

    name = "jax"
    scan = False

    def __init__(self, threads):
        try:
            import jax
            import jax.numpy as jnp
        except ImportError as e:
            raise Unavailable("jax is not installed") from e
        self.jax, self.jnp = jax, jnp
        self._steps = {}

    def build(self, sizes, l2=0.0, batch=None):
        jax, jnp = self.jax, self.jnp
        rng = np.random.default_rng(0)
        params = []
        for i, o in zip(sizes[:-1], sizes[1:]):
            limit = math.sqrt(6.0 / (i + o))
            params.append((jnp.asarray(rng.uniform(-limit, limit, (i, o)).astype(np.float32)),
                           jnp.zeros((o,), jnp.float32)))
        zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731
        model = {"params": params, "m": zeros(), "v": zeros(), "t": jnp.zeros((), jnp.int32),
                 "binary": sizes[-1] == 1, "l2": l2, "key": 0}
        return model

    def _forward(self, params, x):
        jnp = self.jnp
        for li, (w, b) in enumerate(params):
            x = x @ w + b
            if li < len(params) - 1:
                x = jnp.maximum(x, 0)
        return x

    def _step_fn(self, binary, l2):
        jax, jnp = self.jax, self.jnp

        def loss_fn(params, xb, yb):
            z = self._forward(params, xb)
            if binary:
                z = z[:, 0]
                loss = jnp.mean(jnp.maximum(z, 0) - z * yb + jnp.log1p(jnp.exp(-jnp.abs(z))))
            else:
                loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), yb[:, None], axis=1))
            if l2:
                loss = loss + l2 * sum(jnp.sum(w * w) for w, _ in params)
            return loss

        def step(state, x, y, idx):
            params, m, v, t = state
            xb, yb = x[idx], y[idx]
            loss, g = jax.value_and_grad(loss_fn)(params, xb, yb)
            t = t + 1
            b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-7
            m = jax.tree_util.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
            v = jax.tree_util.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
            tf = t.astype(jnp.float32)
            lr_t = lr * jnp.sqrt(1 - b2**tf) / (1 - b1**tf)
            params = jax.tree_util.tree_map(lambda p_, m_, v_: p_ - lr_t * m_ / (jnp.sqrt(v_) + eps),
                                            params, m, v)
            return (params, m, v, t), loss

        return step

    def _compiled(self, model, batch, n):
        key = (model["binary"], model["l2"], batch, n)
        if key not in self._steps:
            jax, jnp = self.jax, self.jnp
            step = self._step_fn(model["binary"], model["l2"])
            if not self.scan:
                self._steps[key] = jax.jit(step, donate_argnums=0)
            else:
                full = n // batch

                def epoch(state, x, y, perm):
                    def body(st, idx):
                        return step(st, x, y, idx)

                    state, losses = jax.lax.scan(body, state, perm[: full * batch].reshape(full, batch))
                    total = jnp.sum(losses) * batch
                    if n % batch:
                        state, last = step(state, x, y, perm[full * batch:])
                        total = total + last * (n % batch)
                    return state, total / n

                self._steps[key] = jax.jit(epoch, donate_argnums=0)
        return self._steps[key]

    def fit(self, model, x, y, batch, epochs, track_loss=False):
        jax, jnp = self.jax, self.jnp
        if "x" not in model or model["x_src"] is not x:
            model["x"], model["x_src"] = jnp.asarray(x), x
            model["y"] = jnp.asarray(y.astype(np.float32) if model["binary"] else y)
        xj, yj, n = model["x"], model["y"], x.shape[0]
        fn = self._compiled(model, batch, n)
        state = (model["params"], model["m"], model["v"], model["t"])
        rng = model.setdefault("rng", np.random.default_rng(0))
        times, losses = [], []
        for _ in range(epochs):
            t0 = time.perf_counter()
            perm = jnp.asarray(rng.permutation(n).astype(np.int32))
            if self.scan:
                state, loss = fn(state, xj, yj, perm)
            else:
                total = 0.0
                for i in range(0, n, batch):
                    state, loss = fn(state, xj, yj, perm[i : i + batch])
                    if track_loss:
                        total += float(loss) * min(batch, n - i)
                loss = total / n
            jax.block_until_ready(state)
            times.append(time.perf_counter() - t0)
            losses.append(float(loss))
        model["params"], model["m"], model["v"], model["t"] = state
        return times, losses

    def predictor(self, model, x):
        jax, jnp = self.jax, self.jnp
        binary = model["binary"]
        fwd = jax.jit(lambda p, xb: jax.nn.sigmoid(self._forward(p, xb)) if binary
                      else jax.nn.softmax(self._forward(p, xb)))
        params = model["params"]
        return lambda: jax.block_until_ready(fwd(params, x))

    def accuracy(self, model, x, y):
        return _accuracy(np.asarray(self.predictor(model, x)()), y)


class JaxScanAdapter(JaxAdapter):
    """The whole epoch in one ``jit``: ``lax.scan`` over the batches of a permutation (the
    remainder batch as one extra step inside the same program)."""

    name = "jax-scan"
    scan = True


class KerasJaxAdapter:
    """Keras 3 on the JAX backend (``KERAS_BACKEND=jax``, set by the driver): Sequential,
    Adam(1e-3), ``fit`` with jit_compile; epoch times from a callback inside one fit call."""

    name = "keras-jax"

    def __init__(self, threads):
        import os

        os.environ["KERAS_BACKEND"] = "jax"
        try:
            import keras
        except ImportError as e:
            raise Unavailable("keras is not installed") from e
        if keras.backend.backend() != "jax":
            raise Unavailable(f"keras runs on {keras.backend.backend()}, not jax")
        self.keras = keras
        keras.utils.set_random_seed(0)

    def build(self, sizes, l2=0.0, batch=None):
        keras = self.keras
        reg = keras.regularizers.L2(l2) if l2 else None
        stack = [keras.Input(shape=(sizes[0],))]
        stack += [keras.layers.Dense(h, activation="relu", kernel_regularizer=reg) for h in sizes[1:-1]]
        binary = sizes[-1] == 1
        stack.append(keras.layers.Dense(sizes[-1], activation="sigmoid" if binary else "softmax",
                                        kernel_regularizer=reg))
        model = keras.Sequential(stack)
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy")
        model._bench_binary = binary
        return model

    def fit(self, model, x, y, batch, epochs, track_loss=False):
        keras = self.keras
        if model._bench_binary:
            y = y.astype(np.float32).reshape(-1, 1)
        times = []

        class Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                times.append(time.perf_counter() - self.t0)

        hist = model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0, shuffle=True,
                         callbacks=[Timer()])
        return times, [float(v) for v in hist.history["loss"]]

    def predictor(self, model, x):
        return lambda: model.predict_on_batch(x)

    def accuracy(self, model, x, y):
        return _accuracy(np.asarray(model.predict(x, verbose=0)), y)


class OrtAdapter:
    """onnxruntime serving the same MLP written as an ONNX graph with ``onnx.helper``
    (Gemm + Relu per layer, Softmax or Sigmoid at the end); inference only."""

    name = "ort"

    def __init__(self, threads):
        try:
            import onnx
            import onnxruntime
        except ImportError as e:
            raise Unavailable("onnx and onnxruntime are not installed") from e
        self.onnx, self.ort, self.threads = onnx, onnxruntime, threads

    def build(self, sizes, l2=0.0, batch=None):
        from onnx import TensorProto, helper, numpy_helper

        rng = np.random.default_rng(0)
        nodes, inits, prev = [], [], "x"
        for li, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
            limit = math.sqrt(6.0 / (i + o))
            inits.append(numpy_helper.from_array(rng.uniform(-limit, limit, (i, o)).astype(np.float32), f"w{li}"))
            inits.append(numpy_helper.from_array(np.zeros(o, np.float32), f"b{li}"))
            nodes.append(helper.make_node("Gemm", [prev, f"w{li}", f"b{li}"], [f"z{li}"]))
            prev = f"z{li}"
            if li < len(sizes) - 2:
                nodes.append(helper.make_node("Relu", [prev], [f"a{li}"]))
                prev = f"a{li}"
        last = "Sigmoid" if sizes[-1] == 1 else "Softmax"
        nodes.append(helper.make_node(last, [prev], ["y"], **({} if last == "Sigmoid" else {"axis": 1})))
        graph = helper.make_graph(
            nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", sizes[0]])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", sizes[-1]])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        opts = self.ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return self.ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def fit(self, model, x, y, batch, epochs, track_loss=False):
        raise Unavailable("onnxruntime is measured for inference only")

    def predictor(self, model, x):
        return lambda: model.run(None, {"x": x})[0]

    def accuracy(self, model, x, y):
        return _accuracy(self.predictor(model, x)(), y)


ADAPTERS = {a.name: a for a in (DnnxAdapter, TorchAdapter, TorchFusedAdapter, TorchCompileAdapter,
                                JaxAdapter, JaxScanAdapter, KerasJaxAdapter, OrtAdapter,
                                SklearnAdapter, NumpyAdapter)}


def _accuracy(proba, y):
    proba = np.asarray(proba)
    pred = (proba.ravel() > 0.5).astype(np.int64) if proba.shape[1] == 1 else proba.argmax(axis=1)
    return float(np.mean(pred == y))


# --------------------------------------------------------------------------- tasks


def maxrss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def task_probe(ad, p):
    return {}


def task_train(ad, p):
    """Train ``sizes`` on generated data at each batch size: warm-up epoch, then timed epochs."""
    x, y = make_data(p)
    base = maxrss_mib()  # after imports and data creation
    out = {"rss_base_mib": base, "cases": []}
    for batch, epochs in zip(p["batches"], p["epochs"]):
        model = ad.build(p["sizes"], batch=batch)
        ad.fit(model, x, y, batch, 1)  # warm-up epoch
        times, _ = ad.fit(model, x, y, batch, epochs)
        out["cases"].append({"batch": batch, "epoch_s": times, "n": x.shape[0]})
        del model
    out["rss_peak_delta_mib"] = maxrss_mib() - base
    return out


def task_digits(ad, p):
    """Digits fit with sklearn's defaults; others reproduce sklearn's stopping rule.

    sklearn's MLPClassifier() default: hidden (100,), relu, adam lr 1e-3, batch min(200, n),
    L2 alpha 1e-4, max_iter 200, stop once the training loss fails to improve by tol=1e-4 for
    more than n_iter_no_change=10 epochs. Time covers model construction plus the whole fit.
    """
    xtr, ytr, xte, yte = load_digits_split()
    batch = min(200, xtr.shape[0])
    alpha, tol, patience, max_iter = 1e-4, 1e-4, 10, p.get("max_iter", 200)
    sizes = [xtr.shape[1], 100, 10]
    l2 = 0.5 * alpha / batch  # the Keras-style L2 factor equal to sklearn's alpha
    # warm-up: a throwaway model, one epoch
    ad.fit(ad.build(sizes, l2=l2, batch=batch), xtr, ytr, batch, 1)
    t0 = time.perf_counter()
    model = ad.build(sizes, l2=l2, batch=batch)
    if ad.name == "sklearn":
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        model.set_params(max_iter=max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(xtr, ytr)
        epochs = int(model.n_iter_)
    else:
        best, bad, epochs = math.inf, 0, 0
        while epochs < max_iter:
            _, (loss,) = ad.fit(model, xtr, ytr, batch, 1, track_loss=True)
            epochs += 1
            bad = bad + 1 if loss > best - tol else 0
            best = min(best, loss)
            if bad > patience:
                break
    fit_s = time.perf_counter() - t0
    return {"fit_s": fit_s, "epochs": epochs, "test_accuracy": ad.accuracy(model, xte, yte)}


def task_predict(ad, p):
    """Latency of one predict-one-batch call at each batch size (median of timed groups)."""
    x, y = make_data(p)
    model = ad.build(p["sizes"], batch=max(p["batches"]))
    if ad.name == "sklearn":  # needs one fit to exist; its size does not matter
        ad.fit(model, x[:256], y[:256], 256, 1)
    out = {"cases": []}
    for b in p["batches"]:
        xb = np.ascontiguousarray(x[:b])
        run = ad.predictor(model, xb)
        for _ in range(p.get("warmup_calls", 20)):
            run()
        # calibrate a group to take about group_s, then time `groups` groups
        calls, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(calls):
                run()
            t = time.perf_counter() - t0
            if t >= p.get("group_s", 0.02) or calls >= 1 << 16:
                break
            calls *= 2
        per_call = []
        for _ in range(p.get("groups", 15)):
            t0 = time.perf_counter()
            for _ in range(calls):
                run()
            per_call.append((time.perf_counter() - t0) / calls)
        out["cases"].append({"batch": b, "call_s": per_call})
    return out


def task_gemm(ad, p):
    """Best-of-N GFLOP/s of float32 C = A @ B (numpy.matmul or dnnx.matmul) for each shape."""
    if ad.name == "numpy":
        mm = np.matmul
    elif ad.name == "dnnx":
        mm = ad.dnnx.matmul
    else:
        raise Unavailable(f"no gemm probe for {ad.name}")
    rng = np.random.default_rng(0)
    out = {"cases": []}
    for m, n, k in p["shapes"]:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        c = np.empty((m, n), np.float32)
        mm(a, b, out=c)
        best = math.inf
        reps = max(3, int(p.get("min_flops", 2e10) // (2 * m * n * k)))
        for _ in range(min(reps, p.get("max_reps", 50))):
            t0 = time.perf_counter()
            mm(a, b, out=c)
            best = min(best, time.perf_counter() - t0)
        out["cases"].append({"shape": [m, n, k], "gflops": 2 * m * n * k / best / 1e9})
    return out


def task_weights(ad, p):
    """sha256 of what seeded fits produce: trained weights, per-epoch losses, predictions.

    ``bench/before_after.py`` runs this under two dnnx builds; equal digests mean bitwise-equal
    results. Each case re-seeds dnnx (``set_random_seed``) before building its model.
    """
    import hashlib

    if ad.name != "dnnx":
        raise Unavailable("the weights task is for dnnx only")
    out = {"cases": []}
    for case in p["cases"]:
        ad.dnnx.utils.set_random_seed(case.get("seed", 0))
        x, y = make_data(case)
        model = ad.build(case["sizes"], l2=case.get("l2", 0.0))
        _, losses = ad.fit(model, x, y, case["batch"], case["epochs"])
        h = hashlib.sha256()
        for w in model.get_weights():
            h.update(np.ascontiguousarray(w).tobytes())
        h.update(np.asarray(losses, np.float64).tobytes())
        h.update(np.ascontiguousarray(ad.predictor(model, x[:64])()).tobytes())
        out["cases"].append({"name": case["name"], "sha256": h.hexdigest(), "losses": losses})
    return out


class _DnnxGemmOnly(DnnxAdapter):
    """The gemm task needs only dnnx.matmul, which exists before the training API."""

    def __init__(self, threads):
        try:
            import dnnx
        except ImportError as e:
            raise Unavailable(f"dnnx is not importable: {e}") from e
        self.dnnx = dnnx
        dnnx.set_num_threads(threads)


TASKS = {
    "probe": task_probe,
    "train": task_train,
    "digits": task_digits,
    "predict": task_predict,
    "gemm": task_gemm,
    "weights": task_weights,
}


def main(argv):
    framework, task, params = argv[1], argv[2], json.loads(argv[3])
    result = {"framework": framework, "task": task, "threads": params.get("threads")}
    try:
        cls = ADAPTERS[framework]
        if task == "gemm" and framework == "dnnx":
            cls = _DnnxGemmOnly
        ad = cls(params.get("threads", 1))
        result.update(TASKS[task](ad, params))
        result["status"] = "ok"
    except Unavailable as e:
        result.update(status="unavailable", reason=str(e))
    except Exception as e:  # reported, not raised: the driver prints n/a and the reason
        result.update(status="error", reason=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
