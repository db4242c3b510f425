"""UCR/UEA classification sets bundled in the aeon wheel, with their own TRAIN/TEST splits.

Univariate sets come from the UCR time-series classification archive (Dau et al., "The
UCR time series archive", IEEE/CAA J. Autom. Sinica 2019), multivariate ones from the
UEA archive (Bagnall et al., "The UEA multivariate time series classification archive,
2018", arXiv:1811.00075). The series are stored z-normalised per series by the archives.

=================  =====  =====  ========  ======  =======================================
source             train  test   length    K       classes
=================  =====  =====  ========  ======  =======================================
italy_power_demand    67  1029        24   1       2 (Oct-Mar vs Apr-Sep days)
gunpoint              50   150       150   1       2 (gun draw, point)
arrowhead             36   175       251   1       3 (Avonlea, Clovis, Mix)
basic_motions         40    40       100   6       4 (Standing, Running, Walking,
                                                   Badminton)
japanese_vowels      270   370    7..29    12      9 speakers (unequal lengths)
=================  =====  =====  ========  ======  =======================================
"""

from __future__ import annotations

import os

from diffax import checks
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.tsformat import parse_ts
from diffax.data.timeseries.wheels import read_member

#: Source name -> the problem's folder and file stem in ``aeon/datasets/data``.
PROBLEMS = {
    "italy_power_demand": "ItalyPowerDemand",
    "gunpoint": "GunPoint",
    "arrowhead": "ArrowHead",
    "basic_motions": "BasicMotions",
    "japanese_vowels": "JapaneseVowels",
}
SPLITS = ("train", "test")


def load_ucr_uea(name: str, split: str = "train",
                 data_dir: str | os.PathLike | None = None) -> SeriesCollection:
    """The ``split`` (``"train"`` or ``"test"``, the archive's own split) of the
    classification set ``name`` (see :data:`PROBLEMS`), read from the aeon wheel.

    Channels are called ``"value"`` (univariate) or ``"dim_0"``, ``"dim_1"``, ...; class
    names are the ``@classLabel`` names of the file in header order.
    """
    checks.choice("ucr_uea", "name", name, PROBLEMS)
    checks.choice(name, "split", split, SPLITS)
    problem = PROBLEMS[name]
    member = f"aeon/datasets/data/{problem}/{problem}_{split.upper()}.ts"
    data = parse_ts(read_member("aeon", member, data_dir), source=member)
    k = data.series[0].shape[1]
    channels = ("value",) if k == 1 else tuple(f"dim_{i}" for i in range(k))
    return SeriesCollection(name, split, tuple(data.series), channels, labels=data.labels,
                            class_names=data.class_names, times=data.times)


__all__ = ["PROBLEMS", "SPLITS", "load_ucr_uea"]
