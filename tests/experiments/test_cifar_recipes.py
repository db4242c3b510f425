"""The CIFAR-10 recipes run: a few training steps of each on TFDS mock cifar10 (tiny
U-Net, batch 8) and sampling from the checkpoint; the EDM recipe trains with its
augmentation, whose labels reach the U-Net (augment_dim 9) and move its map_augment."""

import jax
import numpy as np
import pytest
from flax import nnx

from experiments import runner

tfds = pytest.importorskip("tensorflow_datasets")

TINY = dict(channels=8, channel_mult=(1,), num_res_blocks=1, attn_resolutions=())


def _tiny(path, nfe, n_steps=3):
    c = runner.load_config(path)
    c.model.kwargs.update(TINY)
    c.data.batch_size = 8
    c.optim.warmup_steps = 1
    c.training.update(n_steps=n_steps, log_every=1, ckpt_every=n_steps, sample_every=0,
                      progress=False)
    c.sampling.update(nfe=nfe, num_samples=8, grid_size=8)
    return c


@pytest.fixture(scope="module")
def mock_cifar():
    with tfds.testing.mock_data(num_examples=16):
        yield


def _train_and_sample(config, workdir):
    state = runner.train(config, workdir)
    n = config.training.n_steps
    assert int(state.step) == n
    losses = [r["loss"] for r in runner.training.read_metrics(workdir)]
    assert len(losses) == n and np.all(np.isfinite(losses))
    x = runner.sample(config, workdir, num_samples=8)
    assert x.shape == (8, 32, 32, 3) and np.all(np.isfinite(x))
    return state


@pytest.mark.slow
def test_edm_recipe(mock_cifar, tmp_path):
    # 4 steps: with zero-initialised output layers (U-Net out conv, then each residual
    # block's second conv) the gradient reaches the time embedding from the 4th step on
    config = _tiny("configs/image/cifar10_edm.py", nfe=3, n_steps=4)
    assert config.augment.p == 0.12 and config.sampling.sampler == "edm_heun"
    exp = runner.build(config)
    assert exp.network.augment_dim == 9
    # the train-step transform augments x and adds the labels; held-out batches get none
    batch = jax.tree.map(np.asarray, exp.batch(0))
    out = exp.task.batch_transform(config, exp.spec, train=True)(batch, jax.random.key(0))
    labels = np.asarray(out["augment_labels"])
    assert labels.shape == (8, 9)
    # exactly the images with non-zero labels changed (mock images are random pixels)
    np.testing.assert_array_equal(np.any(labels != 0, axis=1),
                                  np.any(np.asarray(out["x"]) != batch["x"], axis=(1, 2, 3)))
    assert exp.task.batch_transform(config, exp.spec, train=False) is None
    initial = np.asarray(nnx.state(exp.network, nnx.Param)["map_augment"]["kernel"][...])
    state = _train_and_sample(config, str(tmp_path))
    trained = np.asarray(state.params["map_augment"]["kernel"])
    assert trained.shape == (9, 8) and not np.allclose(trained, initial)


@pytest.mark.slow
def test_ddpmpp_vp_recipe(mock_cifar, tmp_path):
    config = _tiny("configs/image/cifar10_ddpmpp_vp.py", nfe=4)
    assert config.augment.p == 0.0 and config.data.flip
    state = _train_and_sample(config, str(tmp_path))
    assert "map_augment" not in state.params


def test_augment_section_is_validated():
    from experiments.config_checks import validate_config

    config = runner.load_config("configs/image/cifar10_edm.py")
    validate_config(config)
    config.augment.transforms = ("xflip", "shear")
    with pytest.raises(ValueError, match="config.augment is invalid: .*'shear'"):
        validate_config(config)
    config.augment.transforms = ("xflip",)
    config.augment.p = 1.5
    with pytest.raises(ValueError, match="config.augment is invalid: .*p must be"):
        validate_config(config)
