"""Run the toy training task with checkpoints; used by test_checkpointing.py as a
subprocess that gets SIGKILLed mid-run and then resumed.

usage: python resumable_run.py WORKDIR NUM_STEPS SAVE_EVERY STEP_DELAY_S
Writes WORKDIR/final.npz with the final parameters when it finishes.
"""

import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # noqa: E402
import numpy as np  # noqa: E402
from toy_task import batch_fn, build  # noqa: E402

from diffax import training as tr  # noqa: E402


def main(workdir: str, num_steps: int, save_every: int, delay: float) -> None:
    mesh = tr.make_mesh()
    step, state, _ = build(mesh, num_steps=num_steps)
    ckpt = tr.Checkpointer(os.path.join(workdir, "ckpt"), save_every=save_every, max_to_keep=2)
    if ckpt.latest_step() is not None:
        state = ckpt.restore(state)
        print(f"resumed at step {int(state.step)}", flush=True)
    hooks = (tr.Hook(1, lambda s, st: time.sleep(delay), at_end=False),) if delay else ()
    state = tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=num_steps, checkpointer=ckpt,
                   hooks=hooks, progress=False, sync_every=1 if delay else 16)
    ckpt.close()
    flat = jax.tree.leaves(jax.device_get((state.params, state.ema, state.opt_state)))
    np.savez(os.path.join(workdir, "final.npz"), *flat)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
