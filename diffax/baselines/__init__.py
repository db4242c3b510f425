"""Non-learned baselines to compare diffusion models against (time series: imputation,
forecasting and anomaly scores; see :mod:`diffax.baselines.timeseries`)."""

from diffax.baselines.timeseries import (last_value_forecast, linear_forecast,
                                         linear_interpolate, mean_impute,
                                         reconstruction_error_scores, seasonal_naive_forecast)

__all__ = ["last_value_forecast", "linear_forecast", "linear_interpolate", "mean_impute",
           "reconstruction_error_scores", "seasonal_naive_forecast"]
