"""Anomaly-detection series bundled in the aeon wheel (per-step labels ``is_anomaly``).

* ``kdd_tsad_135``: series 135 of the UCR/KDD-Cup 2021 anomaly archive
  ("InternalBleeding16", univariate, 7,501 steps, one labelled anomaly of 12 steps at
  4187..4198). The archive's TRAIN file is the anomaly-free prefix (steps 0..1199) and
  its TEST file the *whole* series; here ``"train"`` is the prefix and ``"test"`` the 6,301
  steps after it (1200..7500), so the splits do not overlap (positions in ``"test"`` are
  shifted by 1,200 from the file's timestamps).
* ``daphnet``: recording S06R02E0 of the Daphnet freezing-of-gait set (Bachlin et al.
  2010) as prepared for TSB-UAD: 7,040 steps at 64 Hz (110 s) of 9 accelerometer channels
  (ankle, upper leg, trunk; horizontal forward, vertical, horizontal lateral; in mg).
  This recording has **no** labelled anomaly (``is_anomaly`` is 0 throughout): it
  serves imputation and generation, not detection scores. Split chronologically (last
  20 % ``"test"``).
"""

from __future__ import annotations

import os

import numpy as np

from diffax import checks
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.splits import chronological_bounds
from diffax.data.timeseries.textio import parse_csv
from diffax.data.timeseries.wheels import read_member

SPLITS = ("train", "test")
_KDD = "aeon/datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_{}.csv"
_DAPHNET = "aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv"
DAPHNET_CHANNELS = ("ankle_horiz_fwd", "ankle_vert", "ankle_horiz_lateral", "leg_horiz_fwd",
                    "leg_vert", "leg_horiz_lateral", "trunk_horiz_fwd", "trunk_vert",
                    "trunk_horiz_lateral")


def _labelled(member: str, data_dir, columns: tuple[str, ...]
              ) -> tuple[np.ndarray, np.ndarray]:
    table = parse_csv(read_member("aeon", member, data_dir), member)
    values = table.numbers(columns)
    labels = table.numbers(["is_anomaly"])[:, 0]
    return values, labels.astype(np.int8)


def load_kdd_tsad_135(split: str = "train", data_dir: str | os.PathLike | None = None
                      ) -> SeriesCollection:
    """UCR anomaly series 135 (InternalBleeding16): ``"train"`` 1,200 normal steps,
    ``"test"`` the 6,301 steps after them with 12 anomalous steps."""
    checks.choice("kdd_tsad_135", "split", split, SPLITS)
    train, train_labels = _labelled(_KDD.format("TRAIN"), data_dir, ("value",))
    if split == "train":
        values, labels = train, train_labels
    else:
        full, full_labels = _labelled(_KDD.format("TEST"), data_dir, ("value",))
        if not np.array_equal(full[:len(train)], train):
            raise ValueError("kdd_tsad_135: the TEST file does not start with the TRAIN "
                             "series; is this the wheel pinned in requirements-data.lock?")
        values, labels = full[len(train):], full_labels[len(train):]
    return SeriesCollection("kdd_tsad_135", split, (values,), ("value",), anomaly=(labels,))


def load_daphnet(split: str = "train", data_dir: str | os.PathLike | None = None
                 ) -> SeriesCollection:
    """Daphnet recording S06R02E0, 9 channels at 64 Hz, chronological 80/20 split."""
    checks.choice("daphnet", "split", split, SPLITS)
    values, labels = _labelled(_DAPHNET, data_dir, DAPHNET_CHANNELS)
    part = chronological_bounds(values.shape[0], split)
    return SeriesCollection("daphnet", split, (values[part],), DAPHNET_CHANNELS,
                            anomaly=(labels[part],), time_unit="1/64 s")


__all__ = ["DAPHNET_CHANNELS", "SPLITS", "load_daphnet", "load_kdd_tsad_135"]
