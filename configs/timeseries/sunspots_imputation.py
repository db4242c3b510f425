"""CSDI imputation of the yearly mean sunspot numbers 1700-2008 (statsmodels' sunspots,
period 11): windows of 33 years (three solar cycles, the source's default), 215 training
windows; the held-out last 62 years tile into 2 windows. The cycle is stationary in level,
so CSDI's plain normalisation (``task.scaling="none"``) is kept."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "ts:sunspots"
    c.data.kwargs = dict(window=33)
    return c
