"""Pseudo numerical methods: S-PNDM, F-PNDM (Liu et al., 2022), PLMS (LDM/diffusers)
and iPNDM (Zhang & Chen, 2023).

Liu, Ren, Lin & Zhao, "Pseudo Numerical Methods for Diffusion Models on Manifolds"
(ICLR 2022) split a step into a *gradient part* (a combination ``e'`` of noise
predictions) and a *transfer part*, the DDIM step (their eq. 9) written here for any
Gaussian process x_t = alpha x0 + sigma eps:

    phi(x, e, t, t') = alpha' x0_hat + sigma' e,   x0_hat = (x - sigma e) / alpha,

with (alpha, sigma) at t and (alpha', sigma') at t' (alpha must be > 0 on the grid,
e.g. rectified flow needs t_max < 1). Each variant is x_{i+1} =
phi(x_i, e'_i, t_i, t_{i+1}) with e_i = eps(x_i, t_i) and:

* ``"s_pndm"``: first step pseudo improved Euler (eq. 11),
      e' = (e_0 + eps(phi(x_0, e_0, t_0, t_1), t_1)) / 2                (2 NFE),
  then the 2-step pseudo linear multistep e'_i = (3 e_i - e_{i-1}) / 2. NFE = N + 1.
* ``"f_pndm"``: the first three steps pseudo Runge-Kutta (eq. 13), t_m = (t + t')/2,
      e1 = eps(x, t),  x1 = phi(x, e1, t, t_m),  e2 = eps(x1, t_m),
      x2 = phi(x, e2, t, t_m),  e3 = eps(x2, t_m),  x3 = phi(x, e3, t, t'),
      e4 = eps(x3, t'),  e' = (e1 + 2 e2 + 2 e3 + e4) / 6                (4 NFE),
  then the 4-step pseudo linear multistep (eq. 12)
      e'_i = (55 e_i - 59 e_{i-1} + 37 e_{i-2} - 9 e_{i-3}) / 24.
  NFE = 4 min(N, 3) + max(N - 3, 0) (= N + 9 for N >= 3). The history keeps e1 of
  each Runge-Kutta step, as in the authors' code.
* ``"plms"``: the "PLMS" sampler of latent diffusion (Rombach et al., 2022) and of
  diffusers' ``PNDMScheduler(skip_prk_steps=True)``: a pseudo improved Euler first
  step (2 NFE), then Adams-Bashforth weights of order 2, 3 and 4 on steps 1, 2 and
  >= 3 (23/12, -16/12, 5/12 for order 3). NFE = N + 1.
* ``"ipndm"``: improved PNDM of Zhang & Chen, "Fast Sampling of Diffusion Models with
  Exponential Integrator" (DEIS, ICLR 2023): the same Adams-Bashforth combination fed
  to the eps-parameterized exponential integrator (which *is* phi), warmed up with
  orders 1, 2, 3 on steps 0, 1, 2 instead of Runge-Kutta. One NFE per step, NFE = N.

What is implemented versus diffusers' ``PNDMScheduler`` (same update, different
bookkeeping): diffusers repeats the second timestep of its list so that the 2-NFE
first step of PLMS spans two ``step`` calls (the evaluation at the Euler-predicted
point is not stored in the history; neither is it here); it steps on integer
training steps with "leading" spacing and sends the last step to
``final_alpha_cumprod`` (alpha = 1 with ``set_alpha_to_one``); and its PRK mode
rounds the midpoint timestep down to an integer. Here the grid is whatever
``timesteps`` says (``schedules.discrete(process, n, "leading")`` mimics diffusers'
grid), the last step lands on ``timesteps[-1]``, and the midpoint is exact.

Convergence order. With y = x / alpha and s = sigma / alpha (the EDM noise level),
the PF-ODE is dy/ds = eps and phi is exactly the Euler step y' = y + (s' - s) e.
The multistep weights above are the equal-step Adams-Bashforth weights *in s*, and
the Runge-Kutta midpoint t_m is the midpoint in t, not in s. Expanding
e_{i-j} = e_i + e_s (s_{i-j} - s_i) + ... on a grid s_i = S(i/N), h = 1/N, gives
sum_j beta_j e_{i-j} = mean of eps over [s_i, s_{i+1}] - c e_s S'' h^2 + O(h^3)
(e_s = d eps/ds along the solution; c = 1/2 for AB2, 1/12 for AB3 and AB4), i.e. a
local error O(h^3) per step unless the s-grid is uniform (S'' = 0). Hence, on any
schedule that is not uniform in s (uniform log-SNR, uniform t for VP, Karras, ...),
**all four variants are globally second order**, which the tests measure and the
registry records. On a uniform-s
grid the warm-up decides: S-PNDM 2 (AB2), PLMS 3 (the Heun and AB2 warm-up steps
have local error O(h^3)), iPNDM 2 (its first step is plain DDIM, local error O(h^2)),
and F-PNDM 4 only if s is also affine in t (the EDM process), else 3 (the t-midpoint
breaks the RK4 condition sum_i b_i c_i = 1/2 at O(h)). Measured on the GMM oracle (fit
over N = 32..128): 1.98 (S-PNDM) and 2.04 (the other three) on VP-linear with a
uniform log-SNR grid; on EDM with a uniform grid on [0.5, 3] (N = 128..512) F-PNDM
3.91, iPNDM 2.07, S-PNDM 1.99 and PLMS 3.91: the warm-up errors of PLMS are O(h^3)
but with so small a constant (eps barely changes at high noise) that its order-3
regime lies beyond N = 512.

The sampler runs two branch-free ``lax.scan`` loops: the warm-up steps (Runge-Kutta
or improved Euler), then the multistep steps on the shared driver
(:mod:`diffax.samplers.multistep`), with phi written as the linear map
x_{i+1} = (alpha'/alpha) x_i + (sigma' - (alpha'/alpha) sigma) e'_i and per-step weights
precomputed from the number of stored evaluations (lower orders at the start).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks, predictions
from diffax.processes.base import GaussianProcess
from diffax.samplers import multistep
from diffax.samplers.base import ModelFn, SampleOutput, check_timesteps, predictor, run_scan
from diffax.samplers.registry import register

Array = jax.Array

# Adams-Bashforth weights for equal steps, newest evaluation first.
AB_WEIGHTS = {
    1: (1.0,),
    2: (3.0 / 2.0, -1.0 / 2.0),
    3: (23.0 / 12.0, -16.0 / 12.0, 5.0 / 12.0),
    4: (55.0 / 24.0, -59.0 / 24.0, 37.0 / 24.0, -9.0 / 24.0),
}

# variant -> (warm-up kind, number of warm-up steps, maximal multistep order)
VARIANTS = {
    "s_pndm": ("improved_euler", 1, 2),
    "f_pndm": ("runge_kutta", 3, 4),
    "plms": ("improved_euler", 1, 4),
    "ipndm": (None, 0, 4),
}
_WARMUP_NFE = {"improved_euler": 2, "runge_kutta": 4}
_HIST = 3  # stored previous evaluations (enough for 4th order)


def pndm_nfe(variant: str, n: int) -> int:
    """Exact number of model evaluations of ``variant`` for ``n`` steps."""
    kind, n_warm, _ = _check_variant(variant)
    w = min(n_warm, n)
    return (w * _WARMUP_NFE[kind] if kind else 0) + (n - w)


def _check_variant(variant: str):
    return VARIANTS[checks.choice("pndm", "variant", variant, VARIANTS)]


def _multistep_weights(n_steps: int, n_prev: int, max_order: int) -> np.ndarray:
    """(n_steps, 4) Adams-Bashforth weights on [e_i, e_{i-1}, e_{i-2}, e_{i-3}]; the
    first step has ``n_prev`` stored evaluations (lower orders while warming up)."""
    w = np.zeros((n_steps, _HIST + 1))
    for k, order in enumerate(multistep.step_orders(n_steps, max_order, history=n_prev)):
        w[k, :order] = AB_WEIGHTS[order]
    return w


@register("s_pndm", order=2, nfe=functools.partial(pndm_nfe, "s_pndm"),
          options=dict(variant="s_pndm"))
@register("f_pndm", order=2, nfe=functools.partial(pndm_nfe, "f_pndm"),
          options=dict(variant="f_pndm"))
@register("plms", order=2, nfe=functools.partial(pndm_nfe, "plms"),
          options=dict(variant="plms"))
@register("ipndm", order=2, nfe=functools.partial(pndm_nfe, "ipndm"),
          options=dict(variant="ipndm"))
def pndm(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Array, *,
         prediction: str = "eps", key: Array | None = None, return_trajectory: bool = False,
         cond: dict | None = None, variant: str = "f_pndm") -> SampleOutput:
    """PNDM-family sampler (deterministic; ``key`` is ignored).

    Args:
      variant: ``"s_pndm"``, ``"f_pndm"``, ``"plms"`` or ``"ipndm"`` (module docstring).

    Returns:
      :class:`SampleOutput` with NFE ``pndm_nfe(variant, N)``.
    """
    kind, n_warm, max_order = _check_variant(variant)
    ts = check_timesteps(timesteps, process, name=f"pndm[{variant}]")
    if jnp.issubdtype(x_init.dtype, jnp.floating):
        ts = ts.astype(x_init.dtype)
    n = ts.shape[0] - 1
    if variant == "f_pndm" and n < 4:
        raise ValueError(
            f"pndm[f_pndm] needs at least 4 steps (3 pseudo Runge-Kutta warm-up steps and "
            f"one linear multistep), got {n} steps (NFE {pndm_nfe(variant, n)}). With fewer "
            f"steps the Runge-Kutta stages evaluate the model near t_min far from the data "
            f"and the result diverges; use s_pndm, plms or ipndm for NFE < 13.")
    w = min(n_warm, n)
    eps_fn = predictor(model_fn, prediction, process, "eps", cond)

    # Coefficient tables (before the scans).
    t, t_next = ts[:-1], ts[1:]
    t_mid = 0.5 * (t + t_next)
    a_next, s_next = process.alpha(t_next), process.sigma(t_next)
    a_mid, s_mid = process.alpha(t_mid), process.sigma(t_mid)

    def transfer(x, e, t_from, a_to, s_to):
        # phi: DDIM step from t_from to the time with coefficients (a_to, s_to).
        x0_hat, _ = predictions.to_x0_eps("eps", e, x, t_from, process)
        return a_to * x0_hat + s_to * e

    def push(hist, e):
        return (e,) + hist[:-1]

    def improved_euler_step(carry, c):
        x, hist = carry
        ti, tn, an, sn = c
        e1 = eps_fn(x, ti)
        e2 = eps_fn(transfer(x, e1, ti, an, sn), tn)
        return transfer(x, 0.5 * (e1 + e2), ti, an, sn), push(hist, e1)

    def runge_kutta_step(carry, c):
        x, hist = carry
        ti, tm, tn, am, sm, an, sn = c
        e1 = eps_fn(x, ti)
        e2 = eps_fn(transfer(x, e1, ti, am, sm), tm)
        e3 = eps_fn(transfer(x, e2, ti, am, sm), tm)
        e4 = eps_fn(transfer(x, e3, ti, an, sn), tn)
        e = (e1 + 2.0 * e2 + 2.0 * e3 + e4) / 6.0
        return transfer(x, e, ti, an, sn), push(hist, e1)

    sl_w, sl_m = slice(0, w), slice(w, n)
    carry = (x_init, tuple(jnp.zeros_like(x_init) for _ in range(_HIST)))
    trajs = []
    if w > 0:
        if kind == "runge_kutta":
            step = runge_kutta_step
            xs = (t[sl_w], t_mid[sl_w], t_next[sl_w], a_mid[sl_w], s_mid[sl_w],
                  a_next[sl_w], s_next[sl_w])
        else:
            step = improved_euler_step
            xs = (t[sl_w], t_next[sl_w], a_next[sl_w], s_next[sl_w])
        carry, traj = run_scan(step, carry, xs, lambda c: c[0], x_init, return_trajectory)
        trajs.append(traj)
    if n > w:
        # phi(x, e', t, t') = (a'/a) x + (s' - (a'/a) s) e' is linear in e' = sum_j w_j e_{i-j}
        ratio = a_next / process.alpha(t)
        A = ratio[sl_m]
        B = (s_next - ratio * process.sigma(t))[sl_m]
        W = B[:, None] * jnp.asarray(_multistep_weights(n - w, w, max_order), dtype=ts.dtype)
        x, traj = multistep.run(eps_fn, carry[0], ts[w:], A, W, history=carry[1],
                                return_trajectory=return_trajectory)
        carry = (x, carry[1])
        trajs.append(traj[1:] if trajs and return_trajectory else traj)
    traj = jnp.concatenate(trajs, axis=0) if return_trajectory else None
    return SampleOutput(x=carry[0], trajectory=traj, nfe=pndm_nfe(variant, n))
