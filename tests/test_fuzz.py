"""The atheris fuzzers (tests/fuzz/) run for a bounded time each: the model-file loader,
model configs (from_config / model_from_json) and the array-validation layer.

Each starts from its seed corpus (tests/fuzz/corpus/<name>, copied: the run adds to the
copy only) and runs DNNX_FUZZ_SECONDS (default 20) seconds; the three run at once. Any
finding (an undocumented exception, a crash, a hang, too much memory) fails the test with
libFuzzer's report. For a long run: ``python tests/fuzz/fuzz_arrays.py -max_total_time=600
DIR tests/fuzz/corpus/arrays``.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

FUZZ = Path(__file__).resolve().parent / "fuzz"
HARNESSES = ["model_file", "config", "arrays"]


@pytest.mark.fuzz
def test_fuzzers_find_nothing(tmp_path):
    seconds = int(os.environ.get("DNNX_FUZZ_SECONDS", "20"))
    procs = {}
    for name in HARNESSES:
        corpus = tmp_path / name
        shutil.copytree(FUZZ / "corpus" / name, corpus)
        (tmp_path / f"{name}-artifacts").mkdir()
        cmd = [sys.executable, str(FUZZ / f"fuzz_{name}.py"), f"-max_total_time={seconds}", "-timeout=20",
               "-print_final_stats=1", f"-artifact_prefix={tmp_path / f'{name}-artifacts'}/", str(corpus)]
        procs[name] = subprocess.Popen(cmd, cwd=FUZZ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       env=dict(os.environ, DNNX_NUM_THREADS="1"))
    reports = {}
    for name, p in procs.items():
        out, _ = p.communicate(timeout=seconds + 120)
        reports[name] = (p.returncode, out)
    for name, (rc, out) in reports.items():
        assert rc == 0, f"fuzz_{name} found something (exit {rc}):\n{out[-6000:]}"
        runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", out)
        assert runs and int(runs.group(1)) > 10, f"fuzz_{name} barely ran:\n{out[-3000:]}"
