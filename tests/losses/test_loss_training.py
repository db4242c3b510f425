"""Learned check: a small MLP trained with the losses approaches the exact predictor
of a 2-D Gaussian mixture, and a mis-wired loss does not.

The network is a tiny pure-JAX MLP defined here (independent of diffax.nn). Error is
measured on held-out (x_t, t), t ~ U[t_min, t_max], relative to the error of the
trivial predictor 0 (the best x-independent prediction for this zero-mean mixture).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from diffax import losses
from diffax.analytic import GaussianMixture
from diffax.processes import RectifiedFlow, VPLinear

MIXTURE = GaussianMixture.isotropic([0.5, 0.5], [[-1.5, -1.0], [1.5, 1.0]], 0.35)
WIDTH, STEPS, BATCH, LR = 48, 300, 128, 3e-3
GOOD, BAD = 0.1, 0.3  # relative error thresholds


def init_mlp(key, sizes):
    params = []
    for k, (n_in, n_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        params.append((jax.random.normal(k, (n_in, n_out)) / np.sqrt(n_in), jnp.zeros(n_out)))
    return params


def mlp(params, x, t, process):
    """Inputs: x and features of the noise level (log-SNR scaled, and t)."""
    lam = process.log_snr(t)[:, None]
    h = jnp.concatenate([x, jnp.tanh(lam / 8.0), jnp.sin(lam / 4.0), t[:, None]], axis=-1)
    for w, b in params[:-1]:
        h = jax.nn.silu(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def train(loss_fn, process, seed=0):
    tx = optax.adam(LR)
    params = init_mlp(jax.random.key(seed), [5, WIDTH, WIDTH, WIDTH, 2])
    data = MIXTURE.sample(jax.random.key(seed + 7), STEPS * BATCH).reshape(STEPS, BATCH, 2)

    def step(carry, inputs):
        params, opt_state = carry
        x, k_loss = inputs
        batch = {"x": x}
        objective = lambda p: loss_fn(lambda x, t, **c: mlp(p, x, t, process), batch, k_loss)
        (loss, _), grads = jax.value_and_grad(objective, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state)
        return (optax.apply_updates(params, updates), opt_state), loss

    keys = jax.random.split(jax.random.key(seed + 1), STEPS)
    (params, _), loss_curve = jax.jit(lambda c: jax.lax.scan(step, c, (data, keys)))(
        (params, tx.init(params)))
    return params, np.asarray(loss_curve)


def relative_error(params, process, kind, n=4096):
    """E||f - f*||^2 / E||f*||^2 on held-out (x_t, t)."""
    k_t, k_x, k_eps = jax.random.split(jax.random.key(123), 3)
    t = jax.random.uniform(k_t, (n,), minval=process.t_min, maxval=process.t_max)
    x_t = process.perturb(MIXTURE.sample(k_x, n), t, jax.random.normal(k_eps, (n, 2)))
    exact = MIXTURE.predict(kind, x_t, t, process)
    pred = jax.jit(mlp, static_argnums=3)(params, x_t, t, process)
    err = np.mean(np.sum((np.asarray(pred) - np.asarray(exact)) ** 2, -1))
    return float(err / np.mean(np.sum(np.asarray(exact) ** 2, -1)))


def test_eps_dsm_learns_exact_eps_and_wrong_kind_does_not():
    process = VPLinear()
    params, curve = train(losses.denoising_loss(process, kind="eps",
                                                time_sampling="antithetic"), process)
    assert curve[-50:].mean() < 0.8 * curve[:10].mean()  # the loss falls
    good = relative_error(params, process, "eps")
    assert good < GOOD, good
    # Broken wiring: the loss regresses the x0 target while the model is used as eps.
    params_bad, _ = train(losses.denoising_loss(process, kind="x0"), process)
    bad = relative_error(params_bad, process, "eps")
    assert bad > BAD, bad


def test_flow_matching_learns_exact_velocity():
    process = RectifiedFlow()
    params, _ = train(losses.flow_matching_loss(process), process, seed=2)
    err = relative_error(params, process, "velocity")
    assert err < GOOD, err
