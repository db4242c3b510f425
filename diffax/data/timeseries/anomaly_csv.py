"""Multivariate anomaly-detection benchmarks from local CSV files: SMD and PSM.

* **SMD**, Server Machine Dataset (Su et al., "Robust anomaly detection for multivariate
  time series through stochastic recurrent neural network", KDD 2019): 28 machines, 38
  metrics sampled every minute, about 5 weeks per machine split in half. Layout (as in
  the OmniAnomaly repository): ``train/<machine>.txt``, ``test/<machine>.txt`` (comma
  separated, no header, 38 columns) and ``test_label/<machine>.txt`` (one 0/1 per line).
  The training half has no labels; it is taken as normal (``anomaly`` all 0).
* **PSM**, Pooled Server Metrics (Abdulaal et al., "Practical approach to asynchronous
  multivariate time series anomaly detection and localization", KDD 2021): eBay server
  metrics, 25 features per minute; ``train.csv`` (132,481 rows, some values missing),
  ``test.csv`` (87,841 rows), ``test_label.csv`` (``timestamp_(min),label``). The first
  column of every file is the timestamp in minutes, kept as ``times``.

Each split is one long series; window it with the ``window``/``stride`` options of the
``"ts:smd"``/``"ts:psm"`` data sets.

Getting the files (needs internet once): SMD from
https://github.com/NetManAIOps/OmniAnomaly (folder ``ServerMachineDataset``; pass it as
``data_dir``); PSM from https://github.com/eBay/RANSynCoders (folder ``data``).
"""

from __future__ import annotations

import os

import numpy as np

from diffax import checks, filesystem
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.textio import read_numeric_csv, require_file

SPLITS = ("train", "test")
DEFAULT_MACHINE = "machine-1-1"
_SMD_HOW = ("Get the folder ServerMachineDataset of https://github.com/NetManAIOps/"
            "OmniAnomaly and pass it as data_dir; see docs/timeseries_data.md.")
_PSM_HOW = ("Get train.csv, test.csv and test_label.csv from the data folder of "
            "https://github.com/eBay/RANSynCoders and pass that folder as data_dir; see "
            "docs/timeseries_data.md.")


def _labels(values: np.ndarray, path: str) -> np.ndarray:
    if np.any(np.isnan(values)) or not np.all(np.isin(values, (0, 1))):
        raise ValueError(f"{path}: anomaly labels must be 0 or 1 in every row.")
    return values.astype(np.int8)


def smd_machines(data_dir: str | os.PathLike) -> list[str]:
    """The machine names (file stems) of ``<data_dir>/train``."""
    folder = require_file(filesystem.join(data_dir, "train"), "smd", _SMD_HOW)
    return sorted(p.stem for p in filesystem.as_path(folder).glob("*.txt"))


def load_smd(split: str = "train", data_dir: str | os.PathLike | None = None,
             machine: str = DEFAULT_MACHINE) -> SeriesCollection:
    """One SMD machine: ``split`` ``"train"`` (unlabelled, taken as normal) or ``"test"``
    (labelled), a single ``(T, 38)`` series with channels ``metric_0..metric_37``.

    Raises:
      FileNotFoundError: no ``data_dir``, or a missing file (unknown machines are named
        with the available ones).
      ValueError: malformed rows, a label file of another length.
    """
    checks.choice("smd", "split", split, SPLITS)
    if data_dir is None:
        raise FileNotFoundError(f"smd: pass data_dir=<ServerMachineDataset folder>. "
                                f"{_SMD_HOW}")
    path = filesystem.join(data_dir, split, f"{machine}.txt")
    if not filesystem.exists(path):
        checks.choice("smd", "machine", machine, smd_machines(data_dir))
        require_file(path, "smd", _SMD_HOW)
    _, values = read_numeric_csv(path, header=False)
    if split == "train":
        anomaly = np.zeros(values.shape[0], np.int8)
    else:
        label_path = require_file(filesystem.join(data_dir, "test_label", f"{machine}.txt"),
                                  "smd", _SMD_HOW)
        anomaly = _labels(read_numeric_csv(label_path, header=False)[1][:, 0], label_path)
        if anomaly.shape[0] != values.shape[0]:
            raise ValueError(f"smd: {label_path} has {anomaly.shape[0]} labels but {path} "
                             f"has {values.shape[0]} rows.")
    channels = tuple(f"metric_{i}" for i in range(values.shape[1]))
    return SeriesCollection(f"smd:{machine}", split, (values,), channels, anomaly=(anomaly,),
                            time_unit="minute")


def _psm_table(path: str) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    columns, values = read_numeric_csv(require_file(path, "psm", _PSM_HOW))
    if len(columns) < 2:
        raise ValueError(f"{path}: expected a timestamp column and feature columns, got "
                         f"columns {list(columns)}.")
    times = values[:, 0]
    if np.any(np.isnan(times)) or np.any(np.diff(times) <= 0):
        raise ValueError(f"{path}: the first column ({columns[0]!r}) must hold "
                         "increasing timestamps.")
    return times, columns[1:], values[:, 1:]


def load_psm(split: str = "train", data_dir: str | os.PathLike | None = None
             ) -> SeriesCollection:
    """PSM ``split`` (``"train"`` unlabelled, taken as normal; ``"test"`` labelled) as one
    series of the 25 features, ``times`` in minutes from the timestamp column.

    Raises:
      FileNotFoundError: no ``data_dir`` or a missing file.
      ValueError: malformed rows, test labels whose timestamps differ from test.csv's.
    """
    checks.choice("psm", "split", split, SPLITS)
    if data_dir is None:
        raise FileNotFoundError(f"psm: pass data_dir=<folder holding train.csv>. {_PSM_HOW}")
    path = filesystem.join(data_dir, f"{split}.csv")
    times, features, values = _psm_table(path)
    if split == "train":
        anomaly = np.zeros(values.shape[0], np.int8)
    else:
        label_path = filesystem.join(data_dir, "test_label.csv")
        label_times, _, labels = _psm_table(label_path)
        if not np.array_equal(label_times, times):
            raise ValueError(f"psm: the timestamps of {label_path} differ from those of "
                             f"{path}.")
        anomaly = _labels(labels[:, 0], label_path)
    return SeriesCollection("psm", split, (values,), features, anomaly=(anomaly,),
                            times=(times,), time_unit="minute")


__all__ = ["DEFAULT_MACHINE", "SPLITS", "load_psm", "load_smd", "smd_machines"]
