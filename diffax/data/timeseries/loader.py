"""``load_timeseries(source, split, ...)``: a named source as a :class:`TimeSeriesDataset`,
and the ``"ts:<source>"`` loaders of :func:`diffax.data.get_dataset`.

Options (every ``"ts:*"`` data set):

* ``window``: steps per example; ``None`` = whole series, padded to the longest series
  of the source (any split). The default depends on the source (:data:`SOURCES`).
* ``stride``: steps between window starts; default 1 for ``"train"`` and ``window`` for
  the other splits (non-overlapping evaluation windows; a last window aligned with the
  series' end is always added).
* ``normalize``: per-channel standardisation with the training split's observed mean
  and std (default True); False leaves the values as they are (mean 0, std 1 stored).
* ``data_dir``: bundled sources: the folder holding the pinned wheels (default
  ``$DIFFAX_DATA_WHEELS`` or ``.venv/share/diffax-data``); local benchmarks: the folder
  of the downloaded files (required).

plus ``attributes`` (``"ts:physionet"``) and ``machine`` (``"ts:smd"``).
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable

from diffax import checks
from diffax.data.timeseries.assemble import assemble
from diffax.data.timeseries.dataset import TimeSeriesDataset
from diffax.data.timeseries.normalize import Normalizer
from diffax.data.timeseries.sources import SOURCES

#: Prefix of the time-series names in :func:`diffax.data.get_dataset`.
TS_PREFIX = "ts:"


class _SourceDefault:
    def __repr__(self) -> str:
        return "<the source's default>"


_SOURCE_DEFAULT: Any = _SourceDefault()


def load_timeseries(source: str, split: str = "train", *, window: int | None = _SOURCE_DEFAULT,
                    stride: int | None = None, normalize: bool = True,
                    data_dir: str | os.PathLike | None = None, **extra: Any
                    ) -> TimeSeriesDataset:
    """Split ``split`` of ``source`` (see :data:`SOURCES`) as windows (module docstring for
    the options; ``extra``: the source's own options).

    Raises:
      ValueError: unknown source, split or option; a series shorter than ``window``;
        no usable window; a channel never observed in training (with ``normalize``).
      FileNotFoundError: missing wheels or benchmark files (the message says how to get
        them).
    """
    checks.choice("time-series data", "source", source, SOURCES)
    spec = SOURCES[source]
    name = TS_PREFIX + source
    checks.choice(name, "split", split, spec.splits)
    unknown = sorted(set(extra) - set(spec.extra))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; this source's own options: "
                         f"{sorted(spec.extra)}.")
    window = spec.window if window is _SOURCE_DEFAULT else window
    if window is not None:
        window = checks.positive_int(name, "window", window)
    if stride is not None:
        stride = checks.positive_int(name, "stride", stride)
    normalize = checks.boolean(name, "normalize", normalize)
    options = {**spec.extra, **extra}

    cache: dict[str, Any] = {}

    def read(s: str):
        if s not in cache:
            cache[s] = spec.read(s, data_dir=data_dir, **options)
        return cache[s]

    target = read(split)
    if normalize:
        train = read("train")
        normalizer = Normalizer.fit(train.series, train.channels,
                                    where=f"{name} (training split)")
    else:
        normalizer = Normalizer.identity(target.num_channels)
    pad_to = None
    if window is None:
        pad_to = spec.length or max(int(read(s).lengths.max()) for s in spec.splits)
    elif stride is None:
        stride = 1 if split == "train" else window
    return assemble(target, normalizer, name=name, window=window, stride=stride,
                    pad_to=pad_to)


def _loader(source: str) -> Callable[..., TimeSeriesDataset]:
    """``loader(split, window=..., stride=..., normalize=..., data_dir=..., **extra)`` with
    an explicit signature, so the registry lists and checks its options."""
    spec = SOURCES[source]

    def loader(split: str = "train", **options: Any) -> TimeSeriesDataset:
        return load_timeseries(source, split, **options)

    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter("split", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                default="train"),
              inspect.Parameter("window", keyword, default=spec.window),
              inspect.Parameter("stride", keyword, default=None),
              inspect.Parameter("normalize", keyword, default=True),
              inspect.Parameter("data_dir", keyword, default=None)]
    params += [inspect.Parameter(k, keyword, default=v) for k, v in spec.extra.items()]
    loader.__signature__ = inspect.Signature(params)
    loader.__name__ = loader.__qualname__ = f"load_{source}"
    loader.__doc__ = (f"The {TS_PREFIX}{source} data set (see "
                      "diffax.data.timeseries.loader.load_timeseries).")
    return loader


def timeseries_loaders() -> dict[str, Callable[..., TimeSeriesDataset]]:
    """``{"ts:<source>": loader}`` for every source, for the data-set registry."""
    return {TS_PREFIX + s: _loader(s) for s in SOURCES}


__all__ = ["TS_PREFIX", "load_timeseries", "timeseries_loaders"]
