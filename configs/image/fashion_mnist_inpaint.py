"""Inpainting Fashion-MNIST test images with the default unconditional model.

    python -m experiments.main --config=configs/image/fashion_mnist_inpaint.py \
        --workdir=runs/default --mode=inverse

The model section is the default config's (train it first with ``make run``); the
``inverse`` section picks the task (the central 14x14 box is missing), the solver
(diffax.inverse: dps, pigdm, replacement, repaint, red_diff, steered), its NFE and options.
Writes runs/default/inverse/inpaint_box_<method>_nfe<N>.png (rows: measurement,
reconstruction, ground truth) and a JSON with PSNR.
"""

import ml_collections

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.inverse = inv = ml_collections.ConfigDict()
    inv.task = "inpaint_box"         # inpaint_box | inpaint_random | sr4
    inv.method = "dps"               # any diffax.inverse solver
    inv.nfe = 100                    # steps of the solver (NFE for one-call-per-step methods)
    inv.schedule = "karras"          # diffax.samplers schedule name
    inv.noise_std = 0.05             # measurement noise sigma_y (model space, [-1, 1])
    inv.num_images = 16
    inv.seed = 0
    inv.options = ml_collections.ConfigDict(dict(zeta=1.0))
    return c
