"""The adaptive diffrax PF-ODE reference against the closed-form Gaussian flow map, and
the registered sampler ``diffrax_pf_ode`` (the same solve): its model evaluations counted
at runtime, states at the requested times, the max_steps flag."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.analytic.gaussian_pf_ode import gaussian_pf_ode_solution
from diffax.processes import DiscreteDDPM, VPLinear
from oracle import gaussian_host, prior_samples

from diffax.samplers import pf_ode_reference, sampler_info
from diffax.samplers.reference import EVALS_PER_STEP, MAX_STEPS, diffrax_pf_ode


@pytest.mark.parametrize("process", [VPLinear(), DiscreteDDPM.linear()], ids=lambda p: p.name)
def test_reference_matches_closed_form(x64, process):
    """DiscreteDDPM has a kink in log alpha at every one of its 1000 grid times; the
    reference steps onto them (diffrax jump_ts) and stays exact."""
    mean = jnp.array([0.5, -1.0])
    cov = jnp.array([[0.6, 0.2], [0.2, 0.3]])
    gauss = GaussianMixture.gaussian(mean, cov)
    x_T = jax.random.normal(jax.random.PRNGKey(0), (16, 2), jnp.float64)
    sol = jax.jit(lambda x: pf_ode_reference(gauss.model_fn("eps", process), process, x,
                                             process.t_max, process.t_min, rtol=1e-10,
                                             atol=1e-10))(x_T)
    exact = gaussian_pf_ode_solution(mean, cov, process, x_T, process.t_max, process.t_min)
    np.testing.assert_allclose(sol.x, exact, atol=1e-7)
    kinks = process.kink_times()
    if kinks is not None:
        assert len(kinks) == 998 and int(sol.num_steps) >= len(kinks)


def test_unknown_solver_raises():
    p = VPLinear()
    with pytest.raises(ValueError, match="unknown solver 'rk4'; valid choices"):
        pf_ode_reference(lambda x, t: x, p, jnp.zeros((2, 2)), 1.0, 0.1, solver="rk4")


@pytest.mark.parametrize("solver", sorted(EVALS_PER_STEP))
def test_sampler_counts_its_model_evaluations(x64, solver):
    """NFE = EVALS_PER_STEP[solver] x (accepted + rejected steps) + 1 (FSAL solvers),
    equal to the model calls counted on the host; the trajectory holds the states at
    the timesteps, x_init first and x last."""
    host = gaussian_host()
    p = VPLinear()
    x = prior_samples(p, 8)
    ts = jnp.array([p.t_max, 0.5, p.t_min])
    host.calls = 0
    out = jax.jit(lambda x: diffrax_pf_ode(host(p), p, x, ts, solver=solver, rtol=1e-6,
                                           atol=1e-6, return_trajectory=True))(x)
    jax.block_until_ready(out.x)
    jax.effects_barrier()
    steps = int(out.num_accepted + out.num_rejected)
    assert bool(out.success) and int(out.nfe) == host.calls == EVALS_PER_STEP[solver] * steps + 1
    assert out.trajectory.shape == (3, 8, 2)
    np.testing.assert_array_equal(out.trajectory[0], x)
    np.testing.assert_array_equal(out.trajectory[-1], out.x)


def test_max_steps_exhaustion_is_reported_not_raised(x64):
    p = VPLinear()
    x = prior_samples(p, 4)
    out = jax.jit(lambda x: diffrax_pf_ode(lambda x, t: jnp.sin(3 * x), p, x,
                                           jnp.array([p.t_max, p.t_min]), max_steps=3))(x)
    assert not bool(out.success) and int(out.num_accepted + out.num_rejected) == 3


def test_registered_as_adaptive():
    info = sampler_info("diffrax_pf_ode")
    assert info.fn is diffrax_pf_ode and info.adaptive and info.options == {}
    assert info.steps_for_nfe(50) == 1 and info.nfe(1) == 13 * MAX_STEPS + 1
