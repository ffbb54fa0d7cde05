"""Running a test worker under ``mpiexec -n 2`` (the mpich wheel puts mpiexec beside the
venv's python; tests skip without it)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent


def mpiexec() -> str:
    pytest.importorskip("mpi4py")
    here = os.path.dirname(sys.executable)
    exe = shutil.which("mpiexec", path=here + os.pathsep + os.environ.get("PATH", ""))
    if exe is None:
        pytest.skip("no mpiexec (pip install 'dnnx[mpi]' brings one)")
    return exe


def run_workers(worker: str, out: Path, ranks: int = 2):
    """Run tests/<worker> on `ranks` ranks with the output folder `out`; each rank writes
    rank<i>.json, rank<i>.npz and rank<i>.out there. Returns (facts, arrays, outputs)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    r = subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, str(HERE / worker), str(out)],
                       capture_output=True, text=True, timeout=300, env=env)
    outputs = [(out / f"rank{i}.out").read_text() if (out / f"rank{i}.out").exists() else "" for i in range(ranks)]
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:] + "".join(o[-4000:] for o in outputs)
    facts = [json.loads((out / f"rank{i}.json").read_text()) for i in range(ranks)]
    arrays = [dict(np.load(out / f"rank{i}.npz")) for i in range(ranks)]
    return facts, arrays, outputs
