"""Classic single long series for forecasting and imputation, from the aeon and
statsmodels wheels, split chronologically (:func:`~diffax.data.timeseries.splits.
chronological_bounds`: the last 20 % of the steps are ``"test"``).

===========  =======================  ============  =====  ====  ===========  ==========
source       what                     steps         train  test  K            frequency
===========  =======================  ============  =====  ====  ===========  ==========
airline      monthly international    1949-01 ..      115    29  1            12
             airline passengers       1960-12
             (thousands; Box-Jenkins)
co2          weekly Mauna Loa CO2     1958-03-29 ..  1827   457  1            52
             (ppmv); 59 weeks missing 2001-12-29
sunspots     yearly mean sunspot      1700 .. 2008    247    62  1            11
             number
macrodata    US quarterly macro       1959Q1 ..       162    41  10 (below)   4
             series                   2009Q3
===========  =======================  ============  =====  ====  ===========  ==========

macrodata keeps the ten measured series :data:`MACRO_COLUMNS` (real GDP, consumption,
investment, federal government spending and disposable income in billions of chained
2005 dollars at seasonally adjusted annual rates, CPI with 1982-84 = 100, nominal M1,
the 3-month T-bill rate in %, unemployment in %, population in millions); it drops
``year``/``quarter`` (the time axis) and ``infl``/``realint``, which are computed from
``cpi`` and ``tbilrate``.
"""

from __future__ import annotations

import os

import numpy as np

from diffax import checks
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.splits import chronological_bounds
from diffax.data.timeseries.textio import parse_csv, parse_datetime
from diffax.data.timeseries.wheels import read_member

SPLITS = ("train", "test")
MACRO_COLUMNS = ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1",
                 "tbilrate", "unemp", "pop")
_SECONDS_PER_DAY = 86400.0


def _split(name: str, split: str, values: np.ndarray, channels: tuple[str, ...],
           frequency: int, time_unit: str) -> SeriesCollection:
    checks.choice(name, "split", split, SPLITS)
    part = chronological_bounds(values.shape[0], split)
    return SeriesCollection(name, split, (values[part],), channels, frequency=frequency,
                            time_unit=time_unit)


def _table(package: str, member: str, data_dir):
    return parse_csv(read_member(package, member, data_dir), member)


def load_airline(split: str = "train", data_dir: str | os.PathLike | None = None
                 ) -> SeriesCollection:
    """Monthly airline passengers 1949-1960 (thousands), 144 steps, period 12."""
    table = _table("aeon", "aeon/datasets/data/Airline/Airline.csv", data_dir)
    months = table.strings("Date")
    if months[0] != "1949-01" or len(months) != 144:
        raise ValueError(f"airline: expected 144 months from 1949-01, got {len(months)} "
                         f"from {months[0]}.")
    return _split("airline", split, table.numbers(["Passengers"]), ("passengers",), 12,
                  "month")


def load_co2(split: str = "train", data_dir: str | os.PathLike | None = None
             ) -> SeriesCollection:
    """Weekly atmospheric CO2 at Mauna Loa 1958-2001 (ppmv), 2,284 weeks of which 59 are
    missing (``NaN``), period 52."""
    table = _table("statsmodels", "statsmodels/datasets/co2/co2.csv", data_dir)
    days = np.array([parse_datetime(f"{d[:4]}-{d[4:6]}-{d[6:8]}")
                     for d in table.strings("date")]) / _SECONDS_PER_DAY
    if np.any(np.diff(days) != 7):
        raise ValueError("co2: the dates of co2.csv are not consecutive weeks.")
    return _split("co2", split, table.numbers(["co2"]), ("co2",), 52, "week")


def load_sunspots(split: str = "train", data_dir: str | os.PathLike | None = None
                  ) -> SeriesCollection:
    """Yearly mean sunspot numbers 1700-2008, 309 steps, period 11 (the solar cycle)."""
    table = _table("statsmodels", "statsmodels/datasets/sunspots/sunspots.csv", data_dir)
    years = table.numbers(["YEAR"])[:, 0]
    if np.any(np.diff(years) != 1):
        raise ValueError("sunspots: the years of sunspots.csv are not consecutive.")
    return _split("sunspots", split, table.numbers(["SUNACTIVITY"]), ("sunactivity",), 11,
                  "year")


def load_macrodata(split: str = "train", data_dir: str | os.PathLike | None = None
                   ) -> SeriesCollection:
    """US quarterly macroeconomic series 1959Q1-2009Q3, 203 steps, the ten channels
    :data:`MACRO_COLUMNS`, period 4."""
    table = _table("statsmodels", "statsmodels/datasets/macrodata/macrodata.csv", data_dir)
    quarter = table.numbers(["year", "quarter"]) @ np.array([4.0, 1.0])
    if np.any(np.diff(quarter) != 1):
        raise ValueError("macrodata: the quarters of macrodata.csv are not consecutive.")
    return _split("macrodata", split, table.numbers(MACRO_COLUMNS), MACRO_COLUMNS, 4,
                  "quarter")


__all__ = ["MACRO_COLUMNS", "SPLITS", "load_airline", "load_co2", "load_macrodata",
           "load_sunspots"]
