"""Multi-host code path on one machine: 2 processes x 2 CPU devices joined with
jax.distributed (gloo). Each process feeds only its rows of the global batch; the loss
trajectory must equal the single-process run on 4 devices, and orbax writes one
checkpoint that this process can restore."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
from cpu_compile import xla_flags
from toy_task import batch_fn, build

from diffax import training as tr

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 8


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process(tmp_path):
    port = free_port()
    env = {**os.environ, "XLA_FLAGS": xla_flags()}   # multihost_run.py adds its 2 devices
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "multihost_run.py"), str(i),
                               "2", str(port), str(tmp_path), str(STEPS)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    try:
        outs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), "\n".join(o[-2000:] for o in outs)
    l0, l1 = (np.load(tmp_path / f"losses_{i}.npy") for i in range(2))
    # every host sees the same global loss, bitwise: one SPMD program whose all-reduce
    # hands every participant the same result
    np.testing.assert_array_equal(l0, l1)

    mesh = tr.make_mesh(jax.devices()[:4])
    step, state, _ = build(mesh, num_steps=STEPS)
    want = []
    for s in range(STEPS):
        state, metrics = step(state, tr.shard_batch(batch_fn()(s), mesh))
        want.append(float(metrics["loss"]))
    np.testing.assert_allclose(l0, want, rtol=2e-5)

    restored = tr.Checkpointer(str(tmp_path / "ckpt"), save_every=1).restore(
        build(mesh, num_steps=STEPS)[1])
    for a, b in zip(jax.tree.leaves(jax.device_get(restored.params)),
                    jax.tree.leaves(jax.device_get(state.params))):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
