"""Per-channel standardisation fitted on the observed training values.

:meth:`Normalizer.fit` computes, for every channel, the mean and the (population,
``ddof=0``) standard deviation of the *observed* values (``NaN`` ignored) of the
training split's series; every split is then mapped with ``(x - mean) / std`` and model
outputs are mapped back with :meth:`Normalizer.denormalize`. A channel whose standard
deviation is at most ``1e-8 * max(1, |mean|)`` (constant in training) is only shifted
(its ``std`` is set to 1).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

_TINY = 1e-8


@dataclasses.dataclass(frozen=True, eq=False)
class Normalizer:
    """``mean`` and ``std``: ``float64`` arrays of shape ``(K,)``."""

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self):
        mean = np.array(self.mean, dtype=np.float64)
        std = np.array(self.std, dtype=np.float64)
        if mean.ndim != 1 or mean.shape != std.shape:
            raise ValueError(f"Normalizer: mean and std must be 1-D of the same shape (K,), "
                             f"got shapes {mean.shape} and {std.shape}.")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std > 0)):
            raise ValueError(f"Normalizer: mean must be finite and std finite and > 0, got "
                             f"mean={mean}, std={std}.")
        for a in (mean, std):
            a.setflags(write=False)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def identity(cls, num_channels: int) -> "Normalizer":
        """Mean 0, std 1: no normalisation."""
        return cls(np.zeros(num_channels), np.ones(num_channels))

    @classmethod
    def fit(cls, series: Sequence[np.ndarray], channels: Sequence[str] | None = None,
            where: str = "Normalizer.fit") -> "Normalizer":
        """Per-channel mean/std of the observed values of ``series`` (``(length_i, K)``
        arrays, ``NaN`` = missing).

        Raises:
          ValueError: a channel without any observed value (named, with ``where``).
        """
        values = np.concatenate([np.asarray(s, dtype=np.float64) for s in series], axis=0)
        observed = ~np.isnan(values)
        counts = observed.sum(axis=0)
        if np.any(counts == 0):
            k = np.flatnonzero(counts == 0)
            names = [channels[i] for i in k] if channels is not None else k.tolist()
            raise ValueError(f"{where}: channel(s) {names} have no observed value in the "
                             "training split, so they cannot be normalised; drop them or "
                             "pass normalize=False.")
        mean = np.nansum(values, axis=0) / counts
        std = np.sqrt(np.nansum((values - mean) ** 2, axis=0) / counts)
        std = np.where(std <= _TINY * np.maximum(1.0, np.abs(mean)), 1.0, std)
        return cls(mean, std)

    def _cast(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        dtype = getattr(x, "dtype", np.float64)
        if not np.issubdtype(dtype, np.floating):
            dtype = np.float64
        return self.mean.astype(dtype), self.std.astype(dtype)

    def normalize(self, x: Any) -> Any:
        """``(x - mean) / std`` over the last axis (NumPy or JAX arrays, dtype kept)."""
        mean, std = self._cast(x)
        return (x - mean) / std

    def denormalize(self, x: Any) -> Any:
        """``x * std + mean`` over the last axis: back to the data's units (NumPy or JAX
        arrays, dtype kept)."""
        mean, std = self._cast(x)
        return x * std + mean


__all__ = ["Normalizer"]
