"""CSDI imputation of the ten US quarterly macroeconomic series 1959Q1-2009Q3
(statsmodels' macrodata: GDP, consumption, investment, ..., CPI, M1, T-bill rate,
unemployment, population): windows of 16 quarters x 10 channels, 147 training windows;
the held-out last 41 quarters tile into 3 windows. The feature transformer sees the ten
channels of each quarter. Most channels grow, and the held-out decade lies above every
training level, so each window and channel is modelled relative to the mean of its given
values (``task.scaling="mean"``, as for CO2)."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "ts:macrodata"
    c.data.kwargs = dict(window=16)
    c.task.scaling = "mean"
    return c
