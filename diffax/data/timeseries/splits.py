"""Deterministic splits for sources that do not come with a train/test split.

* :func:`chronological_split`: one long series is cut in time; the last
  ``round(test_fraction * length)`` steps (20 % by default) are ``"test"``, the steps
  before them ``"train"``. The splits do not overlap; a forecaster takes its context from
  inside each window.
* :func:`record_split`: independent records (PhysioNet patients) are assigned to
  ``"train"``/``"valid"``/``"test"`` by a fixed permutation of their sorted ids.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from diffax import checks

#: Fraction of a chronologically split series that is held out as ``"test"``.
TEST_FRACTION = 0.2
#: Seed of :func:`record_split`'s permutation.
RECORD_SPLIT_SEED = 2012


def chronological_bounds(length: int, split: str, test_fraction: float = TEST_FRACTION
                         ) -> slice:
    """The steps of ``split`` (``"train"`` or ``"test"``) of a series of ``length`` steps:
    ``test`` is the last ``floor(test_fraction * length + 0.5)`` steps."""
    checks.choice("chronological_split", "split", split, ("train", "test"))
    num_test = int(math.floor(test_fraction * length + 0.5))
    if not 0 < num_test < length:
        raise ValueError(f"chronological_split: a series of {length} steps cannot be split "
                         f"with test_fraction={test_fraction} (it would leave {num_test} "
                         "test steps).")
    cut = length - num_test
    return slice(0, cut) if split == "train" else slice(cut, length)


def record_split(ids: Sequence, split: str, fractions: tuple[float, float, float] = (
        0.7, 0.1, 0.2), seed: int = RECORD_SPLIT_SEED) -> list:
    """The ids of ``split`` (``"train"``, ``"valid"`` or ``"test"``): ``sorted(ids)`` is
    permuted with ``numpy.random.default_rng(seed)``; the first
    ``round(fractions[0] * n)`` are train, the next ``round(fractions[1] * n)`` valid,
    the rest test. Each split is returned in sorted order."""
    checks.choice("record_split", "split", split, ("train", "valid", "test"))
    ordered = sorted(ids)
    n = len(ordered)
    order = np.random.default_rng(seed).permutation(n)
    num_train = int(math.floor(fractions[0] * n + 0.5))
    num_valid = int(math.floor(fractions[1] * n + 0.5))
    part = {"train": order[:num_train], "valid": order[num_train:num_train + num_valid],
            "test": order[num_train + num_valid:]}[split]
    return [ordered[i] for i in sorted(part)]


__all__ = ["RECORD_SPLIT_SEED", "TEST_FRACTION", "chronological_bounds", "record_split"]
