"""Synthetic 2-D data sets: two moons, concentric rings, a 2-D swiss roll, a
checkerboard, eight Gaussians on a circle and a fixed 2-D Gaussian mixture.

Every sampler is a pure function of a numpy ``Generator`` (or, for the Gaussian
mixtures, a JAX key) and returns ``float32`` points of shape (n, 2) plus integer labels
where the data have natural classes. Scales are chosen so that each coordinate has a
standard deviation of order 1, which suits the default noise schedules.

:func:`load_toy` turns a sampler into a finite in-memory dataset, drawn once from a
seed: split ``"train"`` and ``"test"`` use different streams, ``split_rng(seed, split)``
(numpy) or ``split_key(seed, split)`` (JAX), so they are independent samples.
"""

from __future__ import annotations

import inspect
import math
from typing import Callable

import numpy as np

from diffax import checks
from diffax.data.base import ArrayDataset

SPLIT_IDS = {"train": 0, "test": 1}
DEFAULT_NUM_EXAMPLES = {"train": 100_000, "test": 10_000}
RING_RADII = (1.0, 2.0)


# ---- samplers (pure functions of an RNG) ---------------------------------------------------


def sample_moons(rng: np.random.Generator, n: int, noise: float = 0.05
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, label 0 (upper) or 1 (lower), each with prob. 1/2.

    Before scaling the upper moon is ``(cos t, sin t)`` and the lower one ``(1 - cos t,
    0.5 - sin t)`` with ``t ~ U[0, pi]``; points are then centred and doubled,
    ``2 * (p - (0.5, 0.25))``, and Gaussian noise of std ``noise`` is added. Without
    noise the upper moon lies in [-3, 1] x [-0.5, 1.5], the lower in [-1, 3] x [-1.5, 0.5].
    """
    label = rng.integers(0, 2, size=n)
    t = rng.uniform(0.0, math.pi, size=n)
    upper = np.stack([np.cos(t), np.sin(t)], axis=-1)
    lower = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=-1)
    x = np.where(label[:, None] == 0, upper, lower)
    x = 2.0 * (x - np.array([0.5, 0.25])) + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), label.astype(np.int32)


def sample_rings(rng: np.random.Generator, n: int, radii: tuple[float, ...] = RING_RADII,
                 noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Concentric circles: ring ``k`` (the label) is chosen uniformly, the angle is
    uniform and the radius is ``radii[k] + noise * N(0, 1)``."""
    radii_arr = np.asarray(radii, dtype=np.float64)
    if radii_arr.ndim != 1 or radii_arr.size == 0 or np.any(radii_arr <= 0):
        raise ValueError(f"rings: radii must be a non-empty sequence of positive numbers, "
                         f"got {radii!r}.")
    label = rng.integers(0, radii_arr.size, size=n)
    angle = rng.uniform(0.0, 2.0 * math.pi, size=n)
    r = radii_arr[label] + noise * rng.standard_normal(n)
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=-1)
    return x.astype(np.float32), label.astype(np.int32)


def sample_swiss_roll(rng: np.random.Generator, n: int, noise: float = 0.05) -> np.ndarray:
    """The 2-D swiss roll ``(t cos t, t sin t) / 5`` with ``t ~ U[1.5 pi, 4.5 pi]`` plus
    Gaussian noise of std ``noise`` (radius ``t / 5`` in [0.94, 2.83] without noise)."""
    t = rng.uniform(1.5 * math.pi, 4.5 * math.pi, size=n)
    x = np.stack([t * np.cos(t), t * np.sin(t)], axis=-1) / 5.0
    x = x + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32)


def sample_checkerboard(rng: np.random.Generator, n: int) -> np.ndarray:
    """Uniform on the 8 "black" unit cells of a 4x4 board on [-2, 2]^2: the cells with
    ``floor(x) + floor(y)`` even. Both marginals are U[-2, 2] (std 2 / sqrt(3))."""
    x = rng.uniform(-2.0, 2.0, size=n)
    parity = np.floor(x).astype(np.int64) % 2
    y = 2.0 * rng.integers(0, 2, size=n) - 2.0 + parity + rng.uniform(0.0, 1.0, size=n)
    return np.stack([x, y], axis=-1).astype(np.float32)


# ---- Gaussian mixtures (exact oracles from diffax.analytic) ---------------------------------


def eight_gaussians_mixture(radius: float = 2.0, std: float = 0.25):
    """Eight equally weighted isotropic Gaussians with means at ``radius * (cos, sin)`` of
    the angles ``k pi / 4``, k = 0..7 (a ``diffax.analytic.GaussianMixture``)."""
    from diffax.analytic import GaussianMixture

    angles = np.arange(8) * (math.pi / 4.0)
    means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return GaussianMixture.isotropic(np.ones(8), means, std, dtype=np.float32)


