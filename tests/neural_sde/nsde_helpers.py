"""Helpers of the tiny training runs (test_nsde_train_*.py): two classes of noisy sines
(1 or 2 periods per window, random phase) with half of the time steps dropped,
classified from the final latent state.

Measured (hidden 16, 12 solver steps, batch 32, 150 Adam steps at 1e-2, 256 test
series): accuracy 0.99 (LSDE), 0.98 (LNSDE), 0.99 (GSDE); chance is 0.5. The tests'
bound 0.85 leaves a margin for other CPUs' rounding.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from diffax.neural_sde import (StableNeuralSDE, classification_loss, drop_observations, fit,
                               predict)

L = 24


def sines(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    t = np.arange(L, dtype=np.float32)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = np.sin(2 * np.pi * (1 + label[:, None]) * t / L + phase) + 0.1 * rng.normal(size=(n, L))
    x = x[..., None].astype(np.float32)
    mask = np.asarray(drop_observations(jnp.ones_like(x), 0.5, jax.random.key(seed)))
    return {"x": x * mask, "observed_mask": mask, "time": np.broadcast_to(t, (n, L)).copy(),
            "label": label.astype(np.int32)}


def train_on_sines(kind: str) -> tuple[list[float], float]:
    """Train a small model of class ``kind``; returns (losses, test accuracy)."""
    train, test = sines(512, 0), sines(256, 1)
    assert (train["observed_mask"].sum(axis=1) == L // 2).all()
    model = StableNeuralSDE(kind, 1, 2, hidden=16, width=32, steps=12, rngs=nnx.Rngs(0))

    def batch(i):
        idx = np.random.default_rng(i).choice(512, 32, replace=False)
        return {k: v[idx] for k, v in train.items()}

    losses = fit(model, classification_loss, batch, steps=150, key=jax.random.key(0))
    acc = (predict(model, test, jax.random.key(1)).argmax(-1) == test["label"]).mean()
    return losses, float(acc)


def check_training(kind: str) -> None:
    losses, acc = train_on_sines(kind)
    assert np.isfinite(losses).all()
    assert np.mean(losses[-25:]) < 0.5 * np.mean(losses[:10])
    assert acc > 0.85, acc
