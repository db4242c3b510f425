"""CSDI imputation of BasicMotions (UEA; 6 accelerometer/gyroscope channels, 100 steps):
the feature transformer sees the six channels of each step, 50% of the values hidden at
evaluation."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "ts:basic_motions"
    c.data.kwargs = {}
    c.data.batch_size = 8
    c.model.kwargs.num_heads = 4
    return c
