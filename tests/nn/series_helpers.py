"""Shared helpers for the time-series network tests (CSDI, UNet1D): jitted application with
the series keywords, a fixed batch, and a short overfit run."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

_APPLY = {}


def series_apply(model: nnx.Module):
    """``f(x, t, label=None, key=None, **kw)``: the model through nnx.split -> jax.jit ->
    nnx.merge, with the keywords ``kw`` (cond_mask, cond_values, time, pad_mask) passed on.
    Models with the same graph definition share one jitted function."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if graphdef not in _APPLY:
        def apply(params, rest, x, t, label, kw, key):
            return nnx.merge(graphdef, params, rest)(x, t, label, dropout_key=key, **kw)
        _APPLY[graphdef] = jax.jit(apply)
    apply = _APPLY[graphdef]
    return lambda x, t, label=None, key=None, **kw: apply(params, rest, x, t, label, kw, key)


def series_batch(batch: int, length: int, features: int, seed: int = 0, p_obs: float = 0.4):
    """(x, cond_mask, cond_values): x ~ N(0, 1); cond_mask ~ Bernoulli(p_obs) as float32;
    cond_values another N(0, 1) draw where the mask is 1, 0 elsewhere (host RNG)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, length, features)).astype(np.float32)
    mask = (rng.random((batch, length, features)) < p_obs).astype(np.float32)
    values = rng.standard_normal((batch, length, features)).astype(np.float32) * mask
    return jnp.asarray(x), jnp.asarray(mask), jnp.asarray(values)


def overfit_losses(net: nnx.Module, length: int, features: int, *, steps: int = 100,
                   lr: float = 3e-3):
    """Noise prediction on 4 fixed windows of smooth series (40% of the entries given as
    conditioning; the last 2 and 3 steps of windows 2 and 3 are padding, filled with NaN):
    ``x_t = cos(pi t / 2) x0 + sin(pi t / 2) eps``, loss = mean of ``(net(x_t, t; cond) -
    eps)^2`` over the real entries to generate. Returns (losses of the ``steps`` Adam steps,
    final loss, initial params, final params)."""
    steps_, feats = np.arange(length)[:, None], np.arange(features)[None]
    x0 = np.stack([np.sin(0.5 * (i + 1) * steps_ + feats) for i in range(4)]).astype(np.float32)
    _, mask, _ = series_batch(4, length, features, seed=3)
    eps = series_batch(4, length, features, seed=4)[0]
    t = jnp.array([0.2, 0.4, 0.6, 0.8])
    a, s = jnp.cos(0.5 * jnp.pi * t)[:, None, None], jnp.sin(0.5 * jnp.pi * t)[:, None, None]
    pad = np.ones((4, length), bool)
    pad[2, -2:] = pad[3, -3:] = False
    hole = jnp.asarray(~pad[..., None])
    x0 = jnp.asarray(x0)
    xt = jnp.where(hole, jnp.nan, a * x0 + s * eps)
    values = jnp.where(hole, jnp.nan, x0 * mask)
    target = (1.0 - mask) * ~hole
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)
    tx = optax.adam(lr)

    def loss_fn(p):
        out = nnx.merge(graphdef, p, rest)(xt, t, cond_mask=mask, cond_values=values,
                                           pad_mask=jnp.asarray(pad))
        return jnp.sum(target * (out - eps) ** 2) / jnp.sum(target)

    @jax.jit
    def run(p):
        def step(carry, _):
            p, o = carry
            loss, grads = jax.value_and_grad(loss_fn)(p)
            updates, o = tx.update(grads, o, p)
            return (optax.apply_updates(p, updates), o), loss
        (p, _), losses = jax.lax.scan(step, (p, tx.init(p)), None, length=steps)
        return p, losses, loss_fn(p)

    new, losses, final = run(params)
    return np.asarray(losses), float(final), params, new
