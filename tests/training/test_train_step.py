"""The sharded train step: data parallelism, non-finite guard, label dropout, bfloat16."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from toy_task import MIXTURE, PROCESS, batch_fn, build

from diffax import training as tr


def run_losses(mesh, num_steps=12, **kwargs):
    step, state, _ = build(mesh, num_steps=num_steps, **kwargs)
    batches, losses = batch_fn(), []
    for s in range(num_steps):
        state, metrics = step(state, tr.shard_batch(batches(s), mesh))
        losses.append(float(metrics["loss"]))
    return np.asarray(losses), state


def test_loss_trajectory_same_on_1_and_8_devices():
    assert len(jax.devices()) == 8
    l1, s1 = run_losses(tr.make_mesh(jax.devices()[:1]))
    l8, s8 = run_losses(tr.make_mesh())
    np.testing.assert_allclose(l8, l1, rtol=2e-5)
    w1 = jax.device_get(s1.params["out"]["kernel"][...])
    w8 = jax.device_get(s8.params["out"]["kernel"][...])
    np.testing.assert_allclose(w8, w1, rtol=1e-4, atol=1e-6)
    # the state really is replicated and the batch really split
    assert s8.params["out"]["kernel"][...].sharding.is_fully_replicated
    assert len(tr.shard_batch(batch_fn()(0), tr.make_mesh())["x"].addressable_shards) == 8


def test_training_approaches_the_exact_denoiser():
    mesh = tr.make_mesh()
    step, state, graphdef = build(mesh, num_steps=300, lr=1e-2)
    state = tr.fit(state, step, batch_fn(), mesh=mesh, num_steps=300, progress=False)
    apply = tr.network_apply(graphdef)
    key = jax.random.PRNGKey(5)
    x0 = MIXTURE.sample(key, 512)
    t = jnp.full((512,), 0.3)
    xt = PROCESS.perturb(x0, t, jax.random.normal(jax.random.PRNGKey(6), x0.shape))
    exact = MIXTURE.predict("eps", xt, t, PROCESS)
    for params, tol in ((state.params, 0.05), (tr.eval_params(state), 0.08)):
        pred = apply(params, state.buffers, xt, t)
        err = float(jnp.mean((pred - exact) ** 2))
        trivial = float(jnp.mean(exact ** 2))
        assert err < tol * trivial, (err, trivial)


def nan_on_step(k):
    from toy_task import eps_loss

    def loss(model_fn, batch, key):
        value, aux = eps_loss(model_fn, batch, key)
        bad = jnp.any(batch["x"] > 1e3)
        return jnp.where(bad, jnp.nan, value), aux

    def poisoned(step):
        b = batch_fn()(step)
        if step == k:
            b = {"x": np.full_like(b["x"], 1e4)}
        return b

    return loss, poisoned


def test_nonfinite_stop_freezes_state_and_raises(tmp_path):
    mesh = tr.make_mesh()
    loss, batches = nan_on_step(7)
    step, state, _ = build(mesh, num_steps=20, loss_fn=loss)
    ckpt = tr.Checkpointer(str(tmp_path / "ckpt"), save_every=5, async_save=False)
    with pytest.raises(tr.NonFiniteLossError, match="step 7"):
        tr.fit(state, step, batches, mesh=mesh, num_steps=20, checkpointer=ckpt,
               sync_every=4, progress=False)
    assert ckpt.all_steps() == [5]
    # the frozen state equals the state after the 7 good steps
    good_step, good, _ = build(mesh, num_steps=20, loss_fn=loss)
    halted = None
    s = good
    for i in range(12):
        s, _ = good_step(s, tr.shard_batch(batches(i), mesh))
        if i == 6:
            good_params = jax.device_get(s.params)
    halted = jax.device_get(s)
    assert bool(halted.halted) and int(halted.step) == 7 and int(halted.num_nonfinite) >= 1
    # bitwise: both come from the same compiled step on the same batches (a halted step
    # selects the old parameters unchanged)
    jax.tree.map(np.testing.assert_array_equal, halted.params, good_params)
    with pytest.raises(RuntimeError, match="halted"):
        ckpt.save(s, step=12)


def test_nonfinite_skip_continues():
    mesh = tr.make_mesh()
    loss, batches = nan_on_step(3)
    step, state, _ = build(mesh, num_steps=10, loss_fn=loss, nonfinite="skip")
    state = tr.fit(state, step, batches, mesh=mesh, num_steps=10, progress=False)
    assert int(state.step) == 10 and int(state.num_nonfinite) == 1 and not bool(state.halted)
    assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(jax.device_get(state.params)))


def test_bfloat16_compute_keeps_float32_state():
    mesh = tr.make_mesh(jax.devices()[:1])
    l32, _ = run_losses(mesh, num_steps=4)
    l16, s16 = run_losses(mesh, num_steps=4, compute_dtype=jnp.bfloat16)
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(s16.params))
    assert all(a.dtype == jnp.float32 for a in jax.tree.leaves(s16.opt_state)
               if jnp.issubdtype(a.dtype, jnp.floating))
    np.testing.assert_allclose(l16, l32, rtol=3e-2)
    assert not np.array_equal(l16, l32)  # bfloat16 really was used


def test_bad_policy_and_dropout():
    with pytest.raises(ValueError, match="valid choices"):
        build(tr.make_mesh(), nonfinite="ignore")
    with pytest.raises(ValueError, match=r"^shard_batch: global_batch_size must be an integer "
                                         r"multiple of \d+ \(the number of devices in the "
                                         r"mesh\), got global_batch_size=12\.$"):
        tr.shard_batch({"x": np.zeros((12, 2), np.float32)}, tr.make_mesh())
    # the runner's check of config.data.batch_size, before anything is built
    with pytest.raises(ValueError, match=r"^global_batch_size must be an integer multiple of "):
        tr.sharding.check_batch_size(12, tr.make_mesh())
