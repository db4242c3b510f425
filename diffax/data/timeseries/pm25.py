"""Beijing PM2.5 air quality (36 stations, hourly), in the layout CSDI uses.

The data (Yi et al., "ST-MVL: filling missing values in geo-sensory time series data",
IJCAI 2016; the benchmark protocol of Tashiro et al., "CSDI", NeurIPS 2021) are hourly
PM2.5 concentrations (ug/m^3) of 36 Beijing monitoring stations from 2014-05-01 to
2015-04-30 (8,759 hours), about 13 % missing. Two CSV files with a ``datetime`` column
and one column per station id, empty cells (or ``NaN``) for missing values:

* ``pm25_ground.txt``: the measurements (``NaN`` = never measured);
* ``pm25_missing.txt`` (optional): the same table with additional values removed;
  the removed values, observed in the ground file but missing here, are the ones the
  benchmark scores. They come back as ``eval_target_mask`` (1 = scored).

Series and split (the protocol's months): each calendar month is one series; the months
3, 6, 9 and 12 (March, June, September, December) are ``"test"``, the other eight
``"train"``. ``times`` are hours since 1970-01-01, so rows absent from the file keep
their real spacing. Period 24 (daily cycle).

Getting the files (needs internet once): CSDI's ``download.py pm25`` unpacks
``STMVL-Release.zip`` (https://www.microsoft.com/en-us/research/project/urban-air/);
pass ``data_dir=<...>/Code/STMVL/SampleData``, the folder holding ``pm25_ground.txt``.
"""

from __future__ import annotations

import os

import numpy as np

from diffax import checks, filesystem
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.textio import parse_datetime, read_csv, require_file

SPLITS = ("train", "test")
TEST_MONTHS = (3, 6, 9, 12)
GROUND_FILE = "pm25_ground.txt"
MISSING_FILE = "pm25_missing.txt"
_HOW = ("Get Code/STMVL/SampleData from STMVL-Release.zip (CSDI's download.py pm25) and "
        "pass data_dir=<that folder>; see docs/timeseries_data.md.")


def _read(path: str) -> tuple[np.ndarray, list[str], tuple[str, ...], np.ndarray]:
    """(hours since epoch, the datetime strings, station columns, values (T, K))."""
    table = read_csv(path)
    if "datetime" not in table.columns:
        raise ValueError(f"{path}: expected a 'datetime' column, got columns "
                         f"{list(table.columns)[:5]}...")
    stamps = table.strings("datetime")
    try:
        hours = np.array([parse_datetime(s) for s in stamps]) / 3600.0
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    stations = tuple(c for c in table.columns if c != "datetime")
    if not stations:
        raise ValueError(f"{path}: no station columns besides 'datetime'.")
    if np.any(np.diff(hours) <= 0):
        raise ValueError(f"{path}: the datetimes must increase from row to row.")
    return hours, stamps, stations, table.numbers(stations)


def _month_of(stamp: str) -> tuple[int, int]:
    year, month = stamp.replace("/", "-").split("-")[:2]
    return int(year), int(month)


def load_pm25(split: str = "train", data_dir: str | os.PathLike | None = None
              ) -> SeriesCollection:
    """The months of ``split`` as series of shape ``(hours in month, 36)``, with
    ``eval_target_mask`` when ``pm25_missing.txt`` is present.

    Raises:
      FileNotFoundError: ``data_dir`` is None or has no ``pm25_ground.txt``.
      ValueError: malformed files, or a missing file whose rows or stations differ from
        the ground file's.
    """
    checks.choice("pm25", "split", split, SPLITS)
    if data_dir is None:
        raise FileNotFoundError(f"pm25: pass data_dir=<folder holding {GROUND_FILE}>. {_HOW}")
    ground_path = require_file(filesystem.join(data_dir, GROUND_FILE), "pm25", _HOW)
    hours, stamps, stations, values = _read(ground_path)
    hidden = None
    missing_path = filesystem.join(data_dir, MISSING_FILE)
    if filesystem.exists(missing_path):
        m_hours, _, m_stations, m_values = _read(missing_path)
        if m_stations != stations or not np.array_equal(m_hours, hours):
            raise ValueError(f"pm25: {missing_path} must have the same datetimes and "
                             f"stations as {ground_path}.")
        if np.any(~np.isnan(m_values) & np.isnan(values)):
            raise ValueError(f"pm25: {missing_path} has values where {ground_path} has "
                             "none; is it the matching file?")
        hidden = ~np.isnan(values) & np.isnan(m_values)
    months = np.array([_month_of(s) for s in stamps])  # (T, 2): year, month
    keys = months[:, 0] * 12 + months[:, 1]
    in_test = np.isin(months[:, 1], TEST_MONTHS)
    wanted = list(dict.fromkeys(keys[in_test == (split == "test")].tolist()))
    if not wanted:
        raise ValueError(f"pm25: {ground_path} has no rows in the {split!r} months "
                         f"({'' if split == 'test' else 'not '}in {TEST_MONTHS}).")
    rows = [np.flatnonzero(keys == k) for k in wanted]
    return SeriesCollection(
        "pm25", split, tuple(values[r] for r in rows), stations,
        times=tuple(hours[r] for r in rows),
        eval_target_mask=None if hidden is None else tuple(hidden[r] for r in rows),
        frequency=24, time_unit="hour")


__all__ = ["GROUND_FILE", "MISSING_FILE", "SPLITS", "TEST_MONTHS", "load_pm25"]
