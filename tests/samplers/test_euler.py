"""Euler on the PF-ODE: first order against the exact reference; API behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.processes import EDM, RectifiedFlow, VPLinear
from diffax.samplers import get_sampler, schedules
from oracle import fit_order, mixture, prior_samples, reference_endpoint


@pytest.mark.parametrize("process", [VPLinear(), EDM(t_min=0.5, t_max=3.0)],
                         ids=lambda p: p.name)
def test_euler_is_first_order(x64, process):
    gmm = mixture()
    x_T = prior_samples(process, 32)
    ref = reference_endpoint(gmm, process, x_T, process.t_max, process.t_min)
    run = jax.jit(lambda ts: get_sampler("euler")(gmm.model_fn("eps", process), process, x_T, ts).x)
    nfes = [32, 64, 128]
    sched = schedules.uniform_log_snr if process.name == "VPLinear" else schedules.uniform_time
    errs = [float(jnp.sqrt(jnp.mean((run(sched(process, n)) - ref) ** 2))) for n in nfes]
    assert abs(fit_order(nfes, errs) - 1.0) < 0.3, errs


def test_euler_rectified_flow_velocity_and_trajectory(x64):
    """With a velocity model on rectified flow, Euler is x += dt * u exactly."""
    p = RectifiedFlow()
    gmm = mixture()
    x_T = prior_samples(p, 8)
    ts = schedules.uniform_time(p, 5)
    model = gmm.model_fn("velocity", p)
    out = get_sampler("euler")(model, p, x_T, ts, prediction="velocity", return_trajectory=True)
    x = x_T
    for i in range(5):
        x = x + (ts[i + 1] - ts[i]) * model(x, jnp.full((8,), ts[i]))
        np.testing.assert_allclose(out.trajectory[i + 1], x, atol=1e-12)
    assert out.trajectory.shape == (6, 8, 2) and out.nfe == 5
    np.testing.assert_allclose(out.x, x, atol=1e-12)


def test_timestep_validation():
    """base.check_timesteps (every sampler): the process interval and the grid length
    (increasing grids: test_conformance.py)."""
    p = VPLinear()
    f = get_sampler("euler")
    model = lambda x, t: x  # noqa: E731
    with pytest.raises(ValueError, match="outside the process interval"):
        f(model, p, jnp.zeros((2, 2)), jnp.array([2.0, 0.5]))
    with pytest.raises(ValueError, match="at least 2"):
        f(model, p, jnp.zeros((2, 2)), jnp.array([0.5]))
