"""benchmarks.samplers --samplers: a pattern that matches no sampler fails before any work.

Run in a subprocess: importing benchmarks.samplers switches float64 on for its process."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_unknown_sampler_pattern_names_the_valid_samplers(tmp_path):
    out = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.samplers", "--out", str(out), "--quick",
         "--samplers", "s_pndm,no_such_solver*"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode != 0
    assert "'no_such_solver*' matches no benchmarked sampler" in proc.stderr
    assert "'unipc_bh2_3'" in proc.stderr and "'s_pndm'" in proc.stderr
    assert not out.exists()  # failed before writing anything
