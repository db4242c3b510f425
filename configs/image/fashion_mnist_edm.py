"""Fashion-MNIST, EDM preconditioning and loss, small DDPM++-style U-Net: the CPU run of
``make run`` (the image defaults)."""

from configs.image import defaults


def get_config():
    return defaults.get_config()
