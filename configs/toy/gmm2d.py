"""2-D Gaussian mixture (exact score known: compare with diffax.analytic)."""

from configs.toy import defaults


def get_config():
    return defaults.get_config()
