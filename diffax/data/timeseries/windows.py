"""Where the windows of a series start.

A series of ``length`` steps cut into windows of ``window`` steps with ``stride`` has
windows starting at ``0, stride, 2 * stride, ...`` up to ``length - window``; when the
last of those does not end at the end of the series, one more window
``[length - window, length)`` is added, so the windows always cover the series to its
end (with ``stride <= window``: every step is in some window). With ``stride ==
window`` (the evaluation default) the windows tile the series and only the added last
window overlaps its neighbour.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from diffax import checks


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """``int64`` start of every window (see the module docstring); ``length >= window``."""
    length = checks.positive_int("window_starts", "length", length)
    window = checks.positive_int("window_starts", "window", window)
    stride = checks.positive_int("window_starts", "stride", stride)
    if length < window:
        raise ValueError(f"window_starts: a series of length {length} is shorter than the "
                         f"window {window}.")
    starts = np.arange(0, length - window + 1, stride, dtype=np.int64)
    if starts[-1] != length - window:
        starts = np.append(starts, length - window)
    return starts


def check_lengths(where: str, lengths: Sequence[int], window: int) -> None:
    """Raise ``ValueError`` if a series is shorter than ``window``, naming the first such
    series, its length, the shortest length and the option to change."""
    lengths = np.asarray(lengths)
    short = np.flatnonzero(lengths < window)
    if short.size:
        i = int(short[0])
        raise ValueError(f"{where}: series {i} has length {int(lengths[i])}, shorter than "
                         f"window={window} ({short.size} of {lengths.size} series are; the "
                         f"shortest has {int(lengths.min())} steps). Pass window=<at most "
                         f"{int(lengths.min())}>, or window=None for whole series padded "
                         "to the longest.")


__all__ = ["check_lengths", "window_starts"]
