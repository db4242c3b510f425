"""Shared pieces of the golden recording: the :class:`Case` unit of computation, the
fixed seeds and sizes, the oracle problem (a seeded 2-D Gaussian mixture with exact
models) and the helpers every group uses (registered processes, array conversion, the
x64 switch)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

Arrays = dict[str, np.ndarray]

# Fixed problem sizes and seeds (recorded in the metadata).
BATCH = 16
NFE_BUDGETS = (6, 12)
SEED_PRIOR, SEED_SAMPLER, SEED_DATA, SEED_LOSS = 0, 1, 10, 11


@dataclasses.dataclass(frozen=True)
class Case:
    """One computation of the recording.

    Attributes:
      prefix: the name every entry it returns starts with (``prefix + "/..."``); the
        first component is its group.
      run: computes the entries, ``{full entry name: array}``.
      x64: whether it runs with ``jax_enable_x64`` on (all but the training runs).
    """

    prefix: str
    run: Callable[[], Arrays]
    x64: bool = True

    @property
    def group(self) -> str:
        """The first component of :attr:`prefix`."""
        return self.prefix.split("/", 1)[0]


class Problems:
    """The fixed float64 oracle problem, built on first use (create one per recording,
    with x64 on)."""

    @functools.cached_property
    def mixture(self) -> Any:
        """A 2-D mixture of three Gaussians with full covariances (seeded)."""
        from diffax.analytic import GaussianMixture
        rng = np.random.default_rng(2024)
        means = rng.normal(size=(3, 2)) * 1.5
        covs = []
        for _ in range(3):
            a = rng.normal(size=(2, 2)) * 0.35
            covs.append(a @ a.T + 0.08 * np.eye(2))
        return GaussianMixture.create(np.array([0.45, 0.35, 0.2]), means, np.stack(covs))

    @functools.cached_property
    def data(self) -> tuple[Any, Any]:
        """(x0, component) of BATCH exact mixture samples."""
        import jax
        x, comp = self.mixture.sample(jax.random.PRNGKey(SEED_DATA), BATCH,
                                      return_component=True)
        return x, comp

    def prior(self, process_name: str) -> Any:
        """BATCH samples of the prior of a registered process, float64 (cached)."""
        import jax
        import jax.numpy as jnp
        cache = self.__dict__.setdefault("_priors", {})
        if process_name not in cache:
            cache[process_name] = process(process_name).prior_sample(
                jax.random.PRNGKey(SEED_PRIOR), (BATCH, 2), jnp.float64)
        return cache[process_name]


def process(name: str) -> Any:
    """The registered process ``name`` with its default options."""
    from diffax.processes import get_process
    return get_process(name)


def process_names() -> list[str]:
    """The names of the registered Gaussian processes, in registration order (PFGM++
    is tested against its oracle in tests/, not recorded here)."""
    from diffax.processes import GAUSSIAN, PROCESSES
    return [n for n in PROCESSES if PROCESSES.family(n) == GAUSSIAN]


def to_numpy(tree: Any) -> Any:
    """``tree`` fetched from the device with every leaf a numpy array."""
    import jax
    return jax.tree_util.tree_map(lambda v: np.asarray(v), jax.device_get(tree))


def fields(prefix: str, obj: Any, names: Sequence[str]) -> Arrays:
    """The attributes ``names`` of ``obj`` as entries ``prefix/<name>``."""
    return {f"{prefix}/{f}": np.asarray(to_numpy(getattr(obj, f))) for f in names}


@contextlib.contextmanager
def x64_enabled(enabled: bool) -> Iterator[None]:
    """``jax_enable_x64`` set to ``enabled`` inside, restored after."""
    import jax
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", prev)
