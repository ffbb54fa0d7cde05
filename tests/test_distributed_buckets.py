"""The bucketed gradient allreduce: the bucket plan, the core's per-layer gradient callback
(in backward, each layer's gradient final, penalty included), and the same bits with and
without overlap for any bucket size (the MPI runs are in test_distributed.py)."""

import numpy as np
import pytest

import dnnx
from dnnx import distributed as dist
from dnnx import layers
from dnnx.distributed._gradient_sync import GradientSync, plan_buckets


@pytest.fixture(autouse=True)
def _leave_distributed_mode():
    yield
    dist.shutdown()


def test_plan_buckets_reverse_layer_order_and_cap():
    ranges = [(0, 100), (0, 0), (100, 50), (150, 10), (160, 300)]  # layer 1 holds nothing
    b = plan_buckets(ranges, 4, 0.0)  # 0 MB: one bucket per layer
    assert [(k.lo, k.hi, k.layers) for k in b] == [(160, 460, [4]), (150, 160, [3]), (100, 150, [2]), (0, 100, [0])]
    b = plan_buckets(ranges, 4, float("inf"))
    assert [(k.lo, k.hi, k.layers) for k in b] == [(0, 460, [4, 3, 2, 0])]
    b = plan_buckets(ranges, 4, 1.2e-3)  # 1200 bytes = 300 floats: layer 4 fills one, 3 + 2 + 0 the next
    assert [(k.lo, k.hi, k.layers) for k in b] == [(160, 460, [4]), (0, 160, [3, 2, 0])]
    b = plan_buckets([(0, 10), (20, 10)], 4, float("inf"))  # not adjacent: never one bucket
    assert [(k.lo, k.hi) for k in b] == [(20, 30), (0, 10)]


def _mlp(seed=0, reg=True, frozen=False):
    r = dnnx.regularizers.L2(1e-2) if reg else None
    m = dnnx.Sequential([dnnx.Input(shape=(5,)), layers.Dense(7, activation="tanh", kernel_regularizer=r),
                         layers.Dropout(0.2), layers.Dense(6, activation="relu", kernel_regularizer=r),
                         layers.Dense(3, activation="softmax")], seed=seed)
    if frozen:
        m.layers[2].trainable = False
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.build()
    return m


def _data(n=48):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)


def test_layer_callback_in_backward_order_with_final_gradients():
    """Each layer once per step, last layer first, while the earlier layers' gradients are not
    computed yet; what it sees then is what the hook sees after backward (penalty included)."""
    x, y = _data()
    m = _mlp()
    net = m._net
    ranges = net.layer_grad_ranges()
    assert [n for _, n in ranges] == [5 * 7 + 7, 0, 7 * 6 + 6, 6 * 3 + 3]  # Dropout holds nothing
    arena = net.grad_arena()
    seen, final = [], []

    def on_layer(layer):
        lo, n = ranges[layer]
        seen.append((layer, arena[lo:lo + n].copy(), arena[ranges[0][0]:ranges[0][0] + ranges[0][1]].copy()))

    net.set_layer_gradient_callback(on_layer)
    net.set_gradient_hook(lambda g: final.append(g.copy()))
    m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    net.set_layer_gradient_callback(None)
    net.set_gradient_hook(None)
    assert len(final) == 3 and len(seen) == 9
    assert [s[0] for s in seen] == [3, 2, 0] * 3
    for step in range(3):
        for layer, got, _ in seen[3 * step:3 * step + 3]:
            lo, n = ranges[layer]
            np.testing.assert_array_equal(got, final[step][lo:lo + n])
    first_layer_at_last_callback = seen[0][2]
    assert not first_layer_at_last_callback.any()  # step 1: layer 0 not yet computed (zeros)
    assert final[0][ranges[0][0]:ranges[0][0] + ranges[0][1]].any()


@pytest.mark.parametrize("frozen", [False, True])
def test_layer_callback_changes_no_bit(frozen):
    """Training with the callback (penalties added layer by layer in backward) equals training
    without it: weights, optimizer state and the reported losses."""
    x, y = _data()
    runs = []
    for cb in (False, True):
        m = _mlp(frozen=frozen)
        calls = []
        if cb:
            m._net.set_layer_gradient_callback(calls.append)
        h = m.fit(x, y, batch_size=16, epochs=2, verbose=0)
        m._net.set_layer_gradient_callback(None)
        runs.append((m._net.param_arena().copy(), [s.copy() for s in m._net.optimizer_state()], h.history, calls))
    (p0, o0, h0, _), (p1, o1, h1, calls) = runs
    np.testing.assert_array_equal(p0, p1)
    for a, b in zip(o0, o1):
        np.testing.assert_array_equal(a, b)
    assert h0 == h1
    assert sorted(calls[:3]) == [0, 2, 3] and len(calls) == 6 * 3  # every layer with weights, once a step


def test_layer_callback_not_called_outside_training_steps():
    x, y = _data()
    m = _mlp()
    calls = []
    m._net.set_layer_gradient_callback(calls.append)
    m.evaluate(x, y, verbose=0)
    m._net.compute_gradients(x, y.reshape(-1, 1).astype(np.float32), None)
    assert calls == []
    m._net.set_layer_gradient_callback(None)


