"""DiffusionMBIR (Chung, Ryu & Ye, CVPR 2023, "Solving 3D Inverse Problems using
Pre-trained 2D Diffusion Models"): 3-D reconstruction with a 2-D diffusion prior on the
axial slices and a total-variation prior along the remaining axis z.

The volume is a batch of D axial slices, x of shape (D, H, W, C): the 2-D prior sees each
slice as one example, the operator A acts on the whole batch (e.g.
:class:`~diffax.inverse.Radon`: a sparse-view sinogram per slice), and the TV term couples
the slices. Each reverse step t -> s (a decreasing grid t_0 > ... > t_N) is

1. the per-slice diffusion step, all slices as one batch (one model evaluation):
   (x0_hat, eps_hat) at (x_t, t), then the DDIM(eta) step
   x_s' = alpha_s x0_hat + sqrt(sigma_s^2 - c^2) eps_hat + c z
   (:func:`diffax.inverse.steps.renoise_prediction`; eta = 1 is the ancestral step that
   plays the role of the paper's predictor-corrector VE-SDE step);
2. data consistency, ``n_admm`` iterations of ADMM-TV along z
   (:func:`diffax.inverse.mbir_admm.admm_tv_step`, axes ``tv_axes`` = (0,)) for

       min_v 1/2 ||A v - y||^2 + lam ||D_z v||_1,

   i.e. v <- CG_{n_cg}[(A^T A + rho D_z^T D_z) v = A^T y + rho D_z^T (z - u)],
   z <- S_{lam/rho}(D_z v + u), u <- u + D_z v - z, with (z, u) carried from step to
   step (the official code keeps them across the whole reverse process). The paper
   applies it to the noisy state itself (a VE process, x_t = x_0 + sigma_t eps); for a
   process with alpha_s != 1 it is applied to v = x_s' / alpha_s (the same VE-scaled
   state) and x_s = alpha_s v. ``consistency="x0"`` instead applies it to x0_hat
   before the DDIM step (re-noising with the same eps_hat), the variant of Chung, Lee
   & Ye's Decomposed Diffusion Sampler (ICLR 2024) that tolerates fewer steps.

The official code uses 2000 VE-SDE steps with one predictor and one Langevin corrector
step, one ADMM iteration with one CG iteration per step, lam = 0.04, rho = 10 for its
normalised Radon transform; here the counts are options (docs/mbir.md gives what was
measured). With ``lam = 0`` the slices are independent (the "slice-by-slice" ablation);
with ``n_cg = 0`` and ``lam = 0`` the loop is the plain DDIM sampler. NFE = N.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from diffax import checks, predictions
from diffax.inverse.common import check_measurement
from diffax.inverse.mbir_admm import ADMMState, admm_tv_step, linear_adjoint
from diffax.inverse.steps import renoise_prediction
from diffax.processes.base import GaussianProcess
from diffax.samplers.base import (ModelFn, SampleOutput, check_timesteps, run_scan,
                                  x0_eps_predictor)

Array = jax.Array
CONSISTENCY = ("state", "x0")


def diffusion_mbir(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
                   timesteps: Any, *, operator: Callable[[Array], Array], y: Array,
                   key: Array, prediction: str = "eps", lam: Any = 0.04, rho: Any = 10.0,
                   n_cg: int = 1, n_admm: int = 1, eta: Any = 1.0,
                   tv_axes: Sequence[int] = (0,), consistency: str = "state",
                   cond: dict | None = None, return_trajectory: bool = False) -> SampleOutput:
    """DiffusionMBIR from ``x_init`` (D slices, (D, H, W, C)) at timesteps[0] to
    timesteps[-1] for measurements ``y = operator(x)`` (module docstring)."""
    ts = check_timesteps(timesteps, process, name="diffusion_mbir")
    predictions.check_kind(prediction)
    checks.choice("diffusion_mbir", "consistency", consistency, CONSISTENCY)
    checks.integer("diffusion_mbir", "n_cg", n_cg, minimum=0)
    checks.integer("diffusion_mbir", "n_admm", n_admm, minimum=0)
    checks.in_range("diffusion_mbir", "lam", lam, lo=0, skip_traced=True)
    checks.positive("diffusion_mbir", "rho", rho, skip_traced=True)
    x_init = jnp.asarray(x_init)
    check_measurement(operator, x_init, y, "diffusion_mbir")
    y = jnp.asarray(y, x_init.dtype)
    adjoint = linear_adjoint(operator, x_init.shape, x_init.dtype)
    aty = adjoint(y)
    predict = x0_eps_predictor(model_fn, prediction, process, cond)
    tv_axes = tuple(tv_axes)

    def consistent(v, admm):
        def body(_, carry):
            return admm_tv_step(*carry, operator, adjoint, aty, lam=lam, rho=rho,
                                axes=tv_axes, n_cg=n_cg)

        return jax.lax.fori_loop(0, n_admm, body, (v, admm))

    def step(carry, args):
        x, admm = carry
        t, s, k = args
        x0, eps = predict(x, t)
        z = jax.random.normal(k, x.shape, x.dtype)
        if consistency == "x0":
            x0, admm = consistent(x0, admm)
            return renoise_prediction(process, x0, eps, t, s, eta, z), admm
        a_s = process.alpha(s)
        v, admm = consistent(renoise_prediction(process, x0, eps, t, s, eta, z) / a_s, admm)
        return a_s * v, admm

    tj = jnp.asarray(ts, x_init.dtype)
    xs = (tj[:-1], tj[1:], jax.random.split(key, ts.shape[0] - 1))
    admm0 = ADMMState.zeros(x_init.shape, len(tv_axes), x_init.dtype)
    (x, _), traj = run_scan(step, (x_init, admm0), xs, lambda c: c[0], x_init,
                            return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=int(ts.shape[0] - 1))


__all__ = ["CONSISTENCY", "diffusion_mbir"]
