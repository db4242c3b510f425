"""Sample-quality metrics in pure JAX (more in the metrics issue)."""

from diffax.metrics.sliced_wasserstein import sliced_wasserstein

__all__ = ["sliced_wasserstein"]
