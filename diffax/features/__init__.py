"""Feature extractors for sample-quality metrics (FD, KID, precision/recall).

* ``fmnist_cnn``: FD-FMNIST features from diffax's own Fashion-MNIST classifier
  (weights shipped with the package).

``get_feature_fn(name, **kw)`` returns a function mapping images (N, H, W, C) in [-1, 1]
to (N, k) features; ``FEATURE_NAMES`` gives the name every metric report carries.
See docs/features.md.
"""

from __future__ import annotations

from typing import Any, Callable

from diffax.features import fmnist_cnn

FEATURE_NAMES = {
    "fmnist_cnn": "FD-FMNIST (fmnist_cnn_v1, 128-d penultimate)",
}


def get_feature_fn(name: str, **kwargs: Any) -> Callable:
    """The feature function ``images -> (N, k)`` called ``name``."""
    if name == "fmnist_cnn":
        return fmnist_cnn.feature_fn(**kwargs)
    raise ValueError(f"get_feature_fn: unknown features {name!r}; valid choices: "
                     f"{sorted(FEATURE_NAMES)}.")


__all__ = ["FEATURE_NAMES", "fmnist_cnn", "get_feature_fn"]
