"""orbax checkpoints: round trip, keep-N, resume identical to an uninterrupted run, and
a run killed with SIGKILL mid-training that resumes to the same final parameters."""

import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
from toy_task import batch_fn, build

from diffax import training as tr

HERE = os.path.dirname(os.path.abspath(__file__))


def leaves(state):
    return jax.tree.leaves(jax.device_get(state))


def test_round_trip_and_keep_n(tmp_path):
    mesh = tr.make_mesh()
    step, state, _ = build(mesh, num_steps=12)
    ckpt = tr.Checkpointer(str(tmp_path), save_every=4, max_to_keep=2, async_save=False)
    state = tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=12, checkpointer=ckpt,
                   progress=False)
    assert ckpt.all_steps() == [8, 12]
    _, fresh, _ = build(mesh, num_steps=12)
    restored = ckpt.restore(fresh)
    for a, b in zip(leaves(restored), leaves(state)):
        np.testing.assert_array_equal(a, b)
    assert restored.params["out"]["kernel"][...].sharding.is_fully_replicated


def test_resume_equals_uninterrupted(tmp_path):
    mesh = tr.make_mesh()
    step, state, _ = build(mesh, num_steps=20)
    full = tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=20, progress=False)

    step, state, _ = build(mesh, num_steps=20)
    ckpt = tr.Checkpointer(str(tmp_path), save_every=8, async_save=False)
    tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=9, checkpointer=ckpt, progress=False)
    assert ckpt.latest_step() == 9  # the final step of a run is always saved
    _, fresh, _ = build(mesh, num_steps=20)
    resumed = ckpt.restore(fresh, step=8)
    resumed = tr.fit(resumed, step, batch_fn(), mesh=mesh, num_steps=20, progress=False)
    for a, b in zip(leaves(resumed), leaves(full)):
        np.testing.assert_array_equal(a, b)


def _run(workdir, steps, save_every, delay):
    return [sys.executable, os.path.join(HERE, "resumable_run.py"), str(workdir), str(steps),
            str(save_every), str(delay)]


def _reference_final(steps):
    """The uninterrupted run, in this process on a 2-device mesh (the subprocesses
    see 2 devices): the same program, so the results must match bit for bit."""
    mesh = tr.make_mesh(jax.devices()[:2])
    step, state, _ = build(mesh, num_steps=steps)
    state = tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=steps, progress=False)
    return jax.tree.leaves(jax.device_get((state.params, state.ema, state.opt_state)))


def test_sigkill_mid_training_resumes_to_same_parameters(tmp_path):
    steps, save_every = 60, 10
    # keep the parent's other XLA flags (e.g. --xla_cpu_max_isa): the child must compile
    # the same program as the in-process reference it is compared with bit for bit
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                   os.environ.get("XLA_FLAGS", ""))
    env = {**os.environ,
           "XLA_FLAGS": f"{flags} --xla_force_host_platform_device_count=2".strip()}

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_run(killed, steps, save_every, 0.05), env=env)
    deadline = time.time() + 180
    ckpt_dir = killed / "ckpt"
    try:
        while time.time() < deadline:
            done = [d for d in os.listdir(ckpt_dir)] if ckpt_dir.exists() else []
            if any(d.isdigit() and int(d) >= 20 for d in done):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the run never reached a checkpoint at step 20")
        assert proc.poll() is None, "run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "final.npz").exists()

    out = subprocess.run(_run(killed, steps, save_every, 0), check=True, env=env, timeout=240,
                         capture_output=True, text=True)
    assert "resumed at step" in out.stdout
    resumed_at = int(out.stdout.split("resumed at step")[1].split()[0])
    assert 20 <= resumed_at < steps
    got = np.load(killed / "final.npz")
    ref = _reference_final(steps)
    assert len(ref) == len(got.files) > 0
    for i, want in enumerate(ref):
        np.testing.assert_array_equal(got[f"arr_{i}"], want)
