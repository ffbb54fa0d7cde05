"""Graph rewrites before the per-node import: multi-node forms of one dnnx op become one
node (in the ``dnnx`` domain when ONNX has no op for it), and skl2onnx's classifier tail
becomes the classes of a ``Classifier``.

Each rewrite replaces nodes only when every intermediate tensor has no other consumer and
is no graph output, so what it removes was used by the pattern alone.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional

import numpy as np

from . import _common


class _Graph:
    def __init__(self, nodes, outputs, consts):
        self.nodes = list(nodes)
        self.outputs = list(outputs)
        self.consts = consts
        self.index()

    def index(self):
        self.producer = {o: n for n in self.nodes for o in n.output if o}
        self.users: Dict[str, list] = {}
        for n in self.nodes:
            for i in dict.fromkeys(n.input):  # a node using a tensor twice (Mul(d, d)) is one user
                if i:
                    self.users.setdefault(i, []).append(n)

    def only_user(self, name: str):
        """The one node that uses ``name``, if it has exactly one and is not a graph output."""
        users = self.users.get(name, [])
        return users[0] if len(users) == 1 and name not in self.outputs else None

    def made_by(self, name: str, op: str, single_use: bool = True):
        n = self.producer.get(name)
        if n is None or n.op_type != op or n.domain:
            return None
        if single_use and self.only_user(name) is None:
            return None
        return n

    def const(self, name: str) -> Optional[np.ndarray]:
        if name in self.consts:
            return self.consts[name]
        n = self.producer.get(name)
        if n is not None and n.op_type == "Constant":
            from onnx import numpy_helper
            for a in n.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
                if a.name == "value_float":
                    return np.array(a.f)
        return None

    def is_scalar(self, name: str, value: float, rel=1e-6) -> bool:
        c = self.const(name)
        return c is not None and c.size == 1 and c.dtype.kind == "f" and math.isclose(float(c.reshape(())), value,
                                                                                       rel_tol=rel)

    def other(self, node, name: str) -> Optional[str]:
        """The input of a two-input node that is not ``name``."""
        a, b = node.input[0], node.input[1]
        return b if a == name else a if b == name else None

    def replace(self, remove: list, new) -> None:
        """Drop ``remove`` and put ``new`` where the last of them was: its inputs are made
        before the first removed node, its output is the last one's."""
        ids = {id(n) for n in remove}
        last = max(i for i, n in enumerate(self.nodes) if id(n) in ids)
        pos = last - sum(1 for n in self.nodes[:last] if id(n) in ids)
        self.nodes = [n for n in self.nodes if id(n) not in ids]
        self.nodes.insert(pos, new)
        self.index()


def _node(op: str, inputs, output: str, name: str, domain: str = "", **attrs):
    from onnx import helper
    return helper.make_node(op, list(inputs), [output], name=name, domain=domain or None, **attrs)


# -- one-activation patterns ---------------------------------------------------------------------
# A pattern is a tree: ("Op", arg, ...) a node, "X" the tensor the activation applies to
# (every "X" the same tensor), ("c", value) a scalar constant, ("c", "key") any scalar
# constant (bound to key). Add, Mul, Max and Min match either input order. Every node of a
# match but the root must have the match as its only user.
_COMMUTATIVE = {"Add", "Mul", "Max", "Min"}


def _match(g: _Graph, name: str, pat, binds: dict, root: bool = False) -> bool:
    if pat == "X":
        if binds.setdefault("X", name) != name:
            return False
        return True
    if pat[0] == "c":
        c = g.const(name)
        if c is None or c.size != 1 or c.dtype.kind != "f":
            return False
        v = float(c.reshape(()))
        if isinstance(pat[1], str):
            binds[pat[1]] = v
            return True
        return math.isclose(v, pat[1], rel_tol=1e-6)
    n = g.producer.get(name)
    if n is None or n.op_type != pat[0] or n.domain or len(n.input) != len(pat) - 1:
        return False
    if not root and g.only_user(name) is None:
        return False
    orders = [list(n.input)]
    if pat[0] in _COMMUTATIVE and len(n.input) == 2:
        orders.append(list(reversed(n.input)))
    for ins in orders:
        trial = dict(binds)
        trial["_nodes"] = list(binds.get("_nodes", [])) + [n]
        if all(_match(g, i, p, trial) for i, p in zip(ins, pat[1:])):
            binds.clear()
            binds.update(trial)
            return True
    return False


_NEG_PART = ("Neg", ("Relu", ("Neg", "X")))  # min(x, 0): dnnx's double export
_ELU = ("Add", ("Relu", "X"), ("Mul", ("Sub", ("Exp", _NEG_PART), ("c", 1.0)), ("c", "alpha")))
_SQRT2 = math.sqrt(2)


def _erf_plus_one(scaled):
    return ("Add", ("Erf", scaled), ("c", 1.0))


