"""Label dropout for classifier-free guidance (Ho & Salimans, 2022), as a batch transform.

With probability ``prob`` each example's ``label`` is replaced by the null label, so one
network learns both the conditional and the unconditional model; at sampling time
``diffax.guidance.classifier_free_guidance`` mixes the two. The train step applies a
batch transform ``transform(batch, key)`` before the objective (``make_train_step(...,
batch_transform=...)``); the task or config chooses it, the step has no flag for it.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def drop_labels(batch: dict, key: jax.Array, prob: float, null_label: int) -> dict:
    """Replace each ``batch["label"]`` by ``null_label`` with probability ``prob``
    (a batch without labels, or ``prob <= 0``, is returned unchanged)."""
    if prob <= 0 or "label" not in batch:
        return batch
    drop = jax.random.bernoulli(key, prob, batch["label"].shape)
    return {**batch, "label": jnp.where(drop, null_label, batch["label"])}


def label_dropout(prob: float, null_label: int | None) -> Callable[[dict, jax.Array], dict] | None:
    """The batch transform that drops labels with probability ``prob`` (None when
    ``prob == 0``: no transform)."""
    if not 0.0 <= prob < 1.0:
        raise ValueError(f"label_dropout: prob must lie in [0, 1), got {prob}.")
    if prob == 0:
        return None
    if null_label is None:
        raise ValueError("label_dropout: prob > 0 needs null_label (the network's "
                         "num_classes, the index of the extra 'no label' embedding).")
    return lambda batch, key: drop_labels(batch, key, prob, null_label)


__all__ = ["drop_labels", "label_dropout"]
