"""From a :class:`SeriesCollection` to a :class:`TimeSeriesDataset`.

Two modes:

* **windows** (``window=L``): every series is cut into windows of ``L`` steps with
  ``stride`` (:func:`~diffax.data.timeseries.windows.window_starts`); a series shorter
  than ``L`` is an error.
* **whole series** (``window=None``): every series is one example, padded at the end to
  ``pad_to`` steps (the longest series of the source); padded steps have
  ``observed_mask`` 0 and, when any padding is needed, ``"valid"`` 0.

Values are normalised with the given :class:`Normalizer` (fitted on the training
split), missing values become 0 with ``observed_mask`` 0. Windows without any observed
value are dropped with a warning that gives their count; a split left without any
window is an error.
"""

from __future__ import annotations

import warnings

import numpy as np

from diffax import checks
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.dataset import TimeSeriesDataset
from diffax.data.timeseries.normalize import Normalizer
from diffax.data.timeseries.windows import check_lengths, window_starts


def _pad(a: np.ndarray, length: int, fill) -> np.ndarray:
    if a.shape[0] == length:
        return a
    pad = np.full((length - a.shape[0],) + a.shape[1:], fill, dtype=a.dtype)
    return np.concatenate([a, pad])


def _times(collection: SeriesCollection, i: int, length: int) -> np.ndarray:
    if collection.times is None:
        return np.arange(length, dtype=np.float64)  # padding continues the step count
    return _pad(collection.times[i], length, collection.times[i][-1])


def assemble(collection: SeriesCollection, normalizer: Normalizer, *, name: str,
             window: int | None, stride: int | None = None, pad_to: int | None = None
             ) -> TimeSeriesDataset:
    """The dataset of ``collection``'s windows (or whole series, ``window=None``).

    Args:
      collection: one split of a source.
      normalizer: fitted on the training split (``Normalizer.identity`` for none).
      name: the dataset's name (e.g. ``"ts:co2"``).
      window: steps per window, or None for whole series.
      stride: steps between window starts (windows mode; default ``window``).
      pad_to: whole-series mode: the padded length (default: the longest series here);
        ``"valid"`` is returned when it exceeds the shortest series.
    """
    where = f"{name} (split {collection.split!r})"
    lengths = collection.lengths
    if window is None:
        if stride is not None:
            raise ValueError(f"{where}: stride={stride} needs a window; pass window=<steps> "
                             "or leave stride=None for whole series.")
        length = int(lengths.max()) if pad_to is None else checks.integer(
            where, "pad_to", pad_to, minimum=int(lengths.max()))
        padded = length > lengths.min()
        stored = [length] * collection.num_series
        starts = [np.zeros(1, np.int64) for _ in lengths]
    else:
        length = checks.positive_int(where, "window", window)
        stride = length if stride is None else checks.positive_int(where, "stride", stride)
        check_lengths(where, lengths, length)
        padded = False
        stored = lengths.tolist()
        starts = [window_starts(int(n), length, stride) for n in lengths]

    first_row = np.concatenate([[0], np.cumsum(stored)[:-1]]).astype(np.int64)
    raw = np.concatenate([_pad(s, n, np.nan) for s, n in zip(collection.series, stored)])
    observed = ~np.isnan(raw)
    values = np.where(observed, normalizer.normalize(np.where(observed, raw, 0.0)), 0.0)
    times = np.concatenate([_times(collection, i, n) for i, n in enumerate(stored)])

    series_index = np.concatenate([np.full(s.size, i) for i, s in enumerate(starts)])
    start = np.concatenate(starts)
    offsets = first_row[series_index] + start
    # Drop windows without any observed value (cumulative count of observed rows).
    seen = np.concatenate([[0], np.cumsum(observed.any(axis=1))])
    keep = seen[offsets + length] > seen[offsets]
    if not keep.all():
        if not keep.any():
            raise ValueError(f"{where}: none of the {keep.size} windows has an observed "
                             "value; nothing to train or evaluate on.")
        warnings.warn(f"{where}: dropped {int((~keep).sum())} of {keep.size} windows that "
                      "have no observed value.", stacklevel=2)
    series_index, start, offsets = series_index[keep], start[keep], offsets[keep]

    def per_step(parts, fill, dtype):
        if parts is None:
            return None
        return np.concatenate([_pad(np.asarray(p), n, fill) for p, n in zip(parts, stored)]
                              ).astype(dtype)

    valid = None
    if padded:
        valid = np.concatenate([_pad(np.ones(n), m, 0.0) for n, m in zip(lengths, stored)])
    labels = None if collection.labels is None else collection.labels[series_index]
    return TimeSeriesDataset(
        name=name, split=collection.split, values=values.astype(np.float32),
        mask=observed.astype(np.float32), times=times, offsets=offsets, length=length,
        normalizer=normalizer, channels=collection.channels, series_index=series_index,
        start=start, labels=None if labels is None else labels.astype(np.int32),
        class_names=collection.class_names,
        anomaly=per_step(collection.anomaly, 0, np.int32),
        valid=None if valid is None else valid.astype(np.float32),
        eval_target_mask=per_step(collection.eval_target_mask, False, np.float32),
        frequency=collection.frequency, time_unit=collection.time_unit)


__all__ = ["assemble"]
