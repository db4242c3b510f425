"""Golden group ``likelihood``: PF-ODE log-likelihood (exact trace, Hutchinson) with its
bits/dim, dequantized image bits/dim, continuous and discrete ELBO and the Itô density,
on the 2-D mixture with its exact eps model."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from benchmarks.golden.common import (BATCH, SEED_LOSS, SEED_SAMPLER, Arrays, Case, Problems,
                                      fields, process)

_LIK_FIELDS = ("log_prob", "prior_log_prob", "delta_log_prob", "z", "num_steps")
_ELBO_FIELDS = ("elbo", "reconstruction", "prior_kl", "diffusion_loss")


def _pf_ode(probs: Problems, prefix: str, pname: str, **kw: Any) -> Arrays:
    """``pf_ode_log_likelihood`` of the fixed batch (options ``kw``) and its bits/dim."""
    import jax
    from diffax.likelihood import bits_per_dim, pf_ode_log_likelihood
    p = process(pname)
    model = probs.mixture.model_fn("eps", p)
    x0, _ = probs.data
    res = jax.jit(lambda x, key: pf_ode_log_likelihood(model, p, x, key=key, **kw))(
        x0, jax.random.PRNGKey(SEED_LOSS))
    out = fields(prefix, res, _LIK_FIELDS)
    out[f"{prefix}/bits_per_dim"] = np.asarray(bits_per_dim(res.log_prob, 2))
    return out


def _image_bpd(prefix: str) -> Arrays:
    """Dequantized bits/dim of 2 x 2 x 1 integer images under a 4-D isotropic mixture
    in [-1, 1] (seeded)."""
    import jax
    from diffax.analytic import GaussianMixture
    from diffax.likelihood import dequantize, image_bits_per_dim
    rng = np.random.default_rng(7)
    mixture = GaussianMixture.isotropic([0.5, 0.5], rng.uniform(-0.5, 0.5, size=(2, 4)), 0.3)
    p = process("vp_linear")
    flat = mixture.model_fn("eps", p)

    def model(x, t):
        return flat(x.reshape(x.shape[0], -1), t).reshape(x.shape)

    images = jax.random.randint(jax.random.PRNGKey(3), (BATCH, 2, 2, 1), 0, 256).astype("uint8")
    key = jax.random.PRNGKey(SEED_LOSS)
    bpd = jax.jit(lambda im, k: image_bits_per_dim(model, p, im, k, n_dequant=2))(images, key)
    return {f"{prefix}/bits_per_dim": np.asarray(bpd),
            f"{prefix}/dequantized": np.asarray(dequantize(key, images))}


def _elbo(probs: Problems, prefix: str, which: str, pname: str, **kw: Any) -> Arrays:
    """The ``which`` ("continuous" or "discrete") ELBO of the fixed batch."""
    import jax
    from diffax.likelihood import continuous_elbo, discrete_elbo
    p = process(pname)
    model = probs.mixture.model_fn("eps", p)
    x0, _ = probs.data
    fn = continuous_elbo if which == "continuous" else discrete_elbo
    res = jax.jit(lambda x, key: fn(model, p, x, key, **kw))(x0, jax.random.PRNGKey(SEED_LOSS))
    return fields(prefix, res, _ELBO_FIELDS)


def _ito(probs: Problems, prefix: str, steps: int) -> Arrays:
    """``ito_log_density`` along a ``steps``-step sampling run from the fixed prior."""
    import jax
    from diffax.likelihood import ito_log_density
    from diffax.samplers import schedules
    p = process("vp_linear")
    model = probs.mixture.model_fn("eps", p)
    ts = schedules.uniform_log_snr(p, steps)
    out = jax.jit(lambda x, key: ito_log_density(model, p, x, ts, key=key))(
        probs.prior("vp_linear"), jax.random.PRNGKey(SEED_SAMPLER))
    entries = fields(prefix, out, ("x", "log_density", "log_density_trajectory"))
    entries[f"{prefix}/nfe"] = np.asarray(int(out.nfe), np.int64)
    return entries


def likelihood_cases(probs: Problems) -> list[Case]:
    """The cases of the likelihood group, in recording order."""
    cases = []
    for pname in ("vp_linear", "edm", "rectified_flow"):
        prefix = f"likelihood/pf_ode/exact/{pname}"
        cases.append(Case(prefix, functools.partial(_pf_ode, probs, prefix, pname)))
    for probe in ("rademacher", "gaussian"):
        prefix = f"likelihood/pf_ode/hutchinson_{probe}/vp_linear"
        cases.append(Case(prefix, functools.partial(_pf_ode, probs, prefix, "vp_linear",
                                                    divergence="hutchinson", probe=probe,
                                                    n_probes=2)))
    prefix = "likelihood/image_bits_per_dim/vp_linear"
    cases.append(Case(prefix, functools.partial(_image_bpd, prefix)))
    for ts in ("log_snr", "t"):
        for pname in ("vp_linear", "edm"):
            prefix = f"likelihood/continuous_elbo/{ts}/{pname}"
            cases.append(Case(prefix, functools.partial(_elbo, probs, prefix, "continuous",
                                                        pname, n_time=16, n_eps=2,
                                                        time_sampling=ts)))
    prefix = "likelihood/discrete_elbo/ddpm_discrete/all_terms"
    cases.append(Case(prefix, functools.partial(_elbo, probs, prefix, "discrete",
                                                "ddpm_discrete")))
    prefix = "likelihood/discrete_elbo/ddpm_discrete/n_terms32"
    cases.append(Case(prefix, functools.partial(_elbo, probs, prefix, "discrete",
                                                "ddpm_discrete", n_terms=32)))
    p = process("vp_linear")
    grid = tuple(np.linspace(p.t_min, p.t_max, 51))
    prefix = "likelihood/discrete_elbo/vp_linear/grid50"
    cases.append(Case(prefix, functools.partial(_elbo, probs, prefix, "discrete", "vp_linear",
                                                timesteps=np.asarray(grid), n_eps=2)))
    prefix = "likelihood/ito/vp_linear/steps50"
    cases.append(Case(prefix, functools.partial(_ito, probs, prefix, 50)))
    return cases
