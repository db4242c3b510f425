"""Shared ground truth and helpers for the sampler tests.

A 2-D Gaussian mixture with the exact model for any process and prediction kind,
the adaptive diffrax PF-ODE solution as reference, and a log-log slope fit for
measured convergence orders. Also the exact model evaluated on the host
(:class:`HostModel`, which counts model calls), the cached float64 problems built on
it, and two cheap smooth models for algebra checks.

Test files import from here (``from oracle import ...``), never from each other.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import io_callback

from diffax import predictions
from diffax.analytic import GaussianMixture
from diffax.processes import EDM, VPLinear, broadcast_to_x
from diffax.samplers import pf_ode_reference, registry, schedules


def mixture(dim: int = 2) -> GaussianMixture:
    """Three anisotropic components (full covariances) in ``dim`` dimensions."""
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, dim)) * 1.5
    covs = []
    for _ in range(3):
        a = rng.normal(size=(dim, dim)) * 0.3
        covs.append(a @ a.T + 0.1 * np.eye(dim))
    return GaussianMixture.create(np.array([0.5, 0.3, 0.2]), means, np.stack(covs))


def reference_endpoint(gmm, process, x_init, t_start, t_end, kind="eps"):
    """Endpoint of the exact PF-ODE (diffrax Dopri8, rtol=atol=1e-11, float64)."""
    return pf_ode_reference(gmm.model_fn(kind, process), process, x_init, t_start, t_end,
                            prediction=kind, solver="dopri8", rtol=1e-11, atol=1e-11).x


def fit_order(nfes, errors) -> float:
    """Slope of -log(error) against log(NFE): the measured global order."""
    return float(-np.polyfit(np.log(np.asarray(nfes, float)), np.log(np.asarray(errors, float)), 1)[0])


def prior_samples(process, n: int = 64, dim: int = 2, seed: int = 0):
    """``n`` float64 samples of the prior at t_max (key ``PRNGKey(seed)``)."""
    return process.prior_sample(jax.random.PRNGKey(seed), (n, dim), jnp.float64)


def rms(a, b) -> float:
    """Root-mean-square difference of two arrays."""
    return float(jnp.sqrt(jnp.mean((a - b) ** 2)))


# ---- the exact model, evaluated on the host -----------------------------------------------

class HostModel:
    """Exact GMM predictions for any process and prediction kind, computed on the host
    through ``io_callback``.

    One jitted mixture evaluation in EDM coordinates (y = x/alpha at noise level
    sigma/alpha has the same E[x0|.] and E[eps|.] as x), so a sampler compiles without
    the mixture inside it (compile time dominates these tests), and every model
    evaluation is counted at runtime in ``calls`` (XLA never drops or duplicates an
    io_callback). Reset ``calls`` to 0 before the run you count.
    """

    def __init__(self, gmm: GaussianMixture):
        edm = EDM(t_min=1e-12, t_max=1e12)  # only its sigma(t) = t is used
        self._fn = jax.jit(lambda y, s: (gmm.posterior_mean_x0(y, s, edm),
                                         gmm.posterior_mean_eps(y, s, edm)))
        self.calls = 0

    def _host(self, y, s):
        self.calls += 1
        return tuple(np.asarray(v, dtype=y.dtype) for v in self._fn(y, s))

    def __call__(self, process, kind="eps", scale=1.0):
        """``model(x, t)``: the exact ``kind`` prediction for ``process``, times
        ``scale`` (a scale other than 1 gives a wrong model for negative controls)."""
        def model(x, t):
            a = process.alpha(t)
            spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
            x0, eps = io_callback(self._host, (spec, spec), x / broadcast_to_x(a, x),
                                  process.sigma(t) / a)
            return scale * predictions.from_x0_eps(kind, x0, eps, x, t, process)
        return model


# ---- cached float64 problems (one compilation of the mixture per test process) ----------

_STATE = {}
# The Gaussian N(MEAN, COV) behind gaussian_host (closed-form PF-ODE and marginals).
MEAN = jnp.array([0.5, -1.0])
COV = jnp.array([[0.6, 0.2], [0.2, 0.3]])
# convergence_problem integrates between these log-SNRs (t from 0.77 to ~t_min on
# VP-linear): the nearly pure-noise start of [t_min, t_max] only adds pre-asymptotic
# wiggles to measured orders.
LOG_SNR_START, LOG_SNR_END = -7.0, 9.0


def _need_x64(where):
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError(f"{where} caches float64 oracles: call it from an x64 test.")


def host_mixture():
    """(the oracle mixture, its HostModel), float64, created once."""
    if "gmm" not in _STATE:
        _need_x64("host_mixture")
        _STATE["gmm"] = mixture()
        _STATE["host"] = HostModel(_STATE["gmm"])
    return _STATE["gmm"], _STATE["host"]


def gaussian_host():
    """HostModel of the Gaussian N(MEAN, COV), float64, created once."""
    if "gauss" not in _STATE:
        _need_x64("gaussian_host")
        _STATE["gauss"] = HostModel(GaussianMixture.gaussian(MEAN, COV))
    return _STATE["gauss"]


def full_range_problem():
    """(host model, VP-linear process, x_init, reference endpoint), computed once:
    64 prior samples at t_max and the exact PF-ODE endpoint at t_min."""
    if "full" not in _STATE:
        gmm, host = host_mixture()
        p = VPLinear()
        x = prior_samples(p)
        _STATE["full"] = (host, p, x, reference_endpoint(gmm, p, x, p.t_max, p.t_min))
    return _STATE["full"]


def convergence_problem():
    """(host model, VP-linear process, t_start, t_end, x_init, reference endpoint),
    computed once: 64 samples of N(0, sigma(t_start)^2) at log-SNR LOG_SNR_START and
    the exact PF-ODE endpoint at log-SNR LOG_SNR_END."""
    if "window" not in _STATE:
        gmm, host = host_mixture()
        p = VPLinear()
        t0, t1 = (float(p.t_from_log_snr(v)) for v in (LOG_SNR_START, LOG_SNR_END))
        x = p.sigma(t0) * jax.random.normal(jax.random.PRNGKey(0), (64, 2), jnp.float64)
        _STATE["window"] = (host, p, t0, t1, x, reference_endpoint(gmm, p, x, t0, t1))
    return _STATE["window"]


def convergence(name, ns, **options):
    """RMS endpoint errors of registered sampler ``name`` (with ``options``) on
    :func:`convergence_problem` for each N in ``ns`` (uniform log-SNR steps, one
    compilation for all), the outputs, and the number of model calls counted."""
    exact, p, t0, t1, x, ref = convergence_problem()
    sampler = registry.get_sampler(name, **options)
    model = exact(p)
    run = jax.jit(lambda x: [sampler(model, p, x, schedules.uniform_log_snr(p, n, t0, t1))
                             for n in ns])
    exact.calls = 0
    outs = run(x)
    jax.block_until_ready(outs)
    jax.effects_barrier()
    return [rms(o.x, ref) for o in outs], outs, exact.calls


# ---- cheap smooth eps-models (fast to compile) -------------------------------------------

def smooth_sin_model(x, t):
    """``0.3 x + 0.1 sin(x) t``: for the exponential-integrator tests (DPM-Solver,
    DPM-Solver++, adaptive, DEIS, UniPC)."""
    return 0.3 * x + 0.1 * jnp.sin(x) * t[:, None]


def smooth_tanh_model(x, t):
    """``0.4 tanh(x) + 0.2 t x``: for the DDIM / SDE / Langevin / BDIA tests."""
    return 0.4 * jnp.tanh(x) + 0.2 * t[:, None] * x
