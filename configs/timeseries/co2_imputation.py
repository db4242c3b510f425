"""CSDI imputation of weekly Mauna Loa CO2 (statsmodels' co2, real gaps): windows of 48
weeks, half of the observed values hidden at evaluation (CSDI's 50% random protocol)."""

from configs.timeseries import defaults


def get_config():
    return defaults.get_config()