class Recording(dist.SingleProcessCommunicator):
    """One rank that records when each iallreduce starts (in backward or in the hook) and
    doubles the buffer (as a sum over two ranks holding the same gradient would)."""

    def __init__(self):
        self.log = []
        self.in_hook = False

    def allreduce(self, buf, op="sum"):
        buf *= 2

    def iallreduce(self, buf, op="sum"):
        self.log.append(("hook" if self.in_hook else "backward", buf.size))
        buf *= 2
        return "handle"

    def wait_all(self, handles):
        self.log.append(("wait", len(handles)))


@pytest.mark.parametrize("bucket_mb", [0.0, 1e-4, float("inf")])
def test_overlap_and_buckets_give_the_same_bits(bucket_mb):
    x, y = _data()
    results = {}
    for overlap in (False, True):
        m = _mlp(seed=3)
        comm = Recording()
        sync = GradientSync(m._net, comm, bucket_mb, overlap)
        hook = sync.hook

        def flagged(g, hook=hook, comm=comm):
            comm.in_hook = True
            try:
                hook(g)
            finally:
                comm.in_hook = False
        sync.start_epoch(np.full(3, 0.5))  # 0.5 x the doubled sum: the plain gradient
        sync.attach()
        m._net.set_gradient_hook(flagged)
        m._net.train_epoch(x, y.reshape(-1, 1).astype(np.float32), None, 16, False, 0, np.full(3, 0.01), None, 0)
        sync.detach()
        results[overlap] = (m._net.param_arena().copy(), comm.log, len(sync.buckets))
    (p0, log0, nb), (p1, log1, _) = results[False], results[True]
    np.testing.assert_array_equal(p0, p1)
    sizes = [s for w, s in log0 if w != "wait"]
    assert [w for w, _ in log0] == (["hook"] * nb + ["wait"]) * 3
    assert [s for w, s in log1 if w != "wait"] == sizes  # the same buckets in the same order
    started = "backward" if nb > 1 else "hook"  # one bucket: nothing to overlap, no per-layer callbacks
    assert [w for w, _ in log1] == ([started] * nb + ["wait"]) * 3  # all started during backward
    assert sum(sizes[:nb]) == 5 * 7 + 7 + 7 * 6 + 6 + 6 * 3 + 3
    assert nb == {0.0: 3, 1e-4: 2, float("inf"): 1}[bucket_mb]
    plain = _mlp(seed=3)
    plain._net.train_epoch(x, y.reshape(-1, 1).astype(np.float32), None, 16, False, 0, np.full(3, 0.01), None, 0)
    np.testing.assert_array_equal(plain._net.param_arena(), p0)


def test_init_settings_are_checked_and_kept():
    assert dist.settings() == {"bucket_mb": dist._gradient_sync.DEFAULT_BUCKET_MB,
                               "overlap": dist._gradient_sync.DEFAULT_OVERLAP}
    dist.init(dist.SingleProcessCommunicator(), bucket_mb=0, overlap=False)
    assert dist.settings() == {"bucket_mb": 0.0, "overlap": False}
    with pytest.raises(ValueError, match="bucket_mb must be a number >= 0"):
        dist.init(dist.SingleProcessCommunicator(), bucket_mb=-1)
    with pytest.raises(TypeError, match="overlap must be a bool"):
        dist.init(dist.SingleProcessCommunicator(), overlap="yes")


def test_layer_callback_once_per_shared_layer_after_its_last_node():
    """A layer applied twice: its callback comes once, after backward's last node for it
    (both uses added), and shows the final gradient; the training bits do not change."""
    x, y = _data()
    runs = []
    for cb in (False, True):
        inp = dnnx.Input(shape=(5,))
        shared = layers.Dense(5, activation="tanh", kernel_regularizer=dnnx.regularizers.L2(1e-2))
        h = shared(shared(inp))
        m = dnnx.Model(inp, layers.Dense(3, activation="softmax")(layers.Add()([h, inp])), seed=4)
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.build()
        net = m._net
        ranges, arena = net.layer_grad_ranges(), net.grad_arena()
        seen, final = [], []
        if cb:
            net.set_layer_gradient_callback(
                lambda layer: seen.append((layer, arena[ranges[layer][0]:sum(ranges[layer])].copy())))
            net.set_gradient_hook(lambda g: final.append(g.copy()))
        h = m.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        net.set_layer_gradient_callback(None)
        net.set_gradient_hook(None)
        runs.append((net.param_arena().copy(), h.history))
        if cb:
            with_weights = [i for i, (_, n) in enumerate(ranges) if n > 0]
            assert len(seen) == 3 * len(with_weights)
            for step in range(3):
                part = seen[step * len(with_weights):(step + 1) * len(with_weights)]
                assert sorted(layer for layer, _ in part) == with_weights  # each once
                for layer, got in part:
                    np.testing.assert_array_equal(got, final[step][ranges[layer][0]:sum(ranges[layer])])
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
