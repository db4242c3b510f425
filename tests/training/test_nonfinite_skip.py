"""The "skip" non-finite policy: a step whose loss is NaN leaves the parameters, the
optimizer state (Adam moments and its step count) and every EMA exactly as they were,
counts the step, and later steps train normally."""

import jax
import numpy as np
from test_train_step import nan_on_step
from toy_task import build

from diffax import training as tr


def test_skipped_step_leaves_params_optimizer_and_ema_unchanged():
    mesh = tr.make_mesh()
    loss, batches = nan_on_step(3)
    step, state, _ = build(mesh, num_steps=10, loss_fn=loss, nonfinite="skip",
                           ema_decays=(0.9, 0.99))
    states = [jax.device_get(state)]
    for i in range(6):
        state, metrics = step(state, tr.shard_batch(batches(i), mesh))
        states.append(jax.device_get(state))
        assert np.isnan(float(metrics["loss"])) == (i == 3)
    before, skipped, after = states[3], states[4], states[5]
    # bitwise: a skipped step selects the old values (a branch-free where) in the same
    # compiled program
    for name in ("params", "opt_state", "ema", "buffers"):
        jax.tree.map(np.testing.assert_array_equal, getattr(skipped, name),
                     getattr(before, name))
    assert int(skipped.step) == 4 and int(skipped.num_nonfinite) == 1
    assert not bool(skipped.halted)
    # the step after it trains (every parameter moves, the EMA follows) and stays finite
    changed = jax.tree.map(lambda a, b: bool(np.any(a != b)), after.params, skipped.params)
    assert all(jax.tree.leaves(changed))
    assert any(jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.any(a != b)), after.ema,
                                            skipped.ema)))
    assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(after.params))
    assert int(after.num_nonfinite) == 1
