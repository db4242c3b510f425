"""CSDI imputation of ArrowHead (UCR; outlines of arrowheads unrolled into one series of
251 steps, z-normalised per series, 3 classes ignored here): whole series, 36 training and
175 held-out series. Each series is already z-normalised, so CSDI's plain normalisation
(``task.scaling="none"``) is kept; with 36 training series the batch is 8."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "ts:arrowhead"
    c.data.kwargs = {}
    c.data.batch_size = 8
    return c