def gmm2d_mixture():
    """The fixed 2-D, four-component mixture of ``"gmm2d"``: unequal weights, correlated
    covariances (a ``diffax.analytic.GaussianMixture``; exact score known)."""
    from diffax.analytic import GaussianMixture

    weights = [0.35, 0.3, 0.2, 0.15]
    means = [[-1.5, -1.0], [1.5, 1.0], [-1.0, 1.5], [1.5, -1.5]]
    covs = [[[0.30, 0.15], [0.15, 0.20]],
            [[0.20, -0.10], [-0.10, 0.30]],
            [[0.10, 0.00], [0.00, 0.40]],
            [[0.25, 0.05], [0.05, 0.10]]]
    return GaussianMixture.create(weights, means, covs, dtype=np.float32)


def sample_mixture(mixture, key, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``mixture.sample(key, n, return_component=True)`` as numpy (float32 points,
    int32 component labels)."""
    x, component = mixture.sample(key, n, return_component=True)
    return np.asarray(x, dtype=np.float32), np.asarray(component, dtype=np.int32)


# ---- datasets ---------------------------------------------------------------------------------


def _split_id(split: str) -> int:
    return SPLIT_IDS[checks.choice("toy data", "split", split, SPLIT_IDS)]


def split_rng(seed: int, split: str) -> np.random.Generator:
    """The numpy generator that draws a toy split: ``default_rng([seed, split_id])``."""
    return np.random.default_rng([int(seed), _split_id(split)])


def split_key(seed: int, split: str):
    """The JAX key that draws a mixture split: ``fold_in(PRNGKey(seed), split_id)``."""
    import jax

    return jax.random.fold_in(jax.random.PRNGKey(int(seed)), _split_id(split))


_NUMPY_TOYS: dict[str, tuple[Callable, Callable[[dict], int | None]]] = {
    # name: (sampler, number of classes given the sampler's params; None: no labels)
    "moons": (sample_moons, lambda params: 2),
    "rings": (sample_rings, lambda params: len(params.get("radii", RING_RADII))),
    "swiss_roll": (sample_swiss_roll, lambda params: None),
    "checkerboard": (sample_checkerboard, lambda params: None),
}
_MIXTURE_TOYS: dict[str, Callable] = {"8gaussians": eight_gaussians_mixture,
                                      "gmm2d": gmm2d_mixture}
TOY_NAMES = tuple(_NUMPY_TOYS) + tuple(_MIXTURE_TOYS)


def toy_options(name: str) -> tuple[str, ...]:
    """The keyword options :func:`load_toy` accepts for toy ``name``."""
    if name in _NUMPY_TOYS:
        params = list(inspect.signature(_NUMPY_TOYS[name][0]).parameters)[2:]  # skip rng, n
    elif name in _MIXTURE_TOYS:
        params = list(inspect.signature(_MIXTURE_TOYS[name]).parameters)
        params += ["mixture"] if name == "gmm2d" else []
    else:
        raise ValueError(f"unknown toy data set {name!r}; valid names: {list(TOY_NAMES)}.")
    return ("num_examples", "seed", *params)


def load_toy(name: str, split: str = "train", *, num_examples: int | None = None,
             seed: int = 0, **params) -> ArrayDataset:
    """A finite sample of toy ``name`` (one of :data:`TOY_NAMES`) as a dataset.

    Args:
      name: the toy.
      split: ``"train"`` or ``"test"`` (independent samples from the same seed).
      num_examples: sample size; default 100,000 for train and 10,000 for test.
      seed: the data seed (not the pipeline's shuffling seed).
      **params: passed to the sampler (``noise`` for moons, rings and swiss_roll,
        ``radii`` for rings, ``radius``/``std`` for 8gaussians), or
        ``mixture=<GaussianMixture>`` for ``"gmm2d"`` to sample another 2-D mixture.

    The mixture toys keep their exact distribution in ``dataset.mixture`` and label each
    point with its component.
    """
    valid = toy_options(name)  # also rejects unknown names
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; valid options: {list(valid)}.")
    checks.choice(name, "split", split, SPLIT_IDS)
    n = DEFAULT_NUM_EXAMPLES[split] if num_examples is None else int(num_examples)
    if n < 1:
        raise ValueError(f"{name}: num_examples must be >= 1, got {num_examples}.")
    if name in _MIXTURE_TOYS:
        mixture = params.pop("mixture", None)
        if mixture is None:
            mixture = _MIXTURE_TOYS[name](**params)
        elif mixture.dim != 2:
            raise ValueError(f"{name}: mixture must be 2-D, got dimension {mixture.dim}.")
        x, label = sample_mixture(mixture, split_key(seed, split), n)
        return ArrayDataset(name, split, x, label, num_classes=mixture.num_components,
                            mixture=mixture)
    sampler, num_classes = _NUMPY_TOYS[name]
    out = sampler(split_rng(seed, split), n, **params)
    if isinstance(out, tuple):
        return ArrayDataset(name, split, out[0], out[1], num_classes=num_classes(params))
    return ArrayDataset(name, split, out)


__all__ = ["TOY_NAMES", "sample_moons", "sample_rings", "sample_swiss_roll",
           "sample_checkerboard", "eight_gaussians_mixture", "gmm2d_mixture",
           "sample_mixture", "split_rng", "split_key", "toy_options", "load_toy"]
