"""Log-likelihood of molecules in EDM's zero-centre-of-mass subspace, through the
library's PF-ODE estimator (no core change).

EDM (Hoogeboom et al. 2022, sec. 3.2 and App. A) diffuses the positions of a molecule of
n real atoms in the linear subspace sum_i r_i = 0, of dimension (n - 1) x 3, and the atom
features (one-hot types, charges) in their full dimension n x F. A density on that
subspace S counts d_S = 3 (n - 1) + F n dimensions: its Gaussian prior is

    log N_S(z; 0, s^2 I) = -|z|^2 / (2 s^2) - d_S / 2 log(2 pi s^2),     z in S,

and the probability-flow ODE (Song et al. 2021) changes it by the divergence *within S*.
With Pi the orthogonal projection onto S (positions: mean over the real atoms removed,
padding rows zeroed; features: padding rows zeroed), the task integrates the velocity
field V(x) = Pi v(Pi x, t), where v is the model's PF-ODE velocity. For x in S the state
stays in S, and

    div V = tr(Pi J_v Pi) = the divergence of v restricted to S,

exactly (the library's ``exact`` divergence sums e_i^T Pi J Pi e_i over all coordinates)
and in expectation (the Hutchinson estimate eps^T Pi J Pi eps, E = tr(Pi J Pi)). So
``pf_ode_log_likelihood`` with the velocity model V and the subspace prior above returns
log p_S(x) on the subspace, with no centre-of-mass or padding dimensions counted. A 1-atom
molecule has d_S = F (no position dimensions).

Padding rows, and the three centre-of-mass directions of the positions, never move and
contribute nothing (their rows of V are 0).

**ELBO.** The library's continuous VDM bound (Kingma et al. 2021) counts every
coordinate. :func:`subspace_elbo` gives it the eps-model Pi eps_hat(Pi z) + (I - Pi) z /
sigma_t, which outside S is the exact eps of data that are exactly 0 there: with x in S,
(I - Pi) z_t = sigma_t (I - Pi) eps, so those coordinates add nothing to the diffusion
loss, and nothing to the prior KL (q(z_1 | x) = N(0, sigma_1^2) = the prior there). Only
the reconstruction's constant -(D - d_S)/2 (log 2 pi - lambda_0) remains, and is removed:
the result is the VDM bound of the d_S-dimensional model.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from diffax import predictions
from diffax.likelihood import ELBOResult, continuous_elbo, pf_ode_log_likelihood
from diffax.likelihood.pf_ode import LikelihoodResult
from diffax.nn.egnn import zero_center_of_mass
from diffax.processes.base import GaussianProcess, broadcast_to_x
from experiments.tasks.molecules import POSITION_DIMS

Array = jax.Array


def project_subspace(x: Array, node_mask: Array) -> Array:
    """Pi x: positions (channels 0..2) moved to zero mean over the real atoms, every
    channel of a padding row zeroed. ``x`` (B, N, 3 + F), ``node_mask`` (B, N)."""
    m = node_mask.astype(x.dtype)[..., None]
    pos = zero_center_of_mass(x[..., :POSITION_DIMS], node_mask)
    return jnp.concatenate([pos, x[..., POSITION_DIMS:] * m], axis=-1)


def subspace_dims(node_mask: Array, num_features: int) -> Array:
    """d_S = 3 (n - 1) + F n per molecule (n real atoms, F feature channels)."""
    n = jnp.sum(node_mask, axis=-1)
    return POSITION_DIMS * (n - 1) + num_features * n


def subspace_prior_log_prob(z: Array, node_mask: Array, std: Any) -> Array:
    """log N_S(Pi z; 0, std^2 I) with the subspace dimension d_S (module docstring)."""
    zs = project_subspace(z, node_mask)
    d = subspace_dims(node_mask, z.shape[-1] - POSITION_DIMS).astype(z.dtype)
    std = jnp.asarray(std, z.dtype)
    sq = jnp.sum(zs.reshape(zs.shape[0], -1) ** 2, axis=-1)
    return -0.5 * sq / std**2 - 0.5 * d * jnp.log(2 * math.pi * std**2)


def subspace_log_likelihood(model_fn, process: GaussianProcess, kind: str, x: Array,
                            node_mask: Array, *, divergence: str = "exact",
                            key: Array | None = None, n_probes: int = 1,
                            rtol: float = 1e-5, atol: float = 1e-5,
                            solver: str = "dopri5") -> LikelihoodResult:
    """log p_S(x) in nats per molecule on the zero-CoM subspace (module docstring).

    Args:
      model_fn: ``model_fn(x, t, node_mask=...)`` predicting ``kind`` in model space.
      x: (B, N, 3 + F) molecules in model space with zero-CoM positions over the real
        atoms (projected here anyway); ``node_mask`` (B, N), every molecule with >= 1
        atom.
      divergence, key, n_probes, rtol, atol, solver: as
        :func:`diffax.likelihood.pf_ode_log_likelihood`.
    """
    if x.ndim != 3 or x.shape[-1] <= POSITION_DIMS or node_mask.shape != x.shape[:2]:
        raise ValueError(f"subspace_log_likelihood: x must be (B, N, 3 + F) with F >= 1 and "
                         f"node_mask (B, N); got x {x.shape}, node_mask {node_mask.shape}.")
    node_mask = jnp.asarray(node_mask, x.dtype)

    def velocity_model(y, t, **_):
        y = project_subspace(y, node_mask)
        out = model_fn(y, t, node_mask=node_mask)
        v = predictions.convert(out, kind, "velocity", y, t, process)
        return project_subspace(v, node_mask)

    def prior(z):
        return subspace_prior_log_prob(z, node_mask, process.prior_std)

    return pf_ode_log_likelihood(velocity_model, process, project_subspace(x, node_mask),
                                 prediction="velocity", divergence=divergence, key=key,
                                 n_probes=n_probes, rtol=rtol, atol=atol, solver=solver,
                                 prior_log_prob=prior)


def subspace_elbo(model_fn, process: GaussianProcess, kind: str, x: Array,
                  node_mask: Array, key: Array, *, n_time: int = 64, n_eps: int = 1,
                  time_sampling: str = "log_snr") -> ELBOResult:
    """The continuous VDM bound on log p_S(x) per molecule (module docstring), with the
    arguments of :func:`subspace_log_likelihood` and of
    :func:`diffax.likelihood.continuous_elbo`."""
    node_mask = jnp.asarray(node_mask, x.dtype)

    def eps_model(z, t, **_):
        zs = project_subspace(z, node_mask)
        eps = predictions.convert(model_fn(zs, t, node_mask=node_mask), kind, "eps", zs, t,
                                  process)
        sigma = broadcast_to_x(process.sigma(t), z)
        return project_subspace(eps, node_mask) + (z - zs) / sigma

    r = continuous_elbo(eps_model, process, project_subspace(x, node_mask), key,
                        prediction="eps", n_time=n_time, n_eps=n_eps,
                        time_sampling=time_sampling)
    outside = math.prod(x.shape[1:]) - subspace_dims(node_mask, x.shape[-1] - POSITION_DIMS)
    lam0 = process.log_snr(jnp.asarray(process.t_min, x.dtype))
    fix = 0.5 * outside * (math.log(2 * math.pi) - lam0)
    return ELBOResult(elbo=r.elbo + fix, reconstruction=r.reconstruction + fix,
                      prior_kl=r.prior_kl, diffusion_loss=r.diffusion_loss)


__all__ = ["project_subspace", "subspace_dims", "subspace_elbo", "subspace_log_likelihood",
           "subspace_prior_log_prob"]
