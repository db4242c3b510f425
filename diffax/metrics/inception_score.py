"""Inception Score (Salimans et al., 2016, "Improved Techniques for Training GANs").

For a classifier p(y|x) evaluated on N samples split into ``n_splits`` equal parts,

    IS = exp( E_x KL( p(y|x) || p(y) ) ),    p(y) = E_x p(y|x),

computed within each split (p(y) is the split's own marginal) and reported as the mean
and standard deviation over splits, the convention of the original code (10 splits of
5000 samples with the 1008 logits of the FID Inception graph). IS lies in [1, K] for K
classes: 1 when every prediction equals the marginal, K when predictions are confident
and the classes are used uniformly. It ignores the real data, so report it only next to
FID / FD.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.metrics._common import as_float_array

Array = jax.Array


def inception_score(logits: Array, n_splits: int = 10) -> tuple[Array, Array]:
    """(mean, std) over ``n_splits`` of exp(mean KL(p(y|x) || p(y))) from logits (N, K).

    The last ``N mod n_splits`` rows are dropped so the splits have equal size.
    """
    logits = as_float_array(logits)
    checks.ndim("inception_score", "logits", logits, 2, "(N, K)")
    n_splits = checks.positive_int("inception_score", "n_splits", n_splits)
    size = logits.shape[0] // n_splits
    if size < 1:
        raise ValueError(f"inception_score: {logits.shape[0]} samples cannot fill "
                         f"n_splits={n_splits} splits; pass fewer splits or more samples.")
    log_p = jax.nn.log_softmax(logits[:size * n_splits], axis=-1)
    log_p = log_p.reshape(n_splits, size, -1)
    log_marginal = jax.scipy.special.logsumexp(log_p, axis=1, keepdims=True) - jnp.log(size)
    kl = jnp.sum(jnp.exp(log_p) * (log_p - log_marginal), axis=-1)
    scores = jnp.exp(jnp.mean(kl, axis=1))
    return jnp.mean(scores), jnp.std(scores)
