"""Class-conditional Fashion-MNIST with classifier-free guidance (Ho & Salimans, 2022).

The default EDM U-Net with a label embedding and a null label (index 10); labels are
dropped to the null label with probability 0.1 during training, and sampling mixes the
conditional and unconditional predictions with guidance scale w = 2 (w = 1: the plain
conditional model, w = 0: unconditional). The 10x10 sample grid cycles the labels 0-9,
so every column of ``samples/*.png`` is one class: T-shirt, trouser, pullover, dress,
coat, sandal, shirt, sneaker, bag, ankle boot. Override with e.g.
``--config.sampling.guidance_scale=4``. ``--mode=eval`` sweeps w over 0, 1, 2, 4 and
reports FD-FMNIST with the rate at which the FD-FMNIST classifier recognises the
requested class (``class_accuracy``), the usual fidelity/diversity trade-off.
"""

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.model.class_conditional = True
    c.training.label_dropout = 0.1
    c.sampling.guidance_scale = 2.0
    c.sampling.num_samples = 100
    c.sampling.grid_size = 100
    c.eval.nfes = (20,)
    c.eval.guidance_scales = (0.0, 1.0, 2.0, 4.0)
    return c
