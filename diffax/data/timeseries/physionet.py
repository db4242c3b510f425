"""PhysioNet/Computing in Cardiology Challenge 2012 ICU records, in CSDI's layout.

The data (Silva et al., "Predicting in-hospital mortality of ICU patients: the
PhysioNet/Computing in Cardiology Challenge 2012", CinC 2012) are 4,000 ICU stays of
``set-a``, each a file ``<RecordID>.txt`` of lines ``Time,Parameter,Value`` with ``Time``
as ``HH:MM`` since admission. CSDI (Tashiro et al., "CSDI: Conditional score-based
diffusion models for probabilistic time series imputation", NeurIPS 2021) uses them as
an imputation benchmark: 35 time-series variables, hourly over the first 48 hours, so
each record is a ``(48, 35)`` array with about 80 % of the values missing.

Binning (this module's rule): a measurement at ``HH:MM`` goes to hour ``HH``; hours
>= 48 are dropped; if a variable is measured several times within one hour, the last
line of the file wins. The static descriptors at 00:00 (``RecordID``, ``Age``, ``Gender``,
``Height``, ``ICUType``, ``Weight``) and any variable not selected are ignored.

Channels: :data:`ATTRIBUTES`, the 37 challenge time-series variables without
``MechVent`` (a 0/1 ventilation flag) and ``Weight`` (also a static descriptor), in
alphabetical order (case-insensitive). Units are the challenge's (e.g. HR in bpm, Temp
in degrees C, GCS points).

Split: no official one; :func:`~diffax.data.timeseries.splits.record_split` assigns the
sorted record ids 70 % ``"train"``, 10 % ``"valid"``, 20 % ``"test"`` with a fixed seed.

Getting the files (needs internet once): download ``set-a.tar.gz`` from
https://physionet.org/content/challenge-2012/1.0.0/ and unpack it, so that
``<data_dir>/set-a/132539.txt`` exists (CSDI's ``download.py physio`` produces the same
layout under ``data/physio``).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from diffax import checks, filesystem
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.splits import record_split
from diffax.data.timeseries.textio import require_file

#: The 35 variables (channels), alphabetical.
ATTRIBUTES = tuple(sorted((
    "Albumin", "ALP", "ALT", "AST", "Bilirubin", "BUN", "Cholesterol", "Creatinine",
    "DiasABP", "FiO2", "GCS", "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "MAP", "Mg",
    "Na", "NIDiasABP", "NIMAP", "NISysABP", "PaCO2", "PaO2", "pH", "Platelets", "RespRate",
    "SaO2", "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC"), key=str.lower))
#: Every time-series variable of the challenge (``attributes`` may pick any of them).
ALL_VARIABLES = tuple(sorted(ATTRIBUTES + ("MechVent", "Weight"), key=str.lower))
HOURS = 48
SPLITS = ("train", "valid", "test")
_HOW = ("Download set-a.tar.gz from https://physionet.org/content/challenge-2012/1.0.0/ "
        "and unpack it so that <data_dir>/set-a/<RecordID>.txt exist; see "
        "docs/timeseries_data.md.")


def check_attributes(attributes: Sequence[str] | None) -> tuple[str, ...]:
    """``attributes`` as a tuple (default :data:`ATTRIBUTES`); every name must be one of
    :data:`ALL_VARIABLES` and appear once."""
    if attributes is None:
        return ATTRIBUTES
    if isinstance(attributes, str) or not len(attributes):
        raise ValueError(f"physionet: attributes must be a non-empty list of variable "
                         f"names, got attributes={attributes!r}.")
    for name in attributes:
        checks.choice("physionet", "attribute", name, ALL_VARIABLES)
    if len(set(attributes)) != len(attributes):
        raise ValueError(f"physionet: attributes must not repeat a name, got "
                         f"attributes={list(attributes)}.")
    return tuple(attributes)


def parse_record(text: str, attributes: Sequence[str] = ATTRIBUTES,
                 source: str = "<record>") -> np.ndarray:
    """The ``(48, len(attributes))`` ``float64`` hourly array of one record file's text,
    ``NaN`` where nothing was measured (binning rules in the module docstring)."""
    column = {name: k for k, name in enumerate(attributes)}
    out = np.full((HOURS, len(attributes)), np.nan)
    lines = text.splitlines()
    if not lines or lines[0].replace(" ", "") != "Time,Parameter,Value":
        raise ValueError(f"{source}: the first line must be 'Time,Parameter,Value', got "
                         f"{lines[0][:40] if lines else ''!r}.")
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != 3:
            raise ValueError(f"{source}, line {number}: expected Time,Parameter,Value, got "
                             f"{line!r}.")
        time, name, value = (f.strip() for f in fields)
        k = column.get(name)
        if k is None:
            continue
        hours, _, minutes = time.partition(":")
        try:
            hour, value = int(hours), float(value)
            int(minutes)
        except ValueError:
            raise ValueError(f"{source}, line {number}: expected HH:MM and a number, got "
                             f"{line!r}.") from None
        if 0 <= hour < HOURS:
            out[hour, k] = value
    return out


def record_ids(data_dir: str | os.PathLike) -> list[int]:
    """The sorted record ids of ``<data_dir>/set-a``."""
    folder = filesystem.join(data_dir, "set-a")
    require_file(folder, "physionet", _HOW)
    ids = []
    for path in filesystem.as_path(folder).glob("*.txt"):
        if path.stem.isdigit():
            ids.append(int(path.stem))
    if not ids:
        raise FileNotFoundError(f"physionet: no <RecordID>.txt files in {folder!r}. {_HOW}")
    return sorted(ids)


def load_physionet(split: str = "train", data_dir: str | os.PathLike | None = None,
                   attributes: Sequence[str] | None = None) -> SeriesCollection:
    """The records of ``split`` (``"train"``, ``"valid"`` or ``"test"``) as ``(48, K)``
    hourly series, ``K = len(attributes)`` (default the 35 :data:`ATTRIBUTES`).

    Raises:
      FileNotFoundError: ``data_dir`` is None, or has no ``set-a`` folder of records
        (the message says how to get them).
      ValueError: an unknown attribute, a malformed record file.
    """
    checks.choice("physionet", "split", split, SPLITS)
    attributes = check_attributes(attributes)
    if data_dir is None:
        raise FileNotFoundError(f"physionet: pass data_dir=<folder holding set-a/>. {_HOW}")
    ids = record_split(record_ids(data_dir), split)
    if not ids:
        raise ValueError(f"physionet: split {split!r} is empty; {data_dir!r} holds too few "
                         "records.")
    folder = filesystem.join(data_dir, "set-a")
    series = []
    for rid in ids:
        path = filesystem.join(folder, f"{rid}.txt")
        series.append(parse_record(filesystem.read_text(path), attributes, path))
    return SeriesCollection("physionet", split, tuple(series), attributes, frequency=24,
                            time_unit="hour")


__all__ = ["ALL_VARIABLES", "ATTRIBUTES", "HOURS", "SPLITS", "check_attributes",
           "load_physionet", "parse_record", "record_ids"]
