"""dnnx.distributed: the communicator interface, merged metric states, and synchronous
data-parallel fit under ``mpiexec -n 2`` (started here through subprocess; skipped when
mpi4py or the MPI wheel's mpiexec is missing)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dnnx
from dnnx import distributed as dist
from dnnx import layers
from mpi_util import run_workers

HERE = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _leave_distributed_mode():
    yield
    dist.shutdown()


def _model(bn=False, metrics=("accuracy", "auc", "precision", "recall"), seed=1):
    dnnx.utils.set_random_seed(seed)
    ls = [dnnx.Input(shape=(6,)), layers.Dense(16, activation="relu", kernel_regularizer=dnnx.regularizers.L2(1e-3))]
    if bn:
        ls.append(layers.BatchNormalization())
    ls.append(layers.Dense(1, activation="sigmoid"))
    m = dnnx.Sequential(ls)
    m.compile(optimizer="adam", loss="binary_crossentropy", metrics=list(metrics))
    return m


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.3 * rng.normal(size=n) > 0).astype("float32")
    return x, y


# -- without MPI ------------------------------------------------------------------------------
def test_shard_covers_every_row_once():
    a = np.arange(11)
    parts = [dist.shard(a, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 3]
    np.testing.assert_array_equal(np.concatenate(parts), a)
    both = dist.shard({"x": a, "y": [a, a * 2]}, 1, 3)
    np.testing.assert_array_equal(both["y"][1], a[4:8] * 2)
    assert dist.shard(a) is not None and len(dist.shard(a)) == 11  # not initialized: the whole
    with pytest.raises(ValueError, match="rank must be an int in"):
        dist.shard(a, 3, 3)
    with pytest.raises(ValueError, match="size must be"):
        dist.shard(a, 0, 0)


def test_single_process_communicator_checks_and_identity():
    c = dist.SingleProcessCommunicator()
    assert (c.rank, c.size) == (0, 1)
    buf = np.arange(4.0)
    c.allreduce(buf)
    c.broadcast(buf)
    np.testing.assert_array_equal(buf, np.arange(4.0))
    assert c.allgather({"a": [1, 2]}) == [{"a": [1, 2]}]
    with pytest.raises(ValueError, match="op must be one of"):
        c.allreduce(buf, op="prod")
    with pytest.raises(ValueError, match="C-contiguous"):
        c.allreduce(np.arange(6.0)[::2])
    with pytest.raises(TypeError, match="NumPy array"):
        c.broadcast([1.0])


def test_init_rejects_a_non_communicator():
    with pytest.raises(TypeError, match="Communicator"):
        dist.init(object())
    with pytest.raises(ValueError, match="threads"):
        dist.init(dist.SingleProcessCommunicator(), threads=4)


def test_init_without_mpi_is_a_clear_error():
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "import dnnx\n"
            "try:\n"
            "    dnnx.distributed.init()\n"
            "except RuntimeError as e:\n"
            "    print('ERROR', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "ERROR dnnx.distributed needs mpi4py and an MPI library" in r.stdout
    assert 'pip install "dnnx[mpi]"' in r.stdout


def test_log_state_merges_to_the_union():
    """The metric state of two halves, added, gives the logs of the whole (ratios are not averaged)."""
    x, y = _data(301)
    m = _model(metrics=["accuracy", "auc", "precision", "recall", "mse", "mae"])
    m.fit(x, y, epochs=2, verbose=0)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, size=301).astype("float32")
    whole = m.evaluate(x, y, sample_weight=sw, return_dict=True)
    states = []
    for part in (slice(0, 100), slice(100, 301)):
        m.evaluate(x[part], y[part], sample_weight=sw[part])
        states.append(m._net.log_state())
    assert states[0].dtype == np.float64
    merged = m._net.logs_from_state(states[0] + states[1])
    assert merged.keys() == whole.keys()
    for k in whole:
        assert merged[k] == pytest.approx(whole[k], rel=1e-12, abs=1e-12), k
    # the halves' own logs differ from the whole: averaging them would not give it
    half = m._net.logs_from_state(states[0])
    assert half["auc"] != pytest.approx(whole["auc"], rel=1e-6)
    with pytest.raises(ValueError, match="must hold"):
        m._net.logs_from_state(states[0][:-1].copy())
    with pytest.raises(TypeError, match="float64"):
        m._net.logs_from_state(states[0].astype(np.float32))


def test_single_process_communicator_fit_is_plain_fit():
    """Every distributed code path (agreement, broadcast, hook, merge, stop, checks) with one
    rank gives exactly the bits of plain training."""
    x, y = _data(200)
    runs = []
    for distributed in (False, True):
        if distributed:
            assert dist.init(dist.SingleProcessCommunicator()) == (0, 1)
        m = _model(bn=True)
        h = m.fit(x, y, batch_size=16, epochs=3, validation_split=0.2, verbose=0,
                  callbacks=[dnnx.callbacks.EarlyStopping(monitor="val_loss", patience=1)])
        runs.append((m.get_weights(), h.history, m._net.get_rng_state(), m.evaluate(x, y, return_dict=True)))
        dist.shutdown()
    (w0, h0, rng0, e0), (w1, h1, rng1, e1) = runs
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    assert h0 == h1 and rng0 == rng1
    assert e0 == pytest.approx(e1, rel=1e-15)


def test_distributed_evaluate_accepts_an_empty_shard():
    x, y = _data(50)
    m = _model()
    m.fit(x, y, epochs=1, verbose=0)
    dist.init(dist.SingleProcessCommunicator())
    with pytest.raises(ValueError, match="empty on every rank"):
        m.fit(x[:0], y[:0], epochs=1, verbose=0)
    logs = m.evaluate(x[:0], y[:0], return_dict=True)  # the other ranks' data would count
    assert logs["loss"] == 0.0


# -- under mpiexec -n 2 ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mpi_run(tmp_path_factory):
    return run_workers("distributed_worker.py", tmp_path_factory.mktemp("mpi"))


def test_mpi_identical_weights_every_epoch(mpi_run):
    facts, arrays, _ = mpi_run
    keys = sorted(arrays[0])
    assert keys == sorted(arrays[1])
    assert {"uneven_w2", "bn0_w1", "bn1_opt1", "empty_w0", "uneven_init"} <= set(keys)
    for k in keys:
        np.testing.assert_array_equal(arrays[0][k], arrays[1][k], err_msg=k)  # bitwise
    # shuffled, with BatchNormalization (moving statistics in the arena): the same bits twice
    for e in range(2):
        np.testing.assert_array_equal(arrays[0][f"bn0_w{e}"], arrays[0][f"bn1_w{e}"])
    a, b = facts
    assert a["uneven_history"] == b["uneven_history"] and a["uneven_eval"] == b["uneven_eval"]
    assert a["uneven_iterations"] == b["uneven_iterations"] == 3 * 7  # max(ceil(53/8), ceil(40/8)) steps
    assert a["uneven_rng"] == b["uneven_rng"]


def test_mpi_equals_one_process_on_each_steps_union(mpi_run):
    """Uneven shards (53 and 40 rows, batch 8): single-process training on the union of each
    step's batches (8 + 8 rows, the last two steps rank 0's alone) gives the same model."""
    facts, arrays, _ = mpi_run
    x, y = _data(93)
    parts = [(x[:53], y[:53]), (x[53:], y[53:])]
    m = _model(metrics=["accuracy", "auc", "precision"])
    m.build()
    np.testing.assert_array_equal(m._net.param_arena(), arrays[0]["uneven_init"])  # rank 0's weights won
    hist = {"loss": []}
    for epoch in range(3):
        total = 0.0
        for s in range(7):
            xb = np.concatenate([p[0][s * 8:(s + 1) * 8] for p in parts])
            yb = np.concatenate([p[1][s * 8:(s + 1) * 8] for p in parts])
            total += m.train_on_batch(xb, yb, return_dict=True)["loss"] * len(xb)
        hist["loss"].append(total / 93)
        np.testing.assert_allclose(m._net.param_arena(), arrays[0][f"uneven_w{epoch}"], rtol=2e-5, atol=2e-6)
    got = facts[0]["uneven_history"]
    np.testing.assert_allclose(got["loss"], hist["loss"], rtol=1e-5)
    val = m.evaluate(np.concatenate([p[0][:20] for p in parts]), np.concatenate([p[1][:20] for p in parts]),
                     return_dict=True)
    for k, v in val.items():
        assert got[f"val_{k}"][-1] == pytest.approx(v, rel=1e-4, abs=1e-6), k
    whole = m.evaluate(x, y, return_dict=True)
    for k, v in whole.items():
        assert facts[0]["uneven_eval"][k] == pytest.approx(v, rel=1e-4, abs=1e-6), k


def test_mpi_uneven_and_empty_shards_join_without_dropping_samples(mpi_run):
    facts, arrays, _ = mpi_run
    # every sample counted once: the merged loss is the sample-weighted mean (checked against
    # the union above); the rank with no data at all took every step with the other one
    np.testing.assert_array_equal(arrays[0]["empty_w0"], arrays[1]["empty_w0"])
    assert not np.array_equal(arrays[0]["empty_w0"], arrays[0]["empty_init"])


def test_mpi_only_rank0_writes_and_prints(mpi_run):
    facts, _, outputs = mpi_run
    assert facts[0]["files"] == ["ckpt.dnnx", "log.csv"]
    assert facts[1]["files"] == []
    assert outputs[1].splitlines() == ["worker rank 1 output is captured"], outputs[1]
    assert "worker rank 0 output is captured" in outputs[0]
    assert "Epoch 2/2" in outputs[0] and "loss:" in outputs[0]
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.0005" in outputs[0]  # rank 0 only
    assert facts[0]["reduced_lr"] == facts[1]["reduced_lr"] == pytest.approx(0.0005)  # decided on both


def test_mpi_callbacks_decide_the_same_on_every_rank(mpi_run):
    facts, _, _ = mpi_run
    for f in facts:
        assert f["early_epochs"] == [0, 1] and f["early_stopped_epoch"] == 1  # EarlyStopping, merged logs
        assert f["rank1_stop_epochs"] == [0, 1]   # one rank asked at epoch 1: every rank stops there
        assert f["batch_stop_epochs"] == [0]      # a stop asked inside an epoch: at its end, everywhere


def test_mpi_disagreement_is_a_clear_error_on_every_rank(mpi_run):
    facts, _, _ = mpi_run
    for f in facts:
        assert f["model_error"].startswith("dnnx.distributed: the ranks disagree on the model (parameters): "
                                           "rank 0 has 129, rank 1 has 137")
        assert "the ranks disagree on the fit arguments (batch_size): rank 0 has 8, rank 1 has 9" in f["fit_error"]


def test_mpi_nan_on_one_rank_stays_nan_in_the_merged_metrics(mpi_run):
    facts, _, _ = mpi_run
    for f in facts:
        logs = f["nan_eval"]
        for k in ("loss", "auc", "precision"):
            assert np.isnan(logs[k]), (f["rank"], k, logs[k])
        assert not np.isnan(logs["accuracy"])  # a NaN prediction is not > 0.5: counted wrong, as Keras


def test_mpi_bucketed_allreduce_same_bits_overlapped_or_not(mpi_run):
    _, arrays, _ = mpi_run
    keys = sorted(k for k in arrays[0] if k.startswith("bucket_"))
    assert len(keys) == 5
    for k in keys:
        np.testing.assert_array_equal(arrays[0][k], arrays[0][keys[0]], err_msg=k)  # overlap, bucket size
        np.testing.assert_array_equal(arrays[1][k], arrays[0][k], err_msg=k)        # every rank
