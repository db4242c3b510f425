"""--mode=inverse plumbing on a tiny Fashion-MNIST U-Net (trained 2 steps): operators,
measurement consistency of replacement, outputs written, bad tasks named."""

import json
import os

import jax
import numpy as np
import pytest

from configs.image import fashion_mnist_inpaint, fashion_mnist_sr4
from experiments import inverse_problems, runner


def tiny(config):
    config.model.kwargs.channels = 8
    config.model.kwargs.channel_mult = (1, 2)
    config.model.kwargs.attn_resolutions = ()
    config.data.batch_size = 8
    config.training.n_steps = 2
    config.training.sample_every = 0
    config.training.ckpt_every = 2
    config.training.progress = False
    config.inverse.num_images = 4
    config.inverse.nfe = 6
    return config


def test_inverse_mode_writes_grids_and_replacement_matches_the_measurement(tmp_path):
    c = tiny(fashion_mnist_inpaint.get_config())
    runner.train(c, str(tmp_path))
    c.inverse.method = "replacement"
    c.inverse.options = {}
    rec = inverse_problems.solve(c, str(tmp_path))
    # replacement ends on the (noisy) measurement at the observed pixels, whatever the model
    assert rec["measurement_rmse"] < 0.02 and rec["nfe"] == 6
    assert os.path.exists(rec["png"])
    on_disk = json.load(open(rec["png"].replace(".png", ".json")))
    assert on_disk["psnr_db"] == pytest.approx(rec["psnr_db"])
    assert fashion_mnist_sr4.get_config().inverse.task == "sr4"


def test_operators_and_psnr():
    op = inverse_problems.make_operator("inpaint_box", (28, 28, 1), jax.random.PRNGKey(0))
    assert float(op.mask.mean()) == pytest.approx(1 - 14 * 14 / 784)
    x = np.zeros((2, 28, 28, 1), np.float32)
    assert inverse_problems.psnr(x + 0.2, x)[0] == pytest.approx(10 * np.log10(4 / 0.04))
    with pytest.raises(ValueError, match="valid choices"):
        inverse_problems.make_operator("deblur", (28, 28, 1), jax.random.PRNGKey(0))
