"""Plain float64 NumPy references for the network core (dnnx's micrograd).

Everything here is written for clarity, not speed, straight from the Keras 3 definitions.
"""

import math

import numpy as np

EPS = 1e-7
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# ---- activations -------------------------------------------------------------------
def _erf(x):
    return np.vectorize(math.erf)(x)


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def activation(name, x, alpha=None):
    x = np.asarray(x, np.float64)
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        a = 0.2 if alpha is None else alpha
        return np.where(x >= 0, x, a * x)
    if name == "elu":
        a = 1.0 if alpha is None else alpha
        return np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))
    if name == "gelu":
        return 0.5 * x * (1 + _erf(x / np.sqrt(2)))
    if name in ("silu", "swish"):
        return x * sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return sigmoid(x)
    if name == "hard_sigmoid":
        return np.clip(x + 3, 0, 6) / 6
    if name == "softplus":
        return np.logaddexp(0, x)
    if name == "softsign":
        return x / (1 + np.abs(x))
    if name == "softmax":
        return softmax(x)
    if name == "log_softmax":
        m = x.max(axis=-1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    raise ValueError(name)


# ---- layers --------------------------------------------------------------------------
def dense_forward(x, w, b, act="linear"):
    z = x @ w + (0 if b is None else b)
    return z, activation(act, z)


def dense_backward(x, w, dz):
    """Given dL/dz: (dW, db, dX)."""
    return x.T @ dz, dz.sum(axis=0), dz @ w.T


def batch_norm_train(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta, mean, var


def batch_norm_infer(x, gamma, beta, moving_mean, moving_var, eps=1e-3):
    return gamma * (x - moving_mean) / np.sqrt(moving_var + eps) + beta


def layer_norm(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


# ---- losses (per-sample values; reduction is sum(w * l) / n) ----------------------------
def per_sample_loss(name, y, p, from_logits=False, delta=1.0):
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    if name == "mean_squared_error":
        return ((p - y) ** 2).mean(axis=-1)
    if name == "mean_absolute_error":
        return np.abs(p - y).mean(axis=-1)
    if name == "huber":
        e = np.abs(p - y)
        return np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2).mean(axis=-1)
    if name == "binary_crossentropy":
        if from_logits:
            return (np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))).mean(axis=-1)
        q = np.clip(p, EPS, 1 - EPS)
        return -(y * np.log(q) + (1 - y) * np.log(1 - q)).mean(axis=-1)
    if name == "poisson":  # Keras: y_pred - y_true log(y_pred + eps); from_logits: p is the log rate
        if from_logits:
            return (np.exp(p) - y * p).mean(axis=-1)
        return (p - y * np.log(p + EPS)).mean(axis=-1)
    if name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
        if name == "sparse_categorical_crossentropy":
            y = np.eye(p.shape[-1])[y[:, 0].astype(int)]
        if from_logits:
            return -(y * activation("log_softmax", p)).sum(axis=-1)
        q = np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
        return -(y * np.log(q)).sum(axis=-1)
    raise ValueError(name)


def loss(name, y, p, sample_weight=None, from_logits=False, delta=1.0):
    ls = per_sample_loss(name, y, p, from_logits, delta)
    w = np.ones(len(ls)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    return float((w * ls).sum() / len(ls))


# ---- optimizers: one step on a list of (w, g) with a state dict ---------------------------
def clip_grads(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    if clipnorm:
        return [g * clipnorm / max(np.sqrt((g**2).sum()), clipnorm) for g in grads]
    if global_clipnorm:
        norm = np.sqrt(sum((g**2).sum() for g in grads))
        return [g * global_clipnorm / max(norm, global_clipnorm) for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def optimizer_step(name, ws, gs, state, lr, t, **h):
    """Keras 3 update of every (w, g) in place; t = iterations + 1; state persists."""
    gs = clip_grads(gs, h.get("clipnorm"), h.get("clipvalue"), h.get("global_clipnorm"))
    wd = h.get("weight_decay") or (0.004 if name == "adamw" and "weight_decay" not in h else 0.0)
    b1, b2, eps = h.get("beta_1", 0.9), h.get("beta_2", 0.999), h.get("epsilon", 1e-7)
    if name == "nadam":
        u = lambda s: b1 * (1 - 0.5 * 0.96 ** (0.004 * s))  # noqa: E731
        state["u_product"] = state.get("u_product", 1.0) * u(t)
    for i, (w, g) in enumerate(zip(ws, gs)):
        s = state.setdefault(i, {})
        if wd:
            w -= w * wd * lr
        if name == "sgd":
            mom = h.get("momentum", 0.0)
            if mom:
                m = s.setdefault("m", np.zeros_like(w))
                m[...] = m * mom - g * lr
                w += m * mom - g * lr if h.get("nesterov") else m
            else:
                w -= lr * g
        elif name in ("adam", "adamw"):
            m = s.setdefault("m", np.zeros_like(w))
            v = s.setdefault("v", np.zeros_like(w))
            alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            if h.get("amsgrad"):
                vh = s.setdefault("vh", np.zeros_like(w))
                vh[...] = np.maximum(vh, v)
                w -= alpha * m / (np.sqrt(vh) + eps)
            else:
                w -= alpha * m / (np.sqrt(v) + eps)
        elif name == "rmsprop":
            rho, mom = h.get("rho", 0.9), h.get("momentum", 0.0)
            v = s.setdefault("v", np.zeros_like(w))
            v[...] = rho * v + (1 - rho) * g * g
            if h.get("centered"):
                a = s.setdefault("a", np.zeros_like(w))
                a[...] = rho * a + (1 - rho) * g
                denom = v - a * a + eps
            else:
                denom = v + eps
            inc = lr * g / np.sqrt(denom)
            if mom > 0:
                mo = s.setdefault("mo", np.zeros_like(w))
                mo[...] = mom * mo + inc
                w -= mo
            else:
                w -= inc
        elif name == "adagrad":
            acc = s.setdefault("acc", np.full_like(w, h.get("initial_accumulator_value", 0.1)))
            acc += g * g
            w -= lr * g / np.sqrt(acc + eps)
        elif name == "nadam":
            m = s.setdefault("m", np.zeros_like(w))
            v = s.setdefault("v", np.zeros_like(w))
            ut, ut1 = u(t), u(t + 1)
            up = state["u_product"]
            m += (g - m) * (1 - b1)
            v += (g * g - v) * (1 - b2)
            m_hat = ut1 * m / (1 - up * ut1) + (1 - ut) * g / (1 - up)
            v_hat = v / (1 - b2**t)
            w -= lr * m_hat / (np.sqrt(v_hat) + eps)
        else:
            raise ValueError(name)
