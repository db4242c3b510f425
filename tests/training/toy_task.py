"""A tiny, fast training problem shared by the training tests (and the resumable
subprocess run): an eps-prediction MLP on a 2-D two-component Gaussian mixture under
VPLinear. Everything is a function of the seed and the step, so runs are reproducible."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from diffax import training as tr
from diffax.analytic import GaussianMixture
from diffax.parameterization import make_model_fn
from diffax.processes import VPLinear

PROCESS = VPLinear()
MIXTURE = GaussianMixture.isotropic([0.5, 0.5], [[-2.0, 0.0], [2.0, 0.0]], 0.3)


class TinyNet(nnx.Module):
    """x, c -> prediction; a dropout_key perturbs the hidden layer (dropout 0.1)."""

    def __init__(self, rngs: nnx.Rngs, width: int = 32, dim: int = 2):
        self.l1 = nnx.Linear(dim + 1, width, rngs=rngs)
        self.l2 = nnx.Linear(width, width, rngs=rngs)
        self.out = nnx.Linear(width, dim, rngs=rngs)

    def __call__(self, x, c, label=None, *, dropout_key=None):
        h = nnx.silu(self.l1(jnp.concatenate([x, c[:, None].astype(x.dtype)], -1)))
        if dropout_key is not None:
            keep = jax.random.bernoulli(dropout_key, 0.9, h.shape)
            h = jnp.where(keep, h / 0.9, 0.0)
        return self.out(nnx.silu(self.l2(h)))


def eps_loss(model_fn, batch, key):
    """Plain eps-prediction DSM (independent of diffax.losses)."""
    x0 = batch["x"]
    k_t, k_eps = jax.random.split(key)
    t = jax.random.uniform(k_t, x0.shape[:1], minval=1e-3, maxval=1.0)
    eps = jax.random.normal(k_eps, x0.shape)
    per_example = jnp.mean((model_fn(PROCESS.perturb(x0, t, eps), t) - eps) ** 2, axis=-1)
    loss = jnp.mean(per_example)
    return loss, {"loss": loss}


def data(n: int = 2048, seed: int = 1) -> np.ndarray:
    return np.asarray(MIXTURE.sample(jax.random.PRNGKey(seed), n), np.float32)


def batch_fn(batch_size: int = 64, seed: int = 1):
    x = data(seed=seed)

    def fn(step: int) -> dict:
        perm = np.random.default_rng([seed, step // (len(x) // batch_size)]).permutation(len(x))
        i = step % (len(x) // batch_size)
        return {"x": x[perm[i * batch_size:(i + 1) * batch_size]]}

    return fn


def build(mesh, *, num_steps: int = 100, nonfinite: str = "stop", compute_dtype=None,
          loss_fn=eps_loss, lr: float = 3e-3, seed: int = 0, ema_decays=(0.9,)):
    """Return (train_step, state placed on ``mesh``, graphdef)."""
    tx, schedule = tr.make_optimizer(lr, num_steps=num_steps, warmup_steps=5)
    graphdef, state = tr.create_train_state(TinyNet(nnx.Rngs(seed)), tx, seed=seed,
                                            ema_decays=ema_decays)
    objective = tr.FunctionObjective(
        loss_fn, wrap=lambda net: make_model_fn(net, PROCESS, "eps")[0])
    step = tr.make_train_step(graphdef, objective, tx, ema_decays=ema_decays,
                              nonfinite=nonfinite, compute_dtype=compute_dtype,
                              lr_schedule=schedule)
    return tr.jit_train_step(step, mesh), tr.replicate(state, mesh), graphdef
