"""The inverse-solver table: a Registry (Mapping) whose entries declare their start and
whether they model the measurement noise; every solver keeps float32 states float32 and
returns a trajectory on request."""

import jax
import jax.numpy as jnp
import pytest
from posterior_problem import D, problem

from diffax import inverse
from diffax.inverse import SOLVERS, get_solver, initial_state, solver_options
from diffax.processes import VPLinear
from diffax.samplers import schedules



def test_the_table_is_a_mapping_with_clear_errors():
    assert sorted(SOLVERS) == ["dps", "pigdm", "red_diff", "repaint", "replacement",
                               "steered"]
    assert SOLVERS["dps"] is inverse.dps and get_solver("pigdm") is inverse.pigdm
    with pytest.raises(ValueError, match=r"did you mean 'repaint'.*valid choices"):
        get_solver("repiant")


def test_solvers_declare_their_start_and_noise_model():
    x = jnp.ones((2, 3))
    assert initial_state("red_diff", x) == pytest.approx(0.1 * x)
    for name in set(SOLVERS) - {"red_diff"}:
        assert initial_state(name, x) is x
    assert solver_options("pigdm", 0.05, {"prior_variance": 0.25}) == {
        "prior_variance": 0.25, "noise_std": 0.05}
    assert solver_options("red_diff", 0.0, {}) == {"noise_std": 1e-3}  # floored
    assert solver_options("red_diff", 0.0, {"noise_std": 0.2}) == {"noise_std": 0.2}
    for name in ("dps", "replacement", "repaint", "steered"):
        assert solver_options(name, 0.05, {}) == {}
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['zetta'\] \(did you mean "
                                         r"'zeta'\?\); valid options: \["):
        solver_options("dps", 0.05, {"zetta": 0.3})


OPTIONS = {"repaint": {"jump_length": 2, "n_resample": 2}}


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_float32_states_and_trajectories(name):
    """float32 states stay float32 under x64 with a float64 grid; the trajectory starts
    at x_init and ends at the result (RePaint: at block boundaries)."""
    jax.config.update("jax_enable_x64", True)
    try:
        gm, p, op, y, _, _, _ = problem("projection")
        p = VPLinear()
        x_T = jax.random.normal(jax.random.PRNGKey(0), (8, D), jnp.float32)
        ts = schedules.uniform_log_snr(p, 4)
        assert ts.dtype == jnp.float64
        kw = dict(OPTIONS.get(name, {}), operator=op, y=y[:8].astype(jnp.float32),
                  key=jax.random.PRNGKey(1), return_trajectory=True)
        out = jax.jit(lambda x: get_solver(name)(gm.model_fn("eps", p), p, x, ts, **kw))(x_T)
    finally:
        jax.config.update("jax_enable_x64", False)
    assert out.x.dtype == jnp.float32 and out.trajectory.dtype == jnp.float32
    n_states = 3 if name == "repaint" else 5
    assert out.trajectory.shape == (n_states, 8, D)
    assert jnp.array_equal(out.trajectory[0], x_T) and jnp.array_equal(out.trajectory[-1], out.x)
    assert bool(jnp.all(jnp.isfinite(out.x)))
