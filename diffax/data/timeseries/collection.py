"""The raw form of a time-series source: :class:`SeriesCollection`.

Every named source (:mod:`diffax.data.timeseries.sources`) returns one collection per
split: a list of series, each a ``float64`` array of shape ``(length_i, channels)`` with
``NaN`` where a value is missing, plus whatever side information the source has (class
labels, per-step anomaly labels, real timestamps, an evaluation mask, a seasonal period).
Nothing is normalised or windowed here; :mod:`diffax.data.timeseries.dataset` does that.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from diffax import checks


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _per_series(where: str, name: str, values: Sequence[np.ndarray], lengths: list[int],
                dtype, trailing: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    if len(values) != len(lengths):
        raise ValueError(f"{where}: {name} must have one entry per series ({len(lengths)}), "
                         f"got {len(values)}.")
    out = []
    for i, (v, n) in enumerate(zip(values, lengths)):
        v = np.array(v, dtype=dtype)
        if v.shape != (n,) + trailing:
            raise ValueError(f"{where}: {name}[{i}] must have shape {(n,) + trailing} (the "
                             f"length of series {i}), got shape {v.shape}.")
        out.append(_frozen(v))
    return tuple(out)


@dataclasses.dataclass(frozen=True, eq=False)
class SeriesCollection:
    """The series of one split of a source, unnormalised, ``NaN`` for missing values.

    Attributes:
      name: the source (e.g. ``"gunpoint"``).
      split: the split (e.g. ``"train"``).
      series: ``float64`` arrays of shape ``(length_i, K)``, one per series, ``NaN``
        where a value is missing (``K`` = ``len(channels)`` for every series).
      channels: one name per channel.
      labels: ``int64`` class of each series, shape ``(N,)``, or None.
      class_names: the name of each class (``labels`` index it), or None.
      anomaly: per-step ``int8`` anomaly labels (1 anomalous, 0 normal), one
        ``(length_i,)`` array per series, or None.
      times: real timestamps of each step, one increasing ``float64`` ``(length_i,)``
        array per series in ``time_unit``, or None when the steps are regular (the time
        of step ``j`` is ``j``).
      eval_target_mask: per-value ``bool`` ``(length_i, K)`` arrays marking the observed
        values a benchmark hides and scores (PM2.5), or None.
      frequency: the seasonal period in steps where one is known (12 for monthly data
        with a yearly cycle), else None.
      time_unit: what one step (or one unit of ``times``) is, e.g. ``"month"``.
    """

    name: str
    split: str
    series: tuple[np.ndarray, ...]
    channels: tuple[str, ...]
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    anomaly: tuple[np.ndarray, ...] | None = None
    times: tuple[np.ndarray, ...] | None = None
    eval_target_mask: tuple[np.ndarray, ...] | None = None
    frequency: int | None = None
    time_unit: str = "step"

    def __post_init__(self):
        where = f"SeriesCollection {self.name!r} (split {self.split!r})"
        channels = tuple(str(c) for c in self.channels)
        if not channels:
            raise ValueError(f"{where}: channels must name at least one channel.")
        object.__setattr__(self, "channels", channels)
        k = len(channels)
        series = []
        for i, s in enumerate(self.series):
            s = np.array(s, dtype=np.float64)
            if s.ndim != 2 or s.shape[1] != k or s.shape[0] == 0:
                raise ValueError(f"{where}: series[{i}] must have shape (length >= 1, {k}) "
                                 f"for the {k} channels {list(channels)}, got shape "
                                 f"{s.shape}.")
            series.append(_frozen(s))
        if not series:
            raise ValueError(f"{where}: the collection holds no series.")
        object.__setattr__(self, "series", tuple(series))
        lengths = [s.shape[0] for s in series]
        self._check_labels(where)
        if self.anomaly is not None:
            anomaly = _per_series(where, "anomaly", self.anomaly, lengths, np.int8, ())
            for i, a in enumerate(anomaly):
                if a.size and (a.min() < 0 or a.max() > 1):
                    raise ValueError(f"{where}: anomaly[{i}] must hold 0 (normal) or 1 "
                                     f"(anomalous), got values in [{a.min()}, {a.max()}].")
            object.__setattr__(self, "anomaly", anomaly)
        if self.times is not None:
            times = _per_series(where, "times", self.times, lengths, np.float64, ())
            for i, t in enumerate(times):
                if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
                    raise ValueError(f"{where}: times[{i}] must be finite and strictly "
                                     "increasing.")
            object.__setattr__(self, "times", times)
        if self.eval_target_mask is not None:
            object.__setattr__(self, "eval_target_mask", _per_series(
                where, "eval_target_mask", self.eval_target_mask, lengths, bool, (k,)))
        if self.frequency is not None:
            object.__setattr__(self, "frequency",
                               checks.positive_int(where, "frequency", self.frequency))

    def _check_labels(self, where: str) -> None:
        if (self.labels is None) != (self.class_names is None):
            raise ValueError(f"{where}: pass both labels and class_names or neither.")
        if self.labels is None:
            return
        names = tuple(str(c) for c in self.class_names)
        labels = np.array(self.labels)
        if labels.shape != (len(self.series),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{where}: labels must be integers of shape "
                             f"({len(self.series)},), got dtype {labels.dtype} and shape "
                             f"{labels.shape}.")
        if labels.min() < 0 or labels.max() >= len(names):
            raise ValueError(f"{where}: labels must lie in [0, {len(names)}) (one per class "
                             f"name), got range [{labels.min()}, {labels.max()}].")
        object.__setattr__(self, "labels", _frozen(labels.astype(np.int64)))
        object.__setattr__(self, "class_names", names)

    @property
    def num_series(self) -> int:
        return len(self.series)

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    @property
    def lengths(self) -> np.ndarray:
        """``int64`` length of every series, shape ``(N,)``."""
        return np.array([s.shape[0] for s in self.series], dtype=np.int64)

    @property
    def num_missing(self) -> int:
        """How many values (step, channel) are ``NaN`` over all series."""
        return int(sum(np.isnan(s).sum() for s in self.series))

    def __repr__(self) -> str:
        lengths = self.lengths
        span = (f"{lengths[0]}" if lengths.min() == lengths.max()
                else f"{lengths.min()}..{lengths.max()}")
        return (f"SeriesCollection(name={self.name!r}, split={self.split!r}, "
                f"num_series={self.num_series}, length={span}, channels={self.num_channels}, "
                f"classes={None if self.class_names is None else len(self.class_names)}, "
                f"anomaly={self.anomaly is not None}, frequency={self.frequency})")


__all__ = ["SeriesCollection"]