_GELU = [shape(_erf_plus_one(scaled)) for scaled in (("Div", "X", ("c", _SQRT2)), ("Mul", "X", ("c", 1 / _SQRT2)))
         for shape in (lambda e: ("Mul", ("Mul", "X", ("c", 0.5)), e),      # dnnx's export
                       lambda e: ("Mul", ("Mul", "X", e), ("c", 0.5)),      # PyTorch's
                       lambda e: ("Mul", "X", ("Mul", e, ("c", 0.5))))]
_SELU_ALPHA, _SELU_GAMMA = 1.6732632423543772, 1.0507009873554805


def _selu_ok(b):
    return math.isclose(b["alpha"], _SELU_ALPHA, rel_tol=1e-6) and math.isclose(b["scale"], _SELU_GAMMA, rel_tol=1e-6)


# (pattern, op, domain, attributes from the bindings, condition); tried in this order
_ACTIVATION_PATTERNS = [
    (("Mul", _ELU, ("c", "scale")), "Selu", "", lambda b: {}, _selu_ok),
    (_ELU, "Elu", "", lambda b: {"alpha": b["alpha"]}, None),
    (("Add", ("Relu", "X"), ("Mul", _NEG_PART, ("c", "alpha"))), "LeakyRelu", "", lambda b: {"alpha": b["alpha"]},
     None),
    (("Min", ("Max", ("Add", ("Div", "X", ("c", 6.0)), ("c", 0.5)), ("c", 0.0)), ("c", 1.0)), "HardSigmoid", "",
     lambda b: {"alpha": 1 / 6, "beta": 0.5}, None),
    (("Add", ("Relu", "X"), ("Log", ("Add", ("Exp", ("Neg", ("Abs", "X"))), ("c", 1.0)))), "Softplus", "",
     lambda b: {}, None),
    (("Div", "X", ("Add", ("Abs", "X"), ("c", 1.0))), "Softsign", "", lambda b: {}, None),
    (("Mul", "X", ("Sigmoid", "X")), "silu", "dnnx", lambda b: {}, None),
] + [(p, "gelu", "dnnx", lambda b: {}, None) for p in _GELU]


def _activation_rewrite(g: _Graph) -> bool:
    for pat, op, domain, attrs, ok in _ACTIVATION_PATTERNS:
        for n in g.nodes:
            if n.op_type != pat[0] or n.domain:
                continue
            b: dict = {}
            if _match(g, n.output[0], pat, b, root=True) and (ok is None or ok(b)):
                g.replace(b["_nodes"], _node(op, [b["X"]], n.output[0], n.name, domain, **attrs(b)))
                return True
    return False


def _axes(g: _Graph, n) -> Optional[list]:
    if len(n.input) > 1 and n.input[1]:
        c = g.const(n.input[1])
        return None if c is None else [int(a) for a in c.reshape(-1)]
    for a in n.attribute:
        if a.name == "axes":
            return list(a.ints)
    return None


def _layer_norm(g: _Graph, n) -> bool:
    """ReduceMean / Sub / (Mul or Pow) / ReduceMean / Add eps / Sqrt / Div [/ Mul gamma] [/ Add beta]
    over the last axis -> dnnx.layer_normalization(x, gamma, beta, epsilon)."""
    axes = _axes(g, n)
    if n.op_type != "ReduceMean" or n.domain or axes is None or len(axes) != 1:
        return False
    x = n.input[0]
    subs = [u for u in g.users.get(n.output[0], []) if u.op_type == "Sub" and list(u.input) == [x, n.output[0]]]
    if len(subs) != 1 or len(g.users.get(n.output[0], [])) != 1:
        return False
    sub = subs[0]
    d = sub.output[0]
    users = g.users.get(d, [])
    if len(users) != 2 or d in g.outputs:
        return False
    sq = next((u for u in users if u.op_type == "Mul" and list(u.input) == [d, d]
               or u.op_type == "Pow" and u.input[0] == d and g.is_scalar(u.input[1], 2.0)), None)
    div = next((u for u in users if u.op_type == "Div" and u.input[0] == d), None)
    if sq is None or div is None:
        return False
    var = g.only_user(sq.output[0])
    if var is None or var.op_type != "ReduceMean" or _axes(g, var) != axes:
        return False
    add = g.only_user(var.output[0])
    if add is None or add.op_type != "Add":
        return False
    eps = g.const(g.other(add, var.output[0]) or "")
    sqrt = g.only_user(add.output[0])
    if eps is None or eps.size != 1 or sqrt is None or sqrt.op_type != "Sqrt" or g.only_user(sqrt.output[0]) is not div:
        return False
    used, out, gamma, beta = [n, sub, sq, var, add, sqrt, div], div.output[0], "", ""
    m = g.only_user(out)
    if m is not None and m.op_type == "Mul" and g.const(g.other(m, out)) is not None:
        gamma, out = g.other(m, out), m.output[0]
        used.append(m)
    a = g.only_user(out)
    if a is not None and a.op_type == "Add" and g.const(g.other(a, out)) is not None:
        beta, out = g.other(a, out), a.output[0]
        used.append(a)
    g.replace(used, _node("layer_normalization", [x, gamma, beta], out, used[-1].name, "dnnx",
                          epsilon=float(eps.reshape(())), axis=axes[0]))
    return True


