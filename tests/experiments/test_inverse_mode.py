"""--mode=inverse and the guidance sweep of --mode=eval on one tiny class-conditional
Fashion-MNIST U-Net (initial parameters): operators, measurement consistency of
replacement (the null label makes the model unconditional), outputs written, bad tasks
named; one eval record per guidance scale with the class accuracy."""

import copy
import json
import os

import jax
import numpy as np
import pytest

from configs.image import fashion_mnist_inpaint, fashion_mnist_sr4
from experiments import inverse_problems, runner


def tiny(config):
    config.model.class_conditional = True
    config.training.label_dropout = 0.1
    config.model.kwargs.channels = 8
    config.model.kwargs.channel_mult = (1, 2)
    config.model.kwargs.attn_resolutions = ()
    config.data.batch_size = 8
    config.inverse.num_images = 4
    config.inverse.nfe = 6
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A step-0 checkpoint of the tiny network: the plumbing under test does not need a
    trained model, and skipping the train step's compile halves the test's time."""
    workdir = str(tmp_path_factory.mktemp("tiny_fmnist"))
    c = tiny(fashion_mnist_inpaint.get_config())
    tx, _ = runner._optimizer(c)
    _, state = runner._initial_state(runner.build(c), tx)
    ckpt = runner._checkpointer(c, workdir)
    ckpt.save(state, step=0)
    ckpt.close()
    return c, workdir


@pytest.mark.slow
def test_inverse_mode_writes_grids_and_replacement_matches_the_measurement(trained):
    c, workdir = trained
    c = copy.deepcopy(c)
    c.inverse.method = "replacement"
    c.inverse.options = {}
    rec = inverse_problems.solve(c, workdir)
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


@pytest.mark.slow
def test_eval_sweeps_guidance_scales(trained):
    c, workdir = trained
    c = copy.deepcopy(c)
    c.eval.num_samples = 20
    c.eval.num_batches = 1
    c.eval.nfes = (4,)
    c.eval.metrics = ("sliced_w2",)
    c.eval.guidance_scales = (1.0, 3.0)
    c.eval.likelihood_num_examples = 0
    res = runner.evaluate(c, workdir)
    assert [r["guidance_scale"] for r in res["samples"]] == [1.0, 3.0]
    for r in res["samples"]:
        assert 0.0 <= r["class_accuracy_worst"] <= r["class_accuracy"] <= 1.0
        assert r["features"].startswith("FD-FMNIST") and r["sliced_w2"] > 0


def test_operators_fit_the_task_data_or_say_which_fits():
    """inpaint_random masks data of any shape (a series window here); the image
    operators name the shape they got and the operator that fits."""
    op = inverse_problems.make_operator("inpaint_random", (48, 6), jax.random.PRNGKey(0))
    assert op.mask.shape == (48, 6) and 0.2 < float(op.mask.mean()) < 0.4
    for task in ("inpaint_box", "sr4"):
        with pytest.raises(ValueError, match=r"shape \(48, 6\).*inpaint_random"):
            inverse_problems.make_operator(task, (48, 6), jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="valid choices"):
        inverse_problems.make_operator("deblur", (28, 28, 1), jax.random.PRNGKey(0))
