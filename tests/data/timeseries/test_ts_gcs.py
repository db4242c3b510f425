"""The time-series readers go through diffax.filesystem: the same files served from a
``gs://`` bucket (the offline fake of tests/fake_gcs.py, in a subprocess) give the same
datasets as local files."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from fake_gcs import FakeGCSServer, environment
from ts_benchmark_files import write_physionet, write_psm

from diffax.data import get_dataset
from diffax.data.timeseries import wheels

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BUCKET = "ts-bucket"
SCRIPT = """
import json, sys
import numpy as np
from diffax.data import get_dataset

def summary(ds):
    b = ds.get(np.arange(ds.num_examples))
    return {k: np.asarray(v, np.float64).sum().item() for k, v in b.items()}

out = {"physionet": summary(get_dataset("ts:physionet", "test", data_dir=sys.argv[1] + "/physio")),
       "psm": summary(get_dataset("ts:psm", "test", data_dir=sys.argv[1] + "/psm", window=10))}
if len(sys.argv) > 2:
    out["gunpoint"] = summary(get_dataset("ts:gunpoint", data_dir=sys.argv[2]))
print(json.dumps(out))
"""


def _summary(ds):
    b = ds.get(np.arange(ds.num_examples))
    return {k: np.asarray(v, np.float64).sum().item() for k, v in b.items()}


def test_benchmarks_and_wheels_read_from_a_bucket(tmp_path):
    local = tmp_path / "local"
    (local / "physio").mkdir(parents=True)
    (local / "psm").mkdir()
    write_physionet(local / "physio")
    write_psm(local / "psm")
    server = FakeGCSServer()
    try:
        for path in sorted(local.rglob("*.*")):
            server.put(BUCKET, f"data/{path.relative_to(local)}", path.read_bytes())
        expected = {
            "physionet": _summary(get_dataset("ts:physionet", "test",
                                              data_dir=str(local / "physio"))),
            "psm": _summary(get_dataset("ts:psm", "test", data_dir=str(local / "psm"),
                                        window=10))}
        args = [f"gs://{BUCKET}/data"]
        wheel = os.path.join(wheels.wheel_dir(), wheels.WHEELS["aeon"])
        if os.path.isfile(wheel):
            with open(wheel, "rb") as f:
                server.put(BUCKET, f"wheels/{wheels.WHEELS['aeon']}", f.read())
            args.append(f"gs://{BUCKET}/wheels")
            expected["gunpoint"] = _summary(get_dataset("ts:gunpoint"))
        (tmp_path / "ts_bucket_check.py").write_text(SCRIPT)
        env = {**os.environ, **environment(server), "JAX_PLATFORMS": "cpu",
               "PYTHONPATH": os.pathsep.join([ROOT, str(tmp_path)])}
        run = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "fake_gcs.py"),
                              "ts_bucket_check", *args], env=env, capture_output=True,
                             text=True, timeout=240, cwd=tmp_path)
    finally:
        server.close()
    assert run.returncode == 0, run.stderr[-3000:]
    requested = " ".join(path for _, path in server.requests)
    assert "set-a" in requested and "test_label.csv" in requested
    assert len(args) == 1 or "aeon-1.6.0" in requested
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == pytest.approx(expected[name], rel=1e-12), name
