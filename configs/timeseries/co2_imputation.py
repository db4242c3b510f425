"""CSDI imputation of weekly Mauna Loa CO2 (statsmodels' co2, real gaps): windows of 48
weeks, half of the observed values hidden at evaluation (CSDI's 50% random protocol).
CO2 trends upwards and its held-out years lie above every training level, so each window
is modelled relative to the mean of its given values (``task.scaling="mean"``)."""

from configs.timeseries import defaults


def get_config():
    c = defaults.get_config()
    c.task.scaling = "mean"
    return c
