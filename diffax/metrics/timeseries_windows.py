"""Input preparation shared by TimeGAN's scores (:mod:`diffax.metrics.timeseries_generation`):
checked windows and masks, the missing-value convention, train/held-out splits,
standardisation and the network inputs.

* Windows are arrays (N, L, K) ((N, L) is read as K = 1); masks are 0/1 arrays of
  the same shape (1 = observed); missing values may be NaN and are set to 0.
* When only the real mask is given, each generated window takes the mask of a real
  window drawn at random (without replacement while there are enough), so the
  missingness pattern cannot tell the sets apart.
* A split permutes a set and trains on its first ``floor(N * train_fraction)`` windows
  (TimeGAN's ``train_test_divide``); each part keeps at least one window.
* Standardisation: ``z = (x - mean) / std`` per feature, with the mean and standard
  deviation of the observed real training values (std 1 where a feature is constant).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks

Array = jax.Array


def check_windows(fn: str, name: str, x) -> np.ndarray:
    """``x`` as float32 windows (N, L, K) or (N, L), checked (``fn`` names the caller)."""
    x = np.asarray(x)
    checks.ndim(fn, name, x, (2, 3), "(N, L, K) or (N, L)")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.floating)
                               or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{fn}: {name} must hold real numbers, got dtype {x.dtype}.")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{fn}: {name} must hold at least one window of at least one step, "
                         f"got shape {x.shape}.")
    return x.astype(np.float32)


def check_mask(fn: str, name: str, m, x_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The 0/1 mask ``m`` of the windows ``x_name`` (of ``shape``) as booleans, checked."""
    return checks.binary_mask(fn, name, m, shape, like=x_name)


def observed(fn: str, name: str, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x`` with its missing entries zeroed, after checking the observed ones."""
    bad = m & ~np.isfinite(x)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        hint = "" if not m.all() else " (mark missing values with a mask)"
        raise ValueError(f"{fn}: {name} must be finite where observed, got {x[at].item()} at "
                         f"index {at}{hint}.")
    return np.where(m, x, 0.0).astype(np.float32)


class Windows(NamedTuple):
    """Checked real and generated windows with their masks (:func:`prepare`)."""

    real: np.ndarray  # (N, L, K), missing entries 0
    real_mask: np.ndarray  # (N, L, K) bool
    generated: np.ndarray
    generated_mask: np.ndarray
    masked: bool  # append the masks as input channels


def prepare(fn: str, real, generated, mask, generated_mask, key: Array) -> Windows:
    """Checked windows (N, L, K) and masks (module docstring, missing values)."""
    real = check_windows(fn, "real", real)
    gen = check_windows(fn, "generated", generated)
    r_shape, g_shape = real.shape, gen.shape
    if real.ndim == 2:
        real = real[..., None]
    if gen.ndim == 2:
        gen = gen[..., None]
    if real.shape[1:] != gen.shape[1:]:
        raise ValueError(f"{fn}: real and generated windows must have the same length L and "
                         f"features K, got shapes real {r_shape} and generated {g_shape}.")
    rm = None if mask is None else check_mask(fn, "mask", mask, "real", r_shape).reshape(real.shape)
    gm = None if generated_mask is None else check_mask(fn, "generated_mask", generated_mask,
                                                   "generated", g_shape).reshape(gen.shape)
    masked = rm is not None or gm is not None
    if rm is None:
        rm = np.ones(real.shape, bool)
    if gm is None:
        if mask is None:
            gm = np.ones(gen.shape, bool)
        else:  # the generated windows share the real missingness pattern
            n, m = real.shape[0], gen.shape[0]
            idx = np.asarray(jax.random.choice(key, n, (m,), replace=m > n))
            gm = rm[idx]
    real = observed(fn, "real", real, rm)
    gen = observed(fn, "generated", gen, gm)
    return Windows(real, rm, gen, gm, masked)


def split(fn: str, name: str, n: int, train_fraction: float, key: Array):
    """(training, held-out) indices of a random permutation of ``n`` windows."""
    n_train = int(n * train_fraction)
    if n_train < 1 or n - n_train < 1:
        raise ValueError(f"{fn}: {name} needs at least one training and one held-out window "
                         f"with train_fraction={train_fraction}, got {n} windows ({n_train} "
                         f"training, {n - n_train} held out).")
    perm = np.asarray(jax.random.permutation(key, n))
    return perm[:n_train], perm[n_train:]


def standardiser(x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of the observed values (std 1 where a
    feature is constant or unobserved)."""
    count = m.sum(axis=(0, 1))
    mean = np.where(count > 0, (x * m).sum(axis=(0, 1)) / np.maximum(count, 1), 0.0)
    var = ((x - mean) ** 2 * m).sum(axis=(0, 1)) / np.maximum(count, 1)
    std = np.sqrt(var)
    std = np.where(std > 1e-8 * np.maximum(np.abs(mean), 1.0), std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def features(x: np.ndarray, m: np.ndarray, mean, std, masked: bool) -> Array:
    """Network inputs: standardised values (0 where missing), then the mask channels."""
    z = np.where(m, (x - mean) / std, 0.0).astype(np.float32)
    if masked:
        z = np.concatenate([z, m.astype(np.float32)], axis=-1)
    return jnp.asarray(z)


def common_options(fn: str, hidden, default_hidden: int, steps, batch_size, train_fraction):
    """The checked (hidden, steps, batch_size, train_fraction) options of every score."""
    hidden = default_hidden if hidden is None else checks.positive_int(fn, "hidden", hidden)
    steps = checks.positive_int(fn, "steps", steps)
    batch_size = checks.positive_int(fn, "batch_size", batch_size)
    train_fraction = checks.probability(fn, "train_fraction", train_fraction, lo_open=True,
                                        hi_open=True)
    return hidden, steps, batch_size, train_fraction


def check_labels(fn: str, name: str, labels, n: int, x_name: str) -> np.ndarray:
    """``n`` non-negative integer labels (one per window of ``x_name``) as int32."""
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{fn}: {name} must have shape ({n},), one label per window of "
                         f"{x_name}, got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool:
        raise ValueError(f"{fn}: {name} must be integers, got dtype {labels.dtype}.")
    if (labels < 0).any():
        i = int(np.flatnonzero(labels < 0)[0])
        raise ValueError(f"{fn}: {name} must be >= 0, got {labels[i]} at index {i}.")
    return labels.astype(np.int32)

