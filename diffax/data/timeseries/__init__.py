"""Time series: offline real sources, local benchmark loaders, windows, normalisation.

* Sources (:mod:`~diffax.data.timeseries.sources`): UCR/UEA classification sets, classic
  forecasting series and anomaly sets bundled in the pinned aeon/statsmodels wheels
  (``make data``), and loaders for PhysioNet 2012, Beijing PM2.5, SMD and PSM files a
  user downloaded. Each returns a :class:`SeriesCollection` of raw series (``NaN`` =
  missing).
* :func:`load_timeseries` / ``get_dataset("ts:<source>")``: a split as a
  :class:`TimeSeriesDataset` of windows (or whole padded series) with
  ``{"x", "observed_mask", "time"[, "label", "anomaly", "valid", "eval_target_mask"]}``,
  normalised with the training split's per-channel mean/std.
* :mod:`~diffax.data.timeseries.masks`: target masks for imputation/forecasting.

See ``docs/timeseries_data.md`` for every source's size, split and units.
"""

from diffax.data.timeseries.assemble import assemble
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.dataset import TimeSeriesDataset
from diffax.data.timeseries.loader import TS_PREFIX, load_timeseries, timeseries_loaders
from diffax.data.timeseries.normalize import Normalizer
from diffax.data.timeseries.sources import SOURCES, Source, read_source, source_names
from diffax.data.timeseries.tsformat import TsData, TsFormatError, format_ts, parse_ts, read_ts
from diffax.data.timeseries.windows import window_starts

__all__ = [
    "SOURCES", "SeriesCollection", "Normalizer", "Source", "TS_PREFIX", "TimeSeriesDataset",
    "TsData", "TsFormatError", "assemble", "format_ts", "load_timeseries", "parse_ts",
    "read_source", "read_ts", "source_names", "timeseries_loaders", "window_starts",
]
