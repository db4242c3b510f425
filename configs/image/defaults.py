"""Defaults for image experiments (the image task on top of ``configs/defaults.py``).

Per-experiment files import ``get_config`` from here and override a few fields; any field
can also be overridden on the command line, e.g. ``--config.training.n_steps=2000``.
The defaults are the CPU-sized Fashion-MNIST EDM run that ``make run`` trains: a
0.28M-parameter U-Net (channels 16) for 1200 steps at batch 64, about 10 minutes on two
CPU cores (0.5 s/step), whose samples are recognisable garments (shirts, trousers, shoes,
bags). FD/KID use the Fashion-MNIST classifier's features (``eval.features="auto"``);
the likelihood is dequantized bits/dim of test images.
"""

import ml_collections

from configs import defaults


def get_config() -> ml_collections.ConfigDict:
    c = defaults.get_config()
    c.task.name = "image"
    c.data.name = "fashion_mnist"     # diffax.data.get_dataset name ("tfds:cifar10", ...)
    c.model.name = "unet"
    c.model.kwargs = ml_collections.ConfigDict(dict(
        channels=16, channel_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(7,),
        dropout=0.0, embedding="sinusoidal", time_scale=250.0))

    # EDM's non-leaky augmentation (Karras et al. 2022, App. F.2; diffax.data.edm_augment):
    # each transform with probability p (those in `always`: 1 while p > 0), its labels given
    # to the U-Net (augment_dim is derived). p = 0: off. EDM's CIFAR-10 recipe: p = 0.12.
    c.augment = a = ml_collections.ConfigDict()
    a.p = 0.0
    a.transforms = ("xflip", "yflip", "scale", "rotate_frac", "aniso", "translate_frac")
    a.always = ("xflip",)
    return c
