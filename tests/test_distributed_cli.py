"""``dnnx train --distributed`` under ``mpiexec -n 2`` (started here; skipped without mpi4py
or the MPI wheel's mpiexec)."""

import subprocess
import sys

import numpy as np

from mpi_util import mpiexec as _mpiexec


def _table(path, n=400):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=n), rng.normal(size=n)
    cat = rng.choice(["red", "green", "blue"], size=n)
    y = np.where(a + 0.5 * b + (cat == "red") > 0.3, "yes", "no")
    with open(path, "w") as f:
        f.write("a,b,color,label\n")
        for row in zip(a, b, cat, y):
            f.write(f"{row[0]:.5f},{row[1]:.5f},{row[2]},{row[3]}\n")


def test_train_distributed_two_ranks(tmp_path):
    exe = _mpiexec()
    data, out = tmp_path / "t.csv", tmp_path / "m.dnnx"
    _table(data)
    cmd = [exe, "-n", "2", sys.executable, "-m", "dnnx", "train", "--data", str(data), "--target", "label",
           "--out", str(out), "--epochs", "4", "--quiet", "--distributed"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert sum(line.startswith("read 400 rows") for line in lines) == 1, r.stdout  # rank 0 alone prints
    assert sum(line.startswith("saved ") for line in lines) == 1
    trained = [line for line in lines if line.startswith("trained ")]
    assert len(trained) == 1 and "on 320 rows" in trained[0]  # both shards of the training rows
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.dnnx", "t.csv"]
    r = subprocess.run([sys.executable, "-m", "dnnx", "evaluate", "--model", str(out), "--data", str(data)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout


def test_train_distributed_without_mpi_is_a_clear_error(tmp_path):
    data = tmp_path / "t.csv"
    _table(data, 40)
    code = ("import sys; sys.modules['mpi4py'] = None\n"
            "from dnnx.__main__ import main\n"
            f"sys.exit(main(['train', '--data', {str(data)!r}, '--target', 'label', '--out', 'm.dnnx', "
            "'--distributed']))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode != 0
    assert "mpi4py" in r.stderr and 'pip install "dnnx[mpi]"' in r.stderr
    assert not (tmp_path / "m.dnnx").exists()
