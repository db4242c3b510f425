"""Shared helpers for the time-series network tests (CSDI, UNet1D): the small configs, the
fixed (B, L, K) = (4, 8, 3) batch and its call pattern, jitted application with the series
keywords, and a short overfit run."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fit_helpers import adam_fit
from nn_helpers import randomize_zero_params

CSDI_SMALL = dict(num_features=3, channels=16, num_layers=2, num_heads=4, time_embed_dim=16,
                  feature_embed_dim=4, diffusion_embed_dim=16)
CSDI_COND = dict(CSDI_SMALL, num_layers=1, num_classes=3, dropout=0.2)  # one block: faster compiles
UNET1D_SMALL = dict(num_features=3, channels=8, channel_mults=(1, 2), num_res_blocks=1,
                    time_embed_dim=8)
UNET1D_COND = dict(UNET1D_SMALL, num_classes=3, dropout=0.2)

B, L, K = 4, 8, 3
T = jnp.array([0.2, 0.5, 0.7, 0.9])
LAB = jnp.array([0, 1, 2, 0])
TIME = jnp.broadcast_to(jnp.arange(L, dtype=jnp.float32), (B, L))
REAL = jnp.ones((B, L), bool)

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


def fixed_batch(seed: int, entry: tuple):
    """(X, M, V) of shape (B, L, K): ``series_batch`` with seed ``seed``, the index ``entry``
    made an entry to generate (cond_mask 0 there) and cond_values zeroed off the mask."""
    x, m, v = series_batch(B, L, K, seed=seed)
    m = m.at[entry].set(0.0)
    return x, m, v * m


def series_maker(cls, cond: dict):
    """``make(seed=0, **kw)``: ``cls`` built from the config ``cond`` updated with ``kw``."""
    def make(seed=0, **kw):
        return cls(**{**cond, **kw}, rngs=nnx.Rngs(seed))
    return make


def randomized_net_fixture(make):
    """A module-scoped fixture ``net``: ``make()`` (the conditional net) with its
    zero-initialised layers randomised."""
    @pytest.fixture(scope="module")
    def net():
        return randomize_zero_params(make())
    return net


def series_call(x, m, v):
    """``call(f, x=x, t=T, label=LAB, key=None, **kw)``: the general call pattern of ``f``
    (from ``series_apply``) with every keyword given, cond_mask=m, cond_values=v, time=TIME
    and pad_mask=REAL unless ``kw`` overrides them (one compiled program per key/None)."""
    def call(f, x=x, t=T, label=LAB, key=None, **kw):
        kw = {"cond_mask": m, "cond_values": v, "time": TIME, "pad_mask": REAL, **kw}
        return f(x, t, label, key, **kw)
    return call


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

    def loss_fn(p):
        out = nnx.merge(graphdef, p, rest)(xt, t, cond_mask=mask, cond_values=values,
                                           pad_mask=jnp.asarray(pad))
        return jnp.sum(target * (out - eps) ** 2) / jnp.sum(target)

    new, losses, final = adam_fit(loss_fn, params, steps=steps, lr=lr)
    return np.asarray(losses), float(final), params, new
