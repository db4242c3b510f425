"""4x super-resolution of Fashion-MNIST test images (7x7 -> 28x28) with the default
unconditional model and PiGDM.

    python -m experiments.main --config=configs/image/fashion_mnist_sr4.py \
        --workdir=runs/default --mode=inverse
"""

import ml_collections

from configs.image import fashion_mnist_inpaint


def get_config():
    c = fashion_mnist_inpaint.get_config()
    c.inverse.task = "sr4"
    c.inverse.method = "pigdm"
    c.inverse.options = ml_collections.ConfigDict(dict(prior_variance=0.25))
    return c
