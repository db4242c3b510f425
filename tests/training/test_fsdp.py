"""FSDP on a 2-D (data x model) mesh: the same training as the replicated run, with the
parameter, optimizer and EMA leaves really split; sharded checkpoints; mesh errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.sharding import PartitionSpec as P

from diffax import nn, objectives
from diffax import training as tr
from diffax.processes import get_process
from diffax.training import sharding

STEPS, BATCH, MIN_SIZE = 20, 16, 256
NETS = {
    "unet": lambda: nn.get_network("unet", in_channels=1, channels=16, channel_mult=(1,),
                                   mid_attention=False, image_size=8, rngs=nnx.Rngs(0)),
    "dit": lambda: nn.get_network("dit", in_channels=1, image_size=8, patch=2, hidden=32,
                                  depth=2, heads=2, rngs=nnx.Rngs(0)),
}
GRAD_ACCUM = {"unet": 1, "dit": 2}  # the DiT runs also check accumulation under FSDP
# XLA:CPU's backend optimisations take half of the ~10 s compile of each train step here;
# both runs of a comparison compile the same way, and the shardings are jit_train_step's
FAST_COMPILE = {"xla_backend_optimization_level": 0}


def batches():
    rng = np.random.default_rng(0)
    return [{"x": rng.uniform(-1, 1, (BATCH, 8, 8, 1)).astype(np.float32)}
            for _ in range(STEPS)]


def run(net: str, mesh_shape):
    """(losses, final state) of STEPS steps of the EDM objective on ``net``; replicated on
    the 1-D mesh when ``mesh_shape`` is None, else FSDP on the 2-D mesh."""
    mesh = tr.make_mesh(shape=mesh_shape)
    tx, schedule = tr.make_optimizer(1e-3, num_steps=STEPS, warmup_steps=2)
    objective = objectives.get_objective("denoising", get_process("edm"), loss="edm",
                                         loss_kwargs={}, parameterization="edm",
                                         time_input="c_noise", sigma_data=0.5)
    graphdef, state = tr.create_train_state(NETS[net](), tx, seed=0, ema_decays=(0.9,),
                                            objective=objective)
    shardings = sharding.state_shardings(state, mesh, MIN_SIZE)
    state = jax.device_put(state, shardings)
    step = tr.make_train_step(graphdef, objective, tx, ema_decays=(0.9,), lr_schedule=schedule,
                              grad_accum_steps=GRAD_ACCUM[net])
    step = tr.jit_train_step(step, mesh, shardings)
    data = [tr.shard_batch(b, mesh) for b in batches()]
    step = step.lower(state, data[0]).compile(compiler_options=FAST_COMPILE)
    losses = []
    for b in data:
        state, metrics = step(state, b)
        losses.append(float(metrics["loss"]))  # also blocks every step (STACK.md)
    return np.asarray(losses), state, mesh


@pytest.fixture(scope="module")
def runs():
    return {("unet", None): run("unet", None), ("unet", (4, 2)): run("unet", (4, 2)),
            ("dit", None): run("dit", None), ("dit", (2, 4)): run("dit", (-1, 4))}


def max_diff(a, b) -> float:
    """Largest |a - b| over all leaves of two pytrees of the same structure."""
    pairs = zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b)),
                strict=True)
    return max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
               for x, y in pairs)


@pytest.mark.parametrize("net,shape", [("unet", (4, 2)), ("dit", (2, 4))])
def test_fsdp_training_equals_replicated(runs, net, shape):
    l_rep, s_rep, _ = runs[(net, None)]
    l_fsdp, s_fsdp, _ = runs[(net, shape)]
    assert np.all(np.isfinite(l_rep)) and l_rep[-1] < l_rep[0]
    # measured (20 steps): losses bitwise equal; max |diff| params 7.0e-7 (U-Net, 4x2) and
    # 5.7e-7 (DiT, 2x4), EMA 6.9e-7 / 3.8e-7, Adam moments 6.5e-9 / 5.6e-9
    np.testing.assert_allclose(l_fsdp, l_rep, rtol=0, atol=1e-5)
    assert max_diff(s_fsdp.params, s_rep.params) < 1e-5
    assert max_diff(s_fsdp.ema, s_rep.ema) < 1e-5
    assert max_diff(s_fsdp.opt_state, s_rep.opt_state) < 1e-5
    assert int(s_fsdp.step) == STEPS


@pytest.mark.parametrize("net,shape", [("unet", (4, 2)), ("dit", (2, 4))])
def test_large_leaves_are_split_over_the_model_axis(runs, net, shape):
    _, state, mesh = runs[(net, shape)]
    m = shape[1]
    sharded = 0
    for field in ("params", "ema", "opt_state"):
        for leaf in jax.tree.leaves(getattr(state, field)):
            shard_shape = leaf.addressable_shards[0].data.shape
            spec = sharding.fsdp_spec(leaf.shape, m, MIN_SIZE)
            if spec == P():
                assert shard_shape == leaf.shape
                assert leaf.size < MIN_SIZE or all(d % m for d in leaf.shape)
                continue
            dim = len(spec) - 1
            # the largest divisible dimension, split m ways; replicated over "data"
            assert leaf.shape[dim] == max(d for d in leaf.shape if d % m == 0)
            assert shard_shape == leaf.shape[:dim] + (leaf.shape[dim] // m,) + leaf.shape[dim + 1:]
            assert len({str(s.index) for s in leaf.addressable_shards}) == m
            sharded += 1
    assert sharded > 10
    assert state.params is not None and state.rng.sharding.is_fully_replicated


def test_sharded_checkpoint_restores_what_was_saved(runs, tmp_path):
    _, state, mesh = runs[("unet", (4, 2))]
    with tr.Checkpointer(str(tmp_path / "ckpt"), save_every=1, async_save=False) as ckpt:
        ckpt.save(state, step=STEPS)
        target = jax.tree.map(jnp.zeros_like, state)  # same shardings, other values
        restored = ckpt.restore(target)
        assert max_diff(restored, state) == 0.0
        for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
            assert a.sharding == b.sharding
        # onto the replicated 1-D mesh (sampling): the same values, the digest still checked
        rep = tr.replicate(target, tr.make_mesh())
        restored = ckpt.restore(rep)
        assert max_diff(restored, state) == 0.0
        assert all(a.sharding.is_fully_replicated for a in jax.tree.leaves(restored))


@pytest.mark.parametrize("saved_as", ["fsdp", "replicated"])
def test_restore_onto_another_layout_checks_the_digest(runs, tmp_path, monkeypatch, saved_as):
    """Saved as FSDP shards and restored replicated, or the reverse: every saved block is
    still hashed, so an altered value is caught (orbax alone would not notice, STACK.md)."""
    _, state, _ = runs[("unet", (4, 2))]
    replicated = tr.replicate(state, tr.make_mesh())
    saved, target = (state, replicated) if saved_as == "fsdp" else (replicated, state)
    ckpt = tr.Checkpointer(str(tmp_path / "ckpt"), save_every=1, async_save=False)
    ckpt.save(saved, step=STEPS)
    assert max_diff(ckpt.restore(target, step=STEPS), state) == 0.0
    real_restore = ckpt.manager.restore

    def restore_with_one_value_changed(step, args=None):
        out = real_restore(step, args=args)
        flat, treedef = jax.tree_util.tree_flatten_with_path(out["default"])
        leaves = [leaf for _, leaf in flat]
        # the largest leaf of Adam's first moment (FSDP-sharded when it was saved)
        i = max((i for i, (p, _) in enumerate(flat) if ".mu" in jax.tree_util.keystr(p)),
                key=lambda i: leaves[i].size)
        leaves[i] = leaves[i].at[(-1,) * leaves[i].ndim].add(1e-3)
        return {"default": jax.tree.unflatten(treedef, leaves), "digest": out["digest"]}

    monkeypatch.setattr(ckpt.manager, "restore", restore_with_one_value_changed)
    with pytest.raises(tr.CorruptCheckpointError, match=r"digest mismatch in 1 shard.*mu"):
        ckpt.restore(target, step=STEPS)
    ckpt.close()


def test_fsdp_spec_picks_the_largest_divisible_dimension():
    assert sharding.fsdp_spec((3, 3, 32, 64), 4, 16) == P(None, None, None, "model")
    assert sharding.fsdp_spec((3, 3, 64, 64), 4, 16) == P(None, None, "model")  # first on ties
    assert sharding.fsdp_spec((30, 64), 8, 16) == P(None, "model")  # 30 % 8 != 0
    assert sharding.fsdp_spec((30, 6), 4, 16) == P()                # nothing divisible
    assert sharding.fsdp_spec((64,), 4, 65) == P()                  # below the threshold
    assert sharding.fsdp_spec((64, 64), 1, 1) == P()                # no model axis


@pytest.mark.parametrize("shape,match", [((3, 2), "data x model = 6, but there are 8"),
                                         ((-1, 3), "model=3 does not divide the 8 devices"),
                                         ((0, 8), "expected \\(data, model\\)"),
                                         ((8,), "expected \\(data, model\\)")])
def test_bad_mesh_shape_is_a_clear_error(shape, match):
    with pytest.raises(ValueError, match=match):
        tr.make_mesh(shape=shape)


def test_default_mesh_and_data_sharding_are_unchanged():
    mesh = tr.make_mesh()
    assert mesh.axis_names == ("data",) and mesh.devices.shape == (8,)
    mesh2 = tr.make_mesh(shape=(-1, 2))
    assert dict(mesh2.shape) == {"data": 4, "model": 2}
    assert sharding.data_sharded(mesh2).spec == P("data")
    assert sharding.batch_sharded(mesh2).spec == P(("data", "model"))
    assert sharding.batch_sharded(mesh).spec == P("data")
