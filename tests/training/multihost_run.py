"""One process of a simulated multi-host run (used by test_multihost.py).

usage: python multihost_run.py PROCESS_ID NUM_PROCESSES PORT OUT_DIR NUM_STEPS
Each process owns 2 CPU devices, joins the others through jax.distributed (gloo),
feeds only its own rows of every global batch, trains the toy task, checkpoints with
orbax into OUT_DIR/ckpt and writes its loss trajectory to OUT_DIR/losses_<id>.npy.
"""

import os
import sys

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")   # the tests' compile flags
                           + " --xla_force_host_platform_device_count=2").strip()
os.environ["JAX_PLATFORMS"] = "cpu"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402

jax.config.update("jax_cpu_collectives_implementation", "gloo")


def main(pid: int, nproc: int, port: int, out: str, steps: int) -> None:
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=nproc,
                               process_id=pid)
    import numpy as np
    from toy_task import batch_fn, build

    from diffax import training as tr

    mesh = tr.make_mesh()
    assert jax.device_count() == 2 * nproc and jax.process_count() == nproc
    step, state, _ = build(mesh, num_steps=steps)
    global_batches = batch_fn()
    rows = 64 // nproc
    losses = []
    ckpt = tr.Checkpointer(os.path.join(out, "ckpt"), save_every=steps, async_save=False)
    for s in range(steps):
        local = {k: v[pid * rows:(pid + 1) * rows] for k, v in global_batches(s).items()}
        state, metrics = step(state, tr.shard_batch(local, mesh))
        losses.append(float(metrics["loss"]))
    ckpt.save(state, step=steps)
    ckpt.close()
    np.save(os.path.join(out, f"losses_{pid}.npy"), np.asarray(losses))
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
