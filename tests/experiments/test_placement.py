"""``training.mesh_shape`` (experiments.placement) through the runner: FSDP training on a
(4 x 2) mesh, resumed from a sharded checkpoint, equals the replicated run; bad mesh
settings fail validation."""

import os

import jax
import numpy as np
import pytest

from configs.toy import gmm2d
from diffax import training as tr
from experiments import runner
from experiments.config_checks import validate_config
from experiments.placement import place_state, train_mesh


def config(mesh_shape=(-1, 1), n_steps=16):
    c = gmm2d.get_config()
    c.model.kwargs = dict(hidden=64, depth=2, time_scale=1000.0)
    c.data.batch_size = 64
    c.training.n_steps = n_steps
    c.training.log_every = 8
    c.training.ckpt_every = 8
    c.training.sample_every = 0
    c.training.progress = False
    c.training.mesh_shape = mesh_shape
    c.training.fsdp_min_size = 1024
    return c


def test_train_mesh_and_placement_follow_the_config():
    mesh = train_mesh(config())
    assert mesh.axis_names == ("data",) and mesh.devices.size == 8  # today's 1-D mesh
    mesh = train_mesh(config((-1, 2)))
    assert dict(mesh.shape) == {"data": 4, "model": 2}
    state = {"params": np.zeros((64, 32), np.float32)}
    c = config((-1, 2))
    c.training.fsdp_min_size = 2048  # exactly the leaf's size: sharded
    big = place_state(c, tr.TrainState(*([state] * 9)), mesh).params["params"]
    assert big.addressable_shards[0].data.shape == (32, 32)
    c.training.fsdp_min_size = 2049
    assert place_state(c, tr.TrainState(*([state] * 9)), mesh).params["params"] \
        .sharding.is_fully_replicated


def test_fsdp_run_with_resume_equals_replicated_run(tmp_path):
    rep = runner.train(config(), str(tmp_path / "rep"))
    fsdp_dir = str(tmp_path / "fsdp")
    runner.train(config((4, 2), n_steps=8), fsdp_dir)
    resumed = config((4, 2))
    resumed.training.sample_every = 16  # a sample grid from the FSDP-sharded EMA parameters
    resumed.sampling.grid_size = 64
    fsdp = runner.train(resumed, fsdp_dir)  # resumes from the sharded step 8
    assert int(fsdp.step) == 16
    assert os.path.exists(os.path.join(fsdp_dir, "samples", "step_0000016.png"))
    kernels = [a for a in jax.tree.leaves(fsdp.params) if a.size >= 1024]
    assert kernels and all(a.addressable_shards[0].data.size == a.size // 2 for a in kernels)
    assert all(a.sharding.is_fully_replicated for a in jax.tree.leaves(rep.params))
    # measured: max |diff| 4.5e-8 over params and EMA
    for x, y in zip(jax.tree.leaves(jax.device_get((fsdp.params, fsdp.ema))),
                    jax.tree.leaves(jax.device_get((rep.params, rep.ema))), strict=True):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-5)
    _, _, restored = runner.restore(config((4, 2)), fsdp_dir)  # placed as training placed it
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(fsdp), strict=True):
        assert a.sharding == b.sharding
        np.testing.assert_array_equal(jax.device_get(a), jax.device_get(b))
    x = runner.sample(config((4, 2)), fsdp_dir, num_samples=12)  # rows over "data" only
    x_rep = runner.sample(config(), str(tmp_path / "rep"), num_samples=12)
    assert x.shape == (12, 2) and np.max(np.abs(x_rep)) > 0.5
    # measured: 1.1e-4 with samples up to 237 in size (16 steps of training), 4.5e-7 of the
    # scale; the same parameters sampled on the 2-D and on the 1-D mesh differ as much (float
    # rounding of two XLA programs; scaling the parameters by 1 + 1e-7 moves them by 6e-5)
    scale = float(np.max(np.abs(x_rep)))
    np.testing.assert_allclose(x, x_rep, rtol=0, atol=2e-6 * scale)


@pytest.mark.parametrize("field,value,match", [
    ("mesh_shape", (3, 2), "data x model = 6, but there are 8 devices"),
    ("mesh_shape", (-1, 3), "model=3 does not divide the 8 devices"),
    ("mesh_shape", (8,), "expected \\(data, model\\)"),
    ("mesh_shape", (-1, 0), "model >= 1"),
    ("fsdp_min_size", 0, "expected an integer >= 1")])
def test_bad_mesh_settings_fail_validation(field, value, match):
    c = config()
    c.training[field] = value
    with pytest.raises(ValueError, match=f"config.training.{field}=.*{match}"):
        validate_config(c)
