"""Classifier-free guidance (Ho & Salimans, 2022) as a model_fn wrapper.

    pred_w(x, t, c) = pred(x, t, null) + w (pred(x, t, c) - pred(x, t, null))

For eps/score predictions this is the score of p_t(x) p_t(c | x)^w, i.e.
grad log p_t(x | c) + (w - 1) grad_x log p_t(c | x) with the implicit classifier
p(c | x) = p(x | c) p(c) / p(x). The combination is linear, so the same formula is
valid for x0, v and velocity predictions of the same process. w = 1 is the
conditional model, w = 0 the unconditional one. Because it is a ``model_fn``
wrapper, every sampler supports it. Both branches run in one batched call.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

Array = jax.Array


def classifier_free_guidance(model_fn: Callable[..., Array], scale: Any, null_cond: dict,
                             ) -> Callable[..., Array]:
    """Wrap ``model_fn(x, t, **cond)`` into its guided version with scale ``w``.

    Args:
      model_fn: conditional model, ``model_fn(x, t, **cond)``.
      scale: guidance scale w (scalar, may be traced).
      null_cond: the "unconditional" values, same keys as ``cond`` (e.g.
        ``{"label": null_label}``); each is broadcast to the batch.
    """

    def guided(x, t, **cond):
        if set(cond) != set(null_cond):
            raise ValueError(f"classifier_free_guidance: cond keys {sorted(cond)} must match "
                             f"null_cond keys {sorted(null_cond)}.")
        b = x.shape[0]
        both = {k: jnp.concatenate([jnp.asarray(cond[k]),
                                    jnp.broadcast_to(jnp.asarray(null_cond[k], dtype=jnp.asarray(cond[k]).dtype),
                                                     jnp.shape(cond[k]))], axis=0)
                for k in cond}
        out = model_fn(jnp.concatenate([x, x], 0), jnp.concatenate([t, t], 0), **both)
        c, u = out[:b], out[b:]
        return u + scale * (c - u)

    return guided
