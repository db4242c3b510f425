"""The adaptive diffrax PF-ODE reference against the closed-form Gaussian flow map."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.analytic.gaussian_pf_ode import gaussian_pf_ode_solution
from diffax.processes import DiscreteDDPM, VPLinear
from diffax.samplers import pf_ode_reference


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
    with pytest.raises(ValueError, match="unknown reference solver 'rk4'"):
        pf_ode_reference(lambda x, t: x, p, jnp.zeros((2, 2)), 1.0, 0.1, solver="rk4")
