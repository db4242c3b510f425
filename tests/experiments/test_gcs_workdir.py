"""A workdir on a bucket (issue 15.3): the command line trains on ``gs://``, is killed with
SIGKILL, resumes from the bucket, samples and evaluates, and ends exactly where an
uninterrupted run ends, while nothing is written to local disk.

The bucket is :mod:`fake_gcs`: TensorStore's own GCS driver (orbax's array data) and an
fsspec ``gs://`` client (orbax metadata, diffax's files) talk to an in-memory GCS server,
so every byte goes through the code paths a Cloud TPU run uses, offline.
"""

import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from cpu_compile import xla_flags
from fake_gcs import FakeGCSServer, environment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUCKET = "diffax-test"
COMMON = ("--config=" + os.path.join(ROOT, "configs/toy/moons.py"),
          "--config.optim.schedule=constant",  # the learning rate must not depend on n_steps
          "--config.training.ckpt_every=10", "--config.training.log_every=10",
          "--config.training.keep_checkpoints=3", "--config.training.progress=False",
          "--config.training.sample_every=20", "--config.sampling.num_samples=64",
          "--config.sampling.grid_size=64", "--config.sampling.nfe=6",
          "--config.eval.num_samples=128", "--config.eval.num_batches=1",
          "--config.eval.samplers=('euler',)", "--config.eval.nfes=(6,)",
          "--config.eval.metrics=('sliced_w2',)", "--config.eval.likelihood_num_examples=8")


@pytest.fixture(scope="module")
def server():
    s = FakeGCSServer()
    yield s
    s.close()


def command(workdir, mode, n_steps):
    return [sys.executable, os.path.join(ROOT, "tests", "fake_gcs.py"), "experiments.main",
            *COMMON, f"--workdir=gs://{BUCKET}/{workdir}", f"--mode={mode}",
            f"--config.training.n_steps={n_steps}"]


def env_for(server):
    env = {**os.environ, **environment(server), "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT,
           "XLA_FLAGS": xla_flags()}  # one device
    return env


def read_json(server, name):
    return json.loads(server.get(BUCKET, name))


@pytest.mark.slow
def test_train_kill_resume_sample_eval_on_a_bucket(server, tmp_path):
    local = tmp_path / "cwd"
    local.mkdir()
    env = env_for(server)

    proc = subprocess.Popen(command("run", "train", 5000), cwd=local, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if server.names(BUCKET, "run/checkpoints/20/commit_success.txt"):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert server.names(BUCKET, "run/checkpoints/20/"), "no checkpoint at step 20 in time"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    resumed = subprocess.run(command("run", "train,sample,eval", 60), cwd=local, env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from step" in resumed.stdout and f"gs://{BUCKET}/run/checkpoints" \
        in resumed.stdout
    start = int(resumed.stdout.split("resumed from step")[1].split()[0])
    assert 20 <= start < 60

    reference = subprocess.run(command("ref", "train,sample,eval", 60), cwd=local, env=env,
                               capture_output=True, text=True, timeout=300)
    assert reference.returncode == 0, reference.stderr[-3000:]

    # nothing reached local disk: the working directory is empty, no "gs:" folder anywhere
    assert os.listdir(local) == []
    assert not os.path.exists(os.path.join(ROOT, "gs:"))

    names = server.names(BUCKET, "run/")
    steps = sorted({int(n.split("/")[2]) for n in names
                    if n.startswith("run/checkpoints/") and n.split("/")[2].isdigit()})
    assert steps == [40, 50, 60]
    for s in steps:  # each kept step has its digest beside the state
        assert f"run/checkpoints/{s}/digest/metadata" in names
    for f in ("config.json", "train_summary.json", "metrics.json", "samples/step_0000060.png"):
        assert f"run/{f}" in names, f
    assert any(n.startswith("run/tensorboard/events.out.tfevents") for n in names)
    logged = [json.loads(line)["step"]
              for line in server.get(BUCKET, "run/metrics.jsonl").decode().splitlines()]
    assert logged == list(range(10, 61, 10))  # the killed run's extra records were dropped

    # the resumed run ends exactly where the uninterrupted one does (same program, same
    # machine: bitwise), down to its samples and metrics
    npz = [n for n in names if n.startswith("run/samples/") and n.endswith(".npz")]
    assert len(npz) == 1
    got = np.load(io.BytesIO(server.get(BUCKET, npz[0])))["x"]
    want = np.load(io.BytesIO(server.get(BUCKET, npz[0].replace("run/", "ref/", 1))))["x"]
    np.testing.assert_array_equal(got, want)
    m_run, m_ref = read_json(server, "run/metrics.json"), read_json(server, "ref/metrics.json")
    for entry in m_run["samples"] + m_ref["samples"]:
        entry.pop("wall_s")
    assert m_run == m_ref
    assert read_json(server, "run/train_summary.json")["resumed_from"] == start
    assert not server.unhandled, server.unhandled[:5]
