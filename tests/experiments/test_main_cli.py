"""The command line: config file + dotted overrides, mode parsing, errors."""

import os
import re
import subprocess
import sys

from cpu_compile import xla_flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_cli(*args, timeout=300):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla_flags()}  # one device
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


ABSL_INFO = re.compile(r"^I\d{4} ", re.M)  # absl's INFO prefix, e.g. "I1206 14:45:58.18 ..."


def test_terminal_is_quiet_unless_asked(tmp_path):
    """No absl INFO lines (orbax logs every save and restore, jax its backend probing)
    unless --verbosity asks for them; train and resume print the diffax lines."""
    args = ("--config=configs/toy/moons.py", f"--workdir={tmp_path}", "--mode=train,sample",
            "--config.training.n_steps=20", "--config.training.ckpt_every=10",
            "--config.training.sample_every=0", "--config.training.progress=False",
            "--config.sampling.num_samples=16", "--config.sampling.nfe=4")
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not ABSL_INFO.search(out.stderr), out.stderr[:2000]
    # (warnings may legitimately appear, e.g. XLA's slow-compilation notices on a busy CPU)
    assert "Traceback" not in out.stderr and "orbax" not in out.stderr, out.stderr[:2000]
    loud = run_cli(*args[:2], "--mode=sample", "--config.sampling.num_samples=16",
                   "--config.sampling.nfe=4", "--verbosity=0")
    assert loud.returncode == 0 and ABSL_INFO.search(loud.stderr)  # the detail is still there


def test_sample_without_checkpoint_gives_one_clear_error(tmp_path):
    out = run_cli("--config=configs/toy/moons.py", f"--workdir={tmp_path / 'none'}",
                  "--mode=sample")
    assert out.returncode != 0
    assert "no checkpoint under" in out.stderr and "train first" in out.stderr
    assert out.stderr.count("Traceback") == 1, out.stderr[-3000:]
    assert "cannot schedule new futures" not in out.stderr
    assert not (tmp_path / "none").exists()  # reading created nothing
