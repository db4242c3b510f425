"""The command line: config file + dotted overrides, mode parsing, errors."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args, timeout=300):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "-m", "experiments.main", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def test_train_and_sample_with_overrides(tmp_path):
    out = run_cli("--config=configs/toy/moons.py", f"--workdir={tmp_path}",
                  "--mode=train,sample", "--config.training.n_steps=40",
                  "--config.training.log_every=20", "--config.training.sample_every=0",
                  "--config.training.progress=False", "--config.sampling.num_samples=64",
                  "--config.sampling.nfe=6")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "params" in out.stdout  # parameter count printed at start
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["40"]
    samples = os.listdir(tmp_path / "samples")
    assert any(f.endswith(".png") for f in samples) and any(f.endswith(".npz") for f in samples)


def test_unknown_mode_and_bad_override_fail_clearly(tmp_path):
    out = run_cli("--config=configs/toy/moons.py", f"--workdir={tmp_path}", "--mode=fit")
    assert out.returncode != 0 and "valid choices" in out.stderr
    out = run_cli("--config=configs/toy/moons.py", f"--workdir={tmp_path}",
                  "--config.training.nonfinite=ignore", "--config.training.n_steps=1")
    assert out.returncode != 0 and "training.nonfinite" in out.stderr
