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

**Discrete features.** Atom types and charges are discrete, so EDM reports log p(x, h)
with a density for the positions and a *probability mass* for h, through a decoder p(h |
z_0) that integrates the Gaussian reading of z_0 over each value's bin
(:func:`discrete_feature_log_mass`). :func:`subspace_elbo_discrete_features` swaps the
Gaussian feature decoder of the bound above for it; that is the number comparable with
EDM's NLL table (the density bound above counts the features as continuous, in model
units, and is larger by about 4.2 nats, -log(2 pi e sigma_0^2) / 2, per feature channel
and atom at sigma_0 = 0.0035 when the model is confident).
"""

from __future__ import annotations

import dataclasses
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


def _subspace_eps(model_fn, process: GaussianProcess, kind: str, zs: Array, t: Array,
                  node_mask: Array) -> Array:
    """Pi eps_hat(zs, t): the model's eps prediction at a point ``zs`` of S, projected."""
    eps = predictions.convert(model_fn(zs, t, node_mask=node_mask), kind, "eps", zs, t,
                              process)
    return project_subspace(eps, node_mask)


def subspace_elbo(model_fn, process: GaussianProcess, kind: str, x: Array,
                  node_mask: Array, key: Array, *, n_time: int = 64, n_eps: int = 1,
                  time_sampling: str = "log_snr") -> ELBOResult:
    """The continuous VDM bound on log p_S(x) per molecule (module docstring), with the
    arguments of :func:`subspace_log_likelihood` and of
    :func:`diffax.likelihood.continuous_elbo`."""
    node_mask = jnp.asarray(node_mask, x.dtype)

    def eps_model(z, t, **_):
        zs = project_subspace(z, node_mask)
        sigma = broadcast_to_x(process.sigma(t), z)
        return _subspace_eps(model_fn, process, kind, zs, t, node_mask) + (z - zs) / sigma

    r = continuous_elbo(eps_model, process, project_subspace(x, node_mask), key,
                        prediction="eps", n_time=n_time, n_eps=n_eps,
                        time_sampling=time_sampling)
    outside = math.prod(x.shape[1:]) - subspace_dims(node_mask, x.shape[-1] - POSITION_DIMS)
    lam0 = process.log_snr(jnp.asarray(process.t_min, x.dtype))
    fix = 0.5 * outside * (math.log(2 * math.pi) - lam0)
    return ELBOResult(elbo=r.elbo + fix, reconstruction=r.reconstruction + fix,
                      prior_kl=r.prior_kl, diffusion_loss=r.diffusion_loss)


@dataclasses.dataclass(frozen=True)
class DiscreteFeatures:
    """The layout of the feature channels that follow the 3 position channels:
    ``num_one_hot`` one-hot atom-type channels, scaled by ``one_hot_scale`` in model
    space, then, when ``charge_scale`` is given, one integer channel (the atomic number)
    scaled by ``charge_scale`` (EDM's 1/4 and 1/10)."""

    num_one_hot: int
    one_hot_scale: float
    charge_scale: float | None = None

    @property
    def num_channels(self) -> int:
        """The feature channels of this layout: the one-hot, plus the charge if any."""
        return self.num_one_hot + (self.charge_scale is not None)


def _log_interval_mass(lo: Array, hi: Array) -> Array:
    """log(Phi(hi) - Phi(lo)) for lo < hi, accurate in both tails (the mass of a bin
    far from the mean is exp(-hundreds) at EDM's sigma_0, not 0)."""
    upper = lo > 0  # both in the upper tail: Phi(hi) - Phi(lo) = Phic(lo) - Phic(hi)
    a = jnp.where(upper, -hi, lo)
    b = jnp.where(upper, -lo, hi)  # mass = Phi(b) - Phi(a), a < b, b > 0 unless both < 0
    log_b, log_a = jax.scipy.special.log_ndtr(b), jax.scipy.special.log_ndtr(a)
    return log_b + jnp.log1p(-jnp.exp(jnp.minimum(log_a - log_b, 0.0)))


