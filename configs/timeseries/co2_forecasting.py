"""Probabilistic forecasting of weekly CO2: windows of two years (104 weeks), the last 13
weeks (a quarter) are the target; compared with the last value, the seasonal naive
forecast (period 52 weeks) and a linear trend of the context."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.task.name = "ts_forecasting"
    c.task.horizon = 13
    c.task.scaling = "mean"             # a trending series (see co2_imputation.py)
    c.data.kwargs = dict(window=104)
    return c
