"""``TimeSeriesDataset``: windows of normalised series behind the Dataset protocol.

An example is a window of ``L`` steps of ``K`` channels. ``get(indices)`` returns

* ``"x"``: ``float32`` (B, L, K), normalised values, **0 where missing**;
* ``"observed_mask"``: ``float32`` (B, L, K), 1 where a value was observed, 0 where it
  is missing or padding (``NaN`` never reaches a batch);
* ``"time"``: ``float32`` (B, L), the time of each step relative to the window's first
  step, in ``time_unit`` (``0, 1, ..., L - 1`` for regular series; real time differences
  for sources with timestamps);
* ``"label"``: ``int32`` (B,), the class of the window's series (classification sets);
* ``"anomaly"``: ``int32`` (B, L), per-step anomaly labels (anomaly sets);
* ``"valid"``: ``float32`` (B, L), 1 on real steps and 0 on padding (whole-series mode
  when the series have different lengths);
* ``"eval_target_mask"``: ``float32`` (B, L, K), the observed values a benchmark hides
  and scores (PM2.5 with ``pm25_missing.txt``).

The windows are gathered at ``get`` time from the stored series (one copy of the data,
however many overlapping windows), so stride-1 windows of long series are cheap.
``series_index`` and ``start`` say where every example comes from; ``mean``/``std``
(from the training split) and :meth:`denormalize` map values back to the data's units.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from diffax.data.base import ArraySpec
from diffax.data.timeseries.normalize import Normalizer


@dataclasses.dataclass(frozen=True, eq=False)
class TimeSeriesDataset:
    """Windows of a normalised time-series split; build it with
    :func:`diffax.data.timeseries.assemble.assemble` or ``get_dataset("ts:<source>")``.

    Attributes:
      name, split: registry name (e.g. ``"ts:co2"``) and split.
      values: ``float32`` (R, K) stored steps (every series, padded in whole-series
        mode), normalised, 0 where missing.
      mask: ``float32`` (R, K), 1 where observed.
      times: ``float64`` (R,), time of every stored step.
      offsets: ``int64`` (N,), stored row of each example's first step.
      length: ``L``, steps per example.
      normalizer: the training split's :class:`Normalizer`.
      channels: channel names (``K``).
      series_index, start: ``int64`` (N,), the series and the step within it where each
        example starts.
      labels: ``int32`` (N,) class of each example, with ``class_names``; or None.
      anomaly: ``int32`` (R,) per-step anomaly labels, or None.
      valid: ``float32`` (R,), 0 on padding, or None (no padding).
      eval_target_mask: ``float32`` (R, K), or None.
      frequency: seasonal period in steps, or None. time_unit: unit of ``"time"``.
    """

    name: str
    split: str
    values: np.ndarray
    mask: np.ndarray
    times: np.ndarray
    offsets: np.ndarray
    length: int
    normalizer: Normalizer
    channels: tuple[str, ...]
    series_index: np.ndarray
    start: np.ndarray
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    anomaly: np.ndarray | None = None
    valid: np.ndarray | None = None
    eval_target_mask: np.ndarray | None = None
    frequency: int | None = None
    time_unit: str = "step"

    def __post_init__(self):
        where = f"TimeSeriesDataset {self.name!r} (split {self.split!r})"
        r, k = self.values.shape
        if self.mask.shape != (r, k) or self.times.shape != (r,) or k != len(self.channels):
            raise ValueError(f"{where}: values {self.values.shape}, mask {self.mask.shape}, "
                             f"times {self.times.shape} and {len(self.channels)} channels "
                             "do not fit together.")
        if self.offsets.size == 0:
            raise ValueError(f"{where}: the dataset has no example.")
        if self.offsets.min() < 0 or self.offsets.max() + self.length > r:
            raise ValueError(f"{where}: example offsets must lie in [0, {r - self.length}].")
        if self.normalizer.mean.shape != (k,):
            raise ValueError(f"{where}: the normalizer has {self.normalizer.mean.size} "
                             f"channels, the data {k}.")

    # ---- the Dataset protocol --------------------------------------------------------------
    @property
    def num_examples(self) -> int:
        return int(self.offsets.size)

    @property
    def shape(self) -> tuple[int, int]:
        """``(L, K)``: steps and channels of one example."""
        return (int(self.length), len(self.channels))

    @property
    def is_image(self) -> bool:
        return False

    @property
    def num_classes(self) -> int | None:
        return None if self.labels is None else len(self.class_names)

    @property
    def element_spec(self) -> dict[str, ArraySpec]:
        f32, i32 = np.dtype(np.float32), np.dtype(np.int32)
        length, k = self.shape
        spec = {"x": ArraySpec((length, k), f32), "observed_mask": ArraySpec((length, k), f32),
                "time": ArraySpec((length,), f32)}
        if self.labels is not None:
            spec["label"] = ArraySpec((), i32)
        if self.anomaly is not None:
            spec["anomaly"] = ArraySpec((length,), i32)
        if self.valid is not None:
            spec["valid"] = ArraySpec((length,), f32)
        if self.eval_target_mask is not None:
            spec["eval_target_mask"] = ArraySpec((length, k), f32)
        return spec

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """The examples at ``indices`` (1-D integers), stacked (keys: module docstring)."""
        indices = np.asarray(indices)
        rows = self.offsets[indices][:, None] + np.arange(self.length)
        time = self.times[rows]
        out = {"x": self.values[rows], "observed_mask": self.mask[rows],
               "time": (time - time[:, :1]).astype(np.float32)}
        if self.labels is not None:
            out["label"] = self.labels[indices]
        if self.anomaly is not None:
            out["anomaly"] = self.anomaly[rows]
        if self.valid is not None:
            out["valid"] = self.valid[rows]
        if self.eval_target_mask is not None:
            out["eval_target_mask"] = self.eval_target_mask[rows]
        return out

    # ---- mapping back ----------------------------------------------------------------------
    @property
    def mean(self) -> np.ndarray:
        """``float64`` (K,) per-channel mean of the training split's observed values."""
        return self.normalizer.mean

    @property
    def std(self) -> np.ndarray:
        """``float64`` (K,) per-channel standard deviation (see ``normalize.py``)."""
        return self.normalizer.std

    def denormalize(self, x: Any) -> Any:
        """Model-space values (..., K) back to the data's units: ``x * std + mean``."""
        return self.normalizer.denormalize(x)

    def normalize(self, x: Any) -> Any:
        """Data-unit values (..., K) to model space: ``(x - mean) / std``."""
        return self.normalizer.normalize(x)

    def __repr__(self) -> str:
        return (f"TimeSeriesDataset(name={self.name!r}, split={self.split!r}, "
                f"num_examples={self.num_examples}, shape={self.shape}, "
                f"num_classes={self.num_classes}, keys={sorted(self.element_spec)})")


__all__ = ["TimeSeriesDataset"]