def discrete_feature_log_mass(z0: Array, h: Array, node_mask: Array, alpha0: Array,
                              sigma0: Array, features: DiscreteFeatures) -> Array:
    """log p(h | z_0) per molecule: EDM's decoder of the discrete features (Hoogeboom et
    al. 2022, sec. 3.2, "the likelihood of discrete features").

    With the features back in data units, u = z_0 / (alpha_0 s) and scale
    tau = sigma_0 / (alpha_0 s) (s the channel's model-space scale; u ~ N(h, tau^2) given
    h), an atom's type k has

        p(k | z_0) = M_k / sum_j M_j,     M_j = Phi((3/2 - u_j) / tau) - Phi((1/2 - u_j) / tau),

    the mass that N(u_j, tau^2) puts on [1/2, 3/2] around the one-hot's 1, and its integer
    charge c has p(c | z_0) = Phi((c + 1/2 - u) / tau) - Phi((c - 1/2 - u) / tau), which
    sums to 1 over the integers. The paper writes z_0 and sigma_0; dividing by alpha_0
    (0.999994 at t_min for ``vp_polynomial``) makes u the unbiased reading of h. The log
    masses are computed in both tails (no epsilon added), so a confident decoder gives
    log p = 0 up to float rounding.

    Args:
      z0, h: (B, N, F) feature channels in model space (latent at t_min and the data).
      node_mask: (B, N); padding rows add nothing.
      alpha0, sigma0: scalars, the process at t_min.
    """
    k = features.num_one_hot
    if h.shape[-1] != features.num_channels:
        raise ValueError(f"discrete_feature_log_mass: {h.shape[-1]} feature channels, but "
                         f"the layout {features} has {features.num_channels}.")
    m = jnp.asarray(node_mask, z0.dtype)
    u = z0[..., :k] / (alpha0 * features.one_hot_scale)
    tau = sigma0 / (alpha0 * features.one_hot_scale)
    log_m = _log_interval_mass((0.5 - u) / tau, (1.5 - u) / tau)
    log_p_type = log_m - jax.scipy.special.logsumexp(log_m, axis=-1, keepdims=True)
    onehot = jnp.round(h[..., :k] / features.one_hot_scale)
    per_atom = jnp.sum(onehot * log_p_type, axis=-1)
    if features.charge_scale is not None:
        u = z0[..., k] / (alpha0 * features.charge_scale)
        tau = sigma0 / (alpha0 * features.charge_scale)
        c = jnp.round(h[..., k] / features.charge_scale)
        per_atom = per_atom + _log_interval_mass((c - 0.5 - u) / tau, (c + 0.5 - u) / tau)
    return jnp.sum(per_atom * m, axis=-1)


def subspace_elbo_discrete_features(model_fn, process: GaussianProcess, kind: str, x: Array,
                                    node_mask: Array, key: Array, features: DiscreteFeatures,
                                    *, n_time: int = 64, n_eps: int = 1, n_rec: int = 16,
                                    time_sampling: str = "log_snr"
                                    ) -> tuple[ELBOResult, ELBOResult]:
    """EDM's bound on log p(x, h): a density for the positions, a *mass* for the atom
    types and charges (:func:`discrete_feature_log_mass`), per molecule in nats.

        log p(x, h) >= E_q[log p(x | z_0) + log p(h | z_0)] - KL(q(z_1 | x, h) | p(z_1))
                       - diffusion loss,

    with the continuous VDM diffusion loss and prior KL of :func:`subspace_elbo` (shared:
    computed once) and the Gaussian decoder p(x | z_0) = N(x; x_hat(z_0), sigma_0^2 /
    alpha_0^2) on the 3 (n - 1) position dimensions only, over ``n_rec`` draws of z_0
    (the same draws feed the feature decoder). Returns (the bound with Gaussian feature
    densities, i.e. :func:`subspace_elbo`'s, the bound with discrete features). EDM's
    own bound is discrete in time (T = 1000 steps); this one is its continuous-time limit
    (Kingma et al. 2021), with the same decoder."""
    x, node_mask = project_subspace(x, node_mask), jnp.asarray(node_mask, x.dtype)
    gaussian = subspace_elbo(model_fn, process, kind, x, node_mask, key, n_time=n_time,
                             n_eps=n_eps, time_sampling=time_sampling)
    t0 = jnp.full((x.shape[0],), process.t_min, x.dtype)
    alpha0, sigma0 = process.alpha(t0[:1])[0], process.sigma(t0[:1])[0]
    n = jnp.sum(node_mask, axis=-1)
    d_pos = POSITION_DIMS * (n - 1)

    def one(k):
        eps = project_subspace(jax.random.normal(k, x.shape, x.dtype), node_mask)
        z0 = alpha0 * x + sigma0 * eps
        eps_hat = _subspace_eps(model_fn, process, kind, z0, t0, node_mask)  # z0 is in S
        err = jnp.sum(((eps - eps_hat)[..., :POSITION_DIMS] ** 2).reshape(x.shape[0], -1),
                      axis=-1)
        log_h = discrete_feature_log_mass(z0[..., POSITION_DIMS:], x[..., POSITION_DIMS:],
                                          node_mask, alpha0, sigma0, features)
        return -0.5 * err, log_h

    err, log_h = jax.vmap(one)(jax.random.split(jax.random.fold_in(key, 1), n_rec))
    lam0 = process.log_snr(t0)
    rec = -0.5 * d_pos * (math.log(2 * math.pi) - lam0) + jnp.mean(err, 0) + jnp.mean(log_h, 0)
    discrete = ELBOResult(elbo=rec - gaussian.prior_kl - gaussian.diffusion_loss,
                          reconstruction=rec, prior_kl=gaussian.prior_kl,
                          diffusion_loss=gaussian.diffusion_loss)
    return gaussian, discrete


__all__ = ["DiscreteFeatures", "discrete_feature_log_mass", "project_subspace",
           "subspace_dims", "subspace_elbo", "subspace_elbo_discrete_features",
           "subspace_log_likelihood", "subspace_prior_log_prob"]
