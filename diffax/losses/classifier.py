"""Cross-entropy of a time-aware ("noisy") classifier, for classifier guidance.

Dhariwal & Nichol, 2021, "Diffusion Models Beat GANs on Image Synthesis", Sec. 4: a
classifier p_phi(y | x_t, t) is trained on noised data x_t = alpha_t x_0 + sigma_t eps,
t drawn like the diffusion model's, so that grad_x log p_phi(y | x_t, t) approximates
the gradient of the true noisy-class posterior p_t(y | x) at every noise level:

    L(phi) = E_{x_0, y, t, eps} [ -log softmax(f_phi(x_t, t))_y ].

The minimiser is the exact p_t(y | x) (cross-entropy is a proper scoring rule), so on a
Gaussian mixture the trained classifier can be checked against the closed form.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diffax.losses.base import LossFn, check_process
from diffax.losses.time_sampling import make_time_sampler
from diffax.processes.base import GaussianProcess


def noisy_classifier_loss(process: GaussianProcess, *, time_sampling: str = "uniform",
                          label_key: str = "label", **time_options: Any) -> LossFn:
    """``loss_fn(logits_fn, batch, key) -> (loss, aux)`` with ``logits_fn(x_t, t)``
    returning (B, num_classes) logits and ``batch[label_key]`` the integer classes.

    aux: ``loss``, per-example ``t``, and ``accuracy`` (argmax on x_t, a batch mean).
    """
    check_process(process, "noisy_classifier_loss")
    sample_t = make_time_sampler(time_sampling, process, **time_options)

    def loss_fn(logits_fn, batch: dict, key: jax.Array):
        if label_key not in batch:
            raise ValueError(f"noisy_classifier_loss: batch has no {label_key!r} entry "
                             f"(keys: {sorted(batch)}); pass label_key=.")
        x0, y = batch["x"], batch[label_key]
        k_t, k_eps = jax.random.split(key)
        t = sample_t(k_t, x0.shape[0], x0.dtype)
        xt = process.perturb(x0, t, jax.random.normal(k_eps, x0.shape, x0.dtype))
        logits = logits_fn(xt, t)
        logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        nll = -jnp.take_along_axis(logp, y[:, None].astype(jnp.int32), axis=-1)[:, 0]
        loss = jnp.mean(nll)
        acc = jnp.mean((jnp.argmax(logits, -1) == y).astype(jnp.float32))
        return loss, {"loss": loss, "t": t, "accuracy": acc}

    return loss_fn


__all__ = ["noisy_classifier_loss"]
