"""The named time-series sources: how to read each one and its defaults.

Each :class:`Source` reads one split as a :class:`SeriesCollection` with
``read(split, data_dir=..., **extra)``. Bundled sources read the pinned aeon/statsmodels
wheels (``data_dir``: the folder holding the wheels, see
:mod:`~diffax.data.timeseries.wheels`); local sources read benchmark files the user
downloaded (``data_dir``: their folder, see ``docs/timeseries_data.md``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

from diffax import checks
from diffax.data.timeseries import anomaly_bundled, anomaly_csv, forecasting, physionet, pm25
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.ucr_uea import load_ucr_uea


@dataclasses.dataclass(frozen=True)
class Source:
    """A named source.

    Attributes:
      name: e.g. ``"co2"`` (registered as ``"ts:co2"``).
      read: ``read(split, data_dir=None, **extra) -> SeriesCollection``.
      splits: the splits it has (``"train"`` first).
      window: default window length (None: whole series).
      extra: source-specific options and their defaults (e.g. SMD's ``machine``).
      length: the length of every series when fixed and known (whole-series mode then
        needs no scan of the other splits for the padded length).
      local: True when the files come from the user (``data_dir`` required).
    """

    name: str
    read: Callable[..., SeriesCollection]
    splits: tuple[str, ...]
    window: int | None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    length: int | None = None
    local: bool = False


def _ucr(name: str, length: int | None) -> Source:
    return Source(name, functools.partial(load_ucr_uea, name), ("train", "test"), None,
                  length=length)


SOURCES: dict[str, Source] = {s.name: s for s in (
    _ucr("italy_power_demand", 24),
    _ucr("gunpoint", 150),
    _ucr("arrowhead", 251),
    _ucr("basic_motions", 100),
    _ucr("japanese_vowels", None),
    Source("airline", forecasting.load_airline, ("train", "test"), 24),
    Source("co2", forecasting.load_co2, ("train", "test"), 104),
    Source("sunspots", forecasting.load_sunspots, ("train", "test"), 33),
    Source("macrodata", forecasting.load_macrodata, ("train", "test"), 16),
    Source("kdd_tsad_135", anomaly_bundled.load_kdd_tsad_135, ("train", "test"), 100),
    Source("daphnet", anomaly_bundled.load_daphnet, ("train", "test"), 128),
    Source("physionet", physionet.load_physionet, physionet.SPLITS, None,
           extra={"attributes": None}, length=physionet.HOURS, local=True),
    Source("pm25", pm25.load_pm25, pm25.SPLITS, 36, local=True),
    Source("smd", anomaly_csv.load_smd, anomaly_csv.SPLITS, 100,
           extra={"machine": anomaly_csv.DEFAULT_MACHINE}, local=True),
    Source("psm", anomaly_csv.load_psm, anomaly_csv.SPLITS, 100, local=True),
)}


def source_names() -> list[str]:
    """Every source name, in registration order."""
    return list(SOURCES)


def read_source(name: str, split: str = "train", data_dir=None, **extra) -> SeriesCollection:
    """Split ``split`` of source ``name`` as raw series (no normalisation, no windows)."""
    checks.choice("time-series data", "source", name, SOURCES)
    return SOURCES[name].read(split, data_dir=data_dir, **extra)


__all__ = ["SOURCES", "Source", "read_source", "source_names"]