def rewrite(nodes, outputs, consts) -> list:
    """Apply every rewrite until none matches."""
    g = _Graph(nodes, outputs, consts)
    while _activation_rewrite(g) or any(_layer_norm(g, n) for n in list(g.nodes)):
        pass
    return g.nodes


# -- classifier tail ---------------------------------------------------------------------------
def _attr(n, key, default=None):
    from onnx import helper
    for a in n.attribute:
        if a.name == key:
            return helper.get_attribute_value(a)
    return default


def _labels(values) -> np.ndarray:
    values = list(values)
    if values and isinstance(values[0], bytes):
        return np.array([v.decode() for v in values])
    return np.array(values)


def strip_classifier_tail(nodes, outputs, consts, opset: int):
    """(nodes, outputs, classes or None, binary): skl2onnx's label tail
    (ArgMax -> ArrayFeatureExtractor -> Reshape/Cast) and ZipMap removed, the probabilities
    tensor made an output; its binary form Concat([Sub(1, p), p]) replaced by p."""
    g = _Graph(nodes, outputs, consts)
    prob, classes = None, None

    def agree(name, labels, node):
        nonlocal prob, classes
        if prob is not None and name != prob or classes is not None and labels.tolist() != classes.tolist():
            raise _fail(node, opset, "the label outputs disagree on the probabilities or the classes")
        prob, classes = name, labels

    tail = set()
    for n in g.nodes:
        if n.domain == _common.ML_DOMAIN and n.op_type == "ZipMap":
            labels = _attr(n, "classlabels_int64s") or _attr(n, "classlabels_strings")
            if not labels:
                raise _fail(n, opset, "a ZipMap without class labels")
            agree(n.input[0], _labels(labels), n)
            tail.add(n.output[0])
        elif n.domain == _common.ML_DOMAIN and n.op_type == "ArrayFeatureExtractor":
            arg = g.producer.get(n.input[1])
            labels = g.const(n.input[0])
            if arg is None or arg.op_type != "ArgMax" or labels is None or _attr(arg, "axis", 0) not in (1, -1) \
                    or _attr(arg, "select_last_index", 0):
                raise _fail(n, opset, "only the label tail ArrayFeatureExtractor(classes, ArgMax(probabilities, "
                                      "axis=1)) is supported")
            agree(arg.input[0], _labels(labels.reshape(-1).tolist()), n)
            tail.add(arg.output[0])
        elif not n.domain and n.op_type == "Gather":  # dnnx's label tail: Gather(classes, ArgMax(p))
            arg = g.producer.get(n.input[1])
            labels = g.const(n.input[0])
            if arg is not None and arg.op_type == "ArgMax" and labels is not None and labels.ndim == 1 \
                    and _attr(arg, "axis", 0) in (1, -1) and not _attr(arg, "select_last_index", 0):
                agree(arg.input[0], _labels(labels.tolist()), n)
                tail.add(arg.output[0])
    if prob is None:
        return g.nodes, g.outputs, None, False
    # everything computed from the label tail goes (Reshape, Cast, ...)
    removed = []
    for n in g.nodes:  # graph order: a node's inputs are produced before it
        if n.op_type in ("ZipMap", "ArgMax") and n.output[0] in tail or any(i in tail for i in n.input):
            tail.update(o for o in n.output if o)
            removed.append(n)
    keep = [n for n in g.nodes if all(n is not r for r in removed)]
    outs = [o for o in g.outputs if o not in tail]
    if prob not in outs:
        outs.insert(0, prob)
    g = _Graph(keep, outs, consts)
    binary = False
    cat = g.producer.get(prob)
    if cat is not None and cat.op_type == "Concat" and len(cat.input) == 2 and _attr(cat, "axis") in (1, -1):
        neg, p = cat.input
        sub = g.made_by(neg, "Sub")
        if sub is not None and sub.input[1] == p and g.is_scalar(sub.input[0], 1.0) and len(classes) == 2:
            g = _Graph([n for n in g.nodes if n is not sub and n is not cat], [p if o == prob else o for o in outs],
                       consts)
            binary = True
    return g.nodes, g.outputs, classes, binary


def _fail(node, opset, why):
    from ._import import UnsupportedGraph
    return UnsupportedGraph(f"dnnx.onnx.load: node {node.name or node.output[0]!r} (op {node.op_type}, "
                            f"{node.domain or 'ai.onnx'} opset {opset}) is not supported: {why}")
