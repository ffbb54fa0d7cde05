"""The ``dnnx`` command line, driven as a user would: subprocesses on tables the tests
write (numeric, categorical and missing values; string targets; binary, multiclass and
regression), checking outputs, accuracy and error exits."""

import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import dnnx
from dnnx import tabular

RNG = np.random.default_rng(11)


def run(*args, cwd=None, ok=True):
    env = dict(os.environ, PYTHONWARNINGS="error")
    r = subprocess.run([sys.executable, "-m", "dnnx", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                       env=env, timeout=300)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Traceback" not in r.stderr, r.stderr
    return r


def write_csv(path, columns, delimiter=","):
    names = list(columns)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(names)
        for row in zip(*(columns[n] for n in names)):
            w.writerow(["" if isinstance(v, float) and v != v else v for v in row])


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def mixed_table(n, seed=0, unseen=False):
    """Binary target 'yes'/'no' from two numeric columns (one with missing values, one
    skewed) and two categorical ones (7 and 3 levels)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(n)
    b = np.exp(rng.standard_normal(n) * 1.5)  # heavily skewed
    city = rng.choice([f"city{i}" for i in range(7)], n)
    tier = rng.choice(["gold", "silver", "bronze"], n)
    effect = {f"city{i}": v for i, v in enumerate([-2, -1, 0, 0, 1, 2, 2])}
    score = 1.5 * a + np.log(b) + np.array([effect[c] for c in city]) + (tier == "gold") * 1.5
    y = np.where(score + 0.3 * rng.standard_normal(n) > 0.5, "yes", "no")
    a_missing = a.copy()
    a_missing[rng.random(n) < 0.1] = np.nan
    if unseen:
        city = city.copy()
        city[:3] = "atlantis"
    return {"a": a_missing.tolist(), "b": b.tolist(), "city": city.tolist(), "tier": tier.tolist(),
            "label": y.tolist()}


def metric(stdout, name):
    m = re.search(rf"validation \([\d,]+ rows\):.*\b{name} ([0-9.]+)", stdout)
    assert m, stdout
    return float(m.group(1))


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    d = tmp_path_factory.mktemp("binary")
    write_csv(d / "train.csv", mixed_table(1200, seed=1))
    write_csv(d / "new.csv", mixed_table(50, seed=2, unseen=True))
    r = run("train", "--data", d / "train.csv", "--target", "label", "--out", d / "m.dnnx", "--hidden", "32,16",
            "--epochs", "60", "--threads", "1", "--seed", "3")
    return d, r


def test_train_binary_mixed_table(binary):
    d, r = binary
    assert "2 numeric and 2 categorical columns" in r.stdout and "binary, 2 classes" in r.stdout
    assert metric(r.stdout, "accuracy") > 0.85 and metric(r.stdout, "auc") > 0.9
    assert os.path.getsize(d / "m.dnnx") > 0
    tm = tabular.TabularModel.load(str(d / "m.dnnx"))
    cols = {c["name"]: c for c in tm.info["columns"]}
    assert cols["a"]["missing_indicator"] and cols["b"]["quantile_transform"]
    assert cols["city"]["encoding"] == "embedding" and cols["tier"]["encoding"] == "one_hot"
    assert tm.info["classes"] == ["no", "yes"]


def test_predict_writes_one_row_per_input_row_in_order(binary):
    d, _ = binary
    r = run("predict", "--model", d / "m.dnnx", "--data", d / "new.csv", "--out", d / "pred.csv")
    assert "wrote 50 predictions" in r.stdout
    header, rows = read_csv(d / "pred.csv")
    assert header == ["predicted_label", "probability_no", "probability_yes"]
    assert len(rows) == 50
    p = np.array([[float(v) for v in row[1:]] for row in rows])
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    # the same as the saved model's predictions in this process, row for row (unseen
    # categories in the first three rows included)
    tm = tabular.TabularModel.load(str(d / "m.dnnx"))
    labels, proba = tm.predict(tabular.read_table(str(d / "new.csv")))
    assert [row[0] for row in rows] == list(labels)
    np.testing.assert_allclose(p, proba, rtol=1e-6, atol=1e-7)
    # the file is an ordinary dnnx model: raw columns in, probabilities out
    table = tabular.read_table(str(d / "new.csv"))
    raw = {"a": table["a"], "b": table["b"], "city": table["city"], "tier": table["tier"]}
    np.testing.assert_allclose(dnnx.load_model(d / "m.dnnx").predict(raw).ravel(), proba[:, 1], rtol=1e-6)


def test_predict_streams_in_chunks(binary, monkeypatch):
    d, _ = binary
    from dnnx import _cli
    monkeypatch.setattr(_cli, "CHUNK_ROWS", 7)
    args = type("A", (), {"model": str(d / "m.dnnx"), "data": str(d / "new.csv"), "out": str(d / "chunked.csv"),
                          "threads": None})
    assert _cli.predict(args) == 0
    run("predict", "--model", d / "m.dnnx", "--data", d / "new.csv", "--out", d / "whole.csv")
    assert read_csv(d / "chunked.csv") == read_csv(d / "whole.csv")


def test_evaluate_and_summary(binary):
    d, _ = binary
    write_csv(d / "test.csv", mixed_table(400, seed=5))
    r = run("evaluate", "--model", d / "m.dnnx", "--data", d / "test.csv")
    acc = float(re.search(r"accuracy ([0-9.]+)", r.stdout).group(1))
    assert r.stdout.startswith("400 rows") and acc > 0.85
    r = run("summary", "--model", d / "m.dnnx")
    assert "task: binary; target column: 'label'" in r.stdout
    assert "'city': categorical, 7 levels" in r.stdout and "missing_indicator" in r.stdout
    assert "Total params" in r.stdout


def test_saved_predictions_equal_the_training_process(tmp_path):
    table = {k: np.array(v) for k, v in mixed_table(300, seed=8).items()}
    table = {k: (v if v.dtype.kind == "U" else v.astype(np.float64)) for k, v in table.items()}
    tm = tabular.TabularModel.build(table, "label", hidden=(16,), seed=1)
    tm.fit(table, epochs=5, seed=1)
    labels, proba = tm.predict(table)
    tm.save(str(tmp_path / "m.dnnx"))
    labels2, proba2 = tabular.TabularModel.load(str(tmp_path / "m.dnnx")).predict(table)
    np.testing.assert_array_equal(proba2, proba)
    assert list(labels2) == list(labels)


def test_multiclass_npz_with_integer_classes(tmp_path):
    n = 900
    x = RNG.standard_normal((n, 3))
    y = np.argmax(x @ RNG.standard_normal((3, 3)) * 3, axis=1)
    np.savez(tmp_path / "t.npz", x0=x[:, 0], x1=x[:, 1], x2=x[:, 2], kind=np.array(["p", "q"])[RNG.integers(0, 2, n)],
             cls=y)
    r = run("train", "--data", tmp_path / "t.npz", "--target", "cls", "--out", tmp_path / "m.dnnx",
            "--hidden", "32", "--epochs", "60", "--quiet")
    assert "multiclass, 3 classes" in r.stdout
    assert metric(r.stdout, "accuracy") > 0.85
    run("predict", "--model", tmp_path / "m.dnnx", "--data", tmp_path / "t.npz", "--out", tmp_path / "p.csv")
    header, rows = read_csv(tmp_path / "p.csv")
    assert header == ["predicted_cls", "probability_0", "probability_1", "probability_2"] and len(rows) == n
    assert np.mean(np.array([int(r[0]) for r in rows]) == y) > 0.85


def test_regression_tsv_with_residual_mlp(tmp_path):
    n = 1000
    x = RNG.uniform(-2, 2, (n, 2))
    g = RNG.choice(["u", "v", "w", "z", "k"], n)
    y = 100 + 30 * np.sin(x[:, 0]) + 20 * x[:, 1] + np.array([{"u": -15, "v": 0, "w": 10, "z": 20, "k": 5}[c]
                                                               for c in g]) + RNG.standard_normal(n)
    write_csv(tmp_path / "t.tsv", {"x0": x[:, 0].tolist(), "x1": x[:, 1].tolist(), "group": g.tolist(),
                                   "y": y.tolist()}, delimiter="\t")
    r = run("train", "--data", tmp_path / "t.tsv", "--target", "y", "--out", tmp_path / "m.dnnx", "--residual",
            "--hidden", "64,64", "--epochs", "80", "--lr", "0.003", "--batch-size", "32", "--quiet")
    assert "regression" in r.stdout
    assert metric(r.stdout, "r2") > 0.95
    run("predict", "--model", tmp_path / "m.dnnx", "--data", tmp_path / "t.tsv", "--out", tmp_path / "p.csv")
    header, rows = read_csv(tmp_path / "p.csv")
    pred = np.array([float(r[0]) for r in rows])
    assert header == ["predicted_y"] and len(pred) == n
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.2 * y.std()  # in the target's units


def test_plot_writes_a_png(tmp_path):
    mpl_image = pytest.importorskip("matplotlib.image")
    write_csv(tmp_path / "t.csv", mixed_table(200, seed=4))
    run("train", "--data", tmp_path / "t.csv", "--target", "label", "--out", tmp_path / "m.dnnx", "--epochs", "3",
        "--hidden", "8", "--plot", tmp_path / "curves.png", "--quiet")
    data = (tmp_path / "curves.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpl_image.imread(str(tmp_path / "curves.png"))
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 200


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    t = mixed_table(400, seed=6)
    pq.write_table(pa.table({k: pa.array(v) for k, v in t.items()}), tmp_path / "t.parquet")
    run("train", "--data", tmp_path / "t.parquet", "--target", "label", "--out", tmp_path / "m.dnnx", "--epochs",
        "5", "--hidden", "16", "--quiet")
    run("predict", "--model", tmp_path / "m.dnnx", "--data", tmp_path / "t.parquet", "--out", tmp_path / "p.csv")
    assert len(read_csv(tmp_path / "p.csv")[1]) == 400


def error(*args, cwd=None):
    r = run(*args, cwd=cwd, ok=False)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_errors_are_one_line_and_a_nonzero_exit(tmp_path):
    write_csv(tmp_path / "t.csv", mixed_table(60, seed=7))
    train = ("train", "--target", "label", "--out", tmp_path / "m.dnnx", "--epochs", "1")
    assert "no such file" in error(*train, "--data", tmp_path / "missing.csv")
    assert "unknown target column 'nope'" in error("train", "--data", tmp_path / "t.csv", "--target", "nope",
                                                   "--out", tmp_path / "m.dnnx")
    bad = mixed_table(60, seed=7)
    bad["a"][17] = "12,5kg"
    write_csv(tmp_path / "bad.csv", bad)
    msg = error(*train, "--data", tmp_path / "bad.csv")
    assert "column 'a', row 18: cannot parse '12,5kg' as a number" in msg
    one = mixed_table(60, seed=7)
    one["label"] = ["yes"] * 60
    write_csv(tmp_path / "one.csv", one)
    assert "single class ('yes')" in error(*train, "--data", tmp_path / "one.csv")
    (tmp_path / "junk.dnnx").write_bytes(b"this is not a model at all")
    assert "is not a dnnx model file" in error("predict", "--model", tmp_path / "junk.dnnx", "--data",
                                                 tmp_path / "t.csv", "--out", tmp_path / "p.csv")
    assert "is not a dnnx model file" in error("summary", "--model", tmp_path / "t.csv")
    assert "regression needs numbers" in error(*train, "--data", tmp_path / "t.csv", "--task", "regression")
    run(*train, "--data", tmp_path / "t.csv", "--quiet")
    partial = mixed_table(10, seed=9)
    del partial["city"]
    write_csv(tmp_path / "partial.csv", partial)
    assert "column 'city', which the model uses, is missing" in error(
        "predict", "--model", tmp_path / "m.dnnx", "--data", tmp_path / "partial.csv", "--out", tmp_path / "p.csv")
    bad_new = mixed_table(10, seed=9)
    bad_new["b"][4] = "n/a?"
    write_csv(tmp_path / "bad_new.csv", bad_new)
    assert "column 'b', row 5: cannot parse 'n/a?'" in error(
        "predict", "--model", tmp_path / "m.dnnx", "--data", tmp_path / "bad_new.csv", "--out", tmp_path / "p.csv")
    assert not (tmp_path / "p.csv").exists()
    plain = dnnx.Sequential([dnnx.Input(shape=(2,)), dnnx.layers.Dense(1)])
    plain.save(tmp_path / "plain.dnnx")
    assert "not one made by `dnnx train`" in error("summary", "--model", tmp_path / "plain.dnnx")
    r = run("train", "--data", tmp_path / "t.csv", ok=False)  # argparse: usage and status 2
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_demo_runs_with_no_arguments():
    r = run("demo", "--epochs", "2")
    assert "TEST ACCURACY" in r.stdout and "baseline" in r.stdout


def test_bench_builtin():
    r = run("bench", "--builtin", "--threads", "1")
    assert re.search(r"dnnx is [0-9.]+x NumPy", r.stdout)
