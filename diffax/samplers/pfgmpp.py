"""PFGM++ sampler (Xu et al., 2023, "PFGM++: Unlocking the Potential of Physics-Inspired
Generative Models", Sec. 3-4): Heun steps on the PFGM++ ODE, and its sigma grid.

**The ODE.** In the augmented space R^{N+D} the data are charges on ``z = 0``; a sample
moves along the electric field E, and with ``r = ||z||`` as the clock (the paper's
dimension reduction) ``dx/dr = E(x)_x / E(x)_r``. For the empirical field of the data,
``E(x)_x = c int (x - y) / (||x - y||^2 + r^2)^((N+D)/2) p(y) dy`` and
``E(x)_r = c int r / (||x - y||^2 + r^2)^((N+D)/2) p(y) dy``; their ratio weighs y by
the PFGM++ kernel ``p_r(x | y)``, i.e. by the posterior of y given x, so

    dx/dr = (x - E[y | x]) / r = (x - D(x; sigma)) / r,   r = sigma sqrt(D),

with D the denoiser trained by :mod:`diffax.objectives.pfgmpp`. As dr / r = dsigma / sigma
this is EDM's ODE ``dx/dsigma = (x - D(x; sigma)) / sigma`` (Karras et al., 2022, eq. 4
with s = 1): what differs from EDM is the denoiser (the posterior under the heavy-tailed
kernel) and the prior (the kernel at r_max around 0,
:meth:`diffax.processes.PFGMPP.prior_sample`: uniform angle, radius from the paper's
Beta distribution). As D -> inf both tend to EDM's.

**Steps.** Time is sigma (the PFGMPP process's t). On a decreasing grid sigma_0 > ... >
sigma_N (``pfgmpp_karras``: EDM's eq. 5, rho = 7, over the process's [t_min, t_max]),
with d(x, s) = (x - D(x; s)) / s, Heun's method (EDM Algorithm 1) is

    x_e = x_i + (s_{i+1} - s_i) d(x_i, s_i),
    x_{i+1} = x_i + (s_{i+1} - s_i) (d(x_i, s_i) + d(x_e, s_{i+1})) / 2,

global order 2, NFE = 2N (2N - 1 with ``final_euler=True``, a plain Euler last step).

**Predictions.** ``"x0"`` (the denoiser, default) or ``"eps"``, read as the normalised
field in sigma units ``(x - D) / sigma = dx/dsigma``. The Gaussian identities behind
``"v"``, ``"score"`` and ``"velocity"`` do not hold for the PFGM++ kernel; they are refused.
Registered as ``pfgmpp_heun`` (family ``"pfgmpp"``): Gaussian samplers refuse PFGM++
processes and this one refuses Gaussian processes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax import checks, predictions
from diffax.processes.base import broadcast_to_x
from diffax.processes.edm import karras_sigmas
from diffax.processes.protocol import PFGMPP_FAMILY, family_of
from diffax.samplers.base import ModelFn, SampleOutput, batch_time, check_timesteps, run_scan
from diffax.samplers.registry import register
from diffax.samplers.schedules import SCHEDULES

Array = jax.Array
PREDICTIONS = ("x0", "eps")


def _check_process(process, where: str) -> None:
    family = family_of(process)
    if family != PFGMPP_FAMILY:
        raise ValueError(f"{where}: process must be a PFGM++ process (family "
                         f"{PFGMPP_FAMILY!r}: diffax.processes.PFGMPP), got "
                         f"{type(process).__name__} of family {family!r}; Gaussian "
                         f"processes use the Gaussian samplers (e.g. 'edm_heun').")


@SCHEDULES.register("pfgmpp_karras", family=PFGMPP_FAMILY)
def pfgmpp_karras(process, n: int, t_start: float | None = None, t_end: float | None = None,
                  rho: float = 7.0) -> Array:
    """EDM's grid (Karras et al., 2022, eq. 5) in sigma for a PFGM++ process: N + 1 levels
    from ``t_start`` (default t_max) down to ``t_end`` (default t_min); the radii are
    ``r = sigma sqrt(D)``."""
    where = "pfgmpp_karras"
    _check_process(process, where)
    checks.positive_int(where, "n", n)
    hi = process.t_max if t_start is None else float(t_start)
    lo = process.t_min if t_end is None else float(t_end)
    checks.interval(where, lo, hi, lo=process.t_min, hi=process.t_max,
                    names=("t_end", "t_start"))
    return karras_sigmas(n + 1, lo, hi, rho).at[0].set(hi).at[-1].set(lo)


def pfgmpp_nfe(n: int, final_euler: bool = False) -> int:
    """Model evaluations of N Heun steps: 2N, or 2N - 1 with a final Euler step."""
    return 2 * n - (1 if final_euler and n > 0 else 0)


def field_fn(model_fn: ModelFn, prediction: str, cond: dict | None = None):
    """``d(x, sigma_scalar) = (x - D(x; sigma)) / sigma = dx/dsigma`` from the model."""
    predictions.check_kind(prediction)
    if prediction not in PREDICTIONS:
        raise ValueError(f"pfgmpp_heun: prediction {prediction!r} is not defined for PFGM++ "
                         f"(its kernel is not Gaussian); valid choices: {list(PREDICTIONS)}.")
    cond = cond or {}

    def d(x, s):
        out = model_fn(x, batch_time(s, x), **cond)
        if prediction == "eps":
            return out
        return (x - out) / broadcast_to_x(s, x)

    return d


@register("pfgmpp_heun", order=2, nfe=pfgmpp_nfe, options=dict(final_euler=False),
          family=PFGMPP_FAMILY)
def pfgmpp_heun(model_fn: ModelFn, process, x_init: Array, timesteps: Array, *,
                prediction: str = "x0", key: Array | None = None,
                return_trajectory: bool = False, cond: dict | None = None,
                final_euler: bool = False) -> SampleOutput:
    """Heun on the PFGM++ ODE from ``timesteps[0]`` to ``timesteps[-1]`` (sigmas; module
    docstring); ``key`` is ignored (deterministic)."""
    where = "pfgmpp_heun"
    _check_process(process, where)
    checks.boolean(where, "final_euler", final_euler)
    d = field_fn(model_fn, prediction, cond)
    ts = check_timesteps(timesteps, process, name=where)
    if jnp.issubdtype(x_init.dtype, jnp.floating):
        ts = ts.astype(x_init.dtype)
    n = ts.shape[0] - 1

    def step(x, c, correct):
        s, s_next = c
        h = s_next - s
        e = d(x, s)
        x_e = x + h * e
        if not correct:
            return x_e
        return x + h * (0.5 * e + 0.5 * d(x_e, s_next))

    n_heun = n - 1 if final_euler else n
    x, traj = run_scan(lambda x, c: step(x, c, True), x_init,
                       (ts[:n_heun], ts[1:n_heun + 1]), lambda x: x, x_init,
                       return_trajectory)
    if final_euler:
        x = step(x, (ts[n - 1], ts[n]), False).astype(x_init.dtype)
        if return_trajectory:
            traj = jnp.concatenate([traj, x[None]], axis=0)
    return SampleOutput(x=x, trajectory=traj, nfe=pfgmpp_nfe(n, final_euler))


__all__ = ["PREDICTIONS", "field_fn", "pfgmpp_heun", "pfgmpp_karras", "pfgmpp_nfe"]
