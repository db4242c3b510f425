"""Feature extractors for sample-quality metrics (FD, KID, precision/recall).

* ``fmnist_cnn``: FD-FMNIST features from diffax's own Fashion-MNIST classifier
  (weights ship with the package).
* ``inception_v3``: FID's Inception-v3 pool3 features (flax; the FID graph's pooling
  quirks), with user-supplied weights converted by ``experiments.convert_inception_weights``.

``get_feature_fn(name, **kw)`` returns a function mapping images (N, H, W, C) in [-1, 1]
to (N, k) features; ``feature_name(name, **kw)`` gives the name every metric report
carries (for Inception it includes the weights' SHA-256 prefix). See docs/features.md.
"""

from __future__ import annotations

from typing import Any, Callable

from diffax.features import fmnist_cnn, inception_v3
from diffax.registry import Registry, check_options

# name -> feature_fn(**options) building ``images -> (N, k)``; metadata ``description``
# is the name every metric report carries.
FEATURES: Registry[Callable[..., Callable]] = Registry("features")
FEATURES.add("fmnist_cnn", fmnist_cnn.feature_fn,
             description="FD-FMNIST (fmnist_cnn_v1, 128-d penultimate)")
FEATURES.add("inception_v3", inception_v3.feature_fn,
             description="FID (Inception-v3 pool3, 2048-d, pytorch-fid resize)")

FEATURE_NAMES = {name: FEATURES.entry(name).metadata["description"] for name in FEATURES}


def get_feature_fn(name: str, **kwargs: Any) -> Callable:
    """The feature function ``images -> (N, k)`` called ``name``.

    ``inception_v3`` needs ``weights_path`` (a converted npz) and accepts ``resize``
    and ``batch_size``; ``fmnist_cnn`` accepts ``path`` (default: the packaged weights).
    Unknown names and options raise ValueError naming the valid ones.
    """
    try:
        build = FEATURES.get(name)
    except ValueError as err:
        raise ValueError(f"get_feature_fn: {err}") from None
    check_options(f"get_feature_fn: features {name!r}", build, kwargs)
    if name == "inception_v3" and not kwargs.get("weights_path"):
        raise ValueError(
            "get_feature_fn('inception_v3') needs weights_path=<converted .npz>; diffax "
            "does not ship or download Inception weights. Convert pytorch-fid's with "
            "`python -m experiments.convert_inception_weights` (docs/features.md).")
    return build(**kwargs)


def feature_name(name: str, **kwargs: Any) -> str:
    """The name a metric report carries for these features (and weights)."""
    try:
        description = FEATURES.entry(name).metadata["description"]
    except ValueError as err:
        raise ValueError(f"feature_name: {err}") from None
    if name == "inception_v3" and kwargs.get("weights_path"):
        digest = inception_v3.sha256(kwargs["weights_path"])[:12]
        return description[:-1] + f", weights sha256 {digest})"
    return description


__all__ = ["FEATURES", "FEATURE_NAMES", "feature_name", "fmnist_cnn", "get_feature_fn",
           "inception_v3"]
