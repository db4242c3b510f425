"""The segmented consistency sampler (Hyper-SD's s-step sampler, registered as
``segmented_consistency``; the conformance checks of every sampler are in
test_conformance.py): it steps through the exact segment boundaries of its ``grid``, and
with the exact segmented consistency function it equals
``consistency_segments.segmented_sample`` and the exact PF-ODE map t_max -> t_min."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture, gaussian_pf_ode_solution
from diffax.objectives import consistency_segments as seg
from diffax.objectives.consistency import ode_consistency_function
from diffax.processes import EDM, VPLinear
from diffax.samplers import get_sampler, sampler_info, schedules

MEAN, COV = np.array([0.3, -0.5]), np.array([[0.25, 0.1], [0.1, 0.16]])


def _closed_form_f(p, s, grid):
    """The exact segmented consistency function of N(MEAN, COV): the closed-form PF-ODE
    map from t to the floor of t."""
    def f(x, t):
        tb = seg.segment_floor(p, s, t, grid)
        return jax.vmap(lambda xb, a, b: gaussian_pf_ode_solution(MEAN, COV, p, xb, a, b))(
            x, t, tb)
    return f


def test_metadata():
    info = sampler_info("segmented_consistency")
    assert not info.stochastic and info.order is None and info.nfe(8) == 8
    assert info.steps_for_nfe(4) == 4


def test_steps_through_the_exact_boundaries():
    """A model returning (t, floor of t) shows where it is evaluated: at each step the
    floor of the evaluation time is the next evaluation time (no segment skipped) with
    ``grid``; the float32 karras schedule stands for the same times (1.1e-6 relative) but
    some of its times lie in the segment above the boundary they stand for."""
    p, s = EDM(), 8

    def clock(x, t):
        return jnp.stack([t, seg.segment_floor(p, s, t, "karras")], axis=-1)

    sched = schedules.karras(p, s)
    bounds = np.asarray(seg.segment_boundaries(p, s, "karras"))[::-1]
    runs = {}
    for grid in ("karras", None):
        out = get_sampler("segmented_consistency", grid=grid)(
            clock, p, jnp.zeros((2, 2)), sched, return_trajectory=True)
        assert out.nfe == s
        t, floor = np.asarray(out.trajectory[1:, 0, 0]), np.asarray(out.trajectory[1:, 0, 1])
        np.testing.assert_allclose(t, bounds[:-1], rtol=2e-6)
        runs[grid] = (t, floor)
    t, floor = runs["karras"]
    np.testing.assert_array_equal(floor[:-1], t[1:])   # each step lands on the next time
    assert floor[-1] == np.float32(p.t_min)
    t, floor = runs[None]                              # the schedule as given
    assert np.any(floor[:-1] != t[1:])


@pytest.mark.parametrize("s", [4, 8])
def test_exact_function_gives_the_exact_map_on_the_karras_grid(x64, s):
    p = EDM()
    f = _closed_form_f(p, s, "karras")
    x1 = jnp.array([[40.0, -25.0], [-70.0, 12.0]])
    exact = jax.vmap(lambda xb: gaussian_pf_ode_solution(MEAN, COV, p, xb, p.t_max,
                                                         p.t_min))(x1)
    sampler = get_sampler("segmented_consistency", prediction="x0", grid="karras")
    out = jax.jit(lambda x: sampler(f, p, x, schedules.karras(p, s)).x)(x1)
    eager = sampler(f, p, x1, schedules.karras(p, s)).x
    # segmented_sample under jit (eagerly its boundaries are computed apart from f's
    # floors and differ by a few ulps, within segment_floor's tolerance)
    chained = jax.jit(lambda x: seg.segmented_sample(f, p, x, s, grid="karras"))(x1)
    # the same evaluations in other programs: float64 rounding
    np.testing.assert_allclose(out, chained, rtol=0, atol=1e-12)
    np.testing.assert_allclose(eager, chained, rtol=0, atol=1e-12)
    np.testing.assert_allclose(out, exact, rtol=0, atol=1e-10)  # measured 3.9e-13
    # grid=None steps through the float64 schedule's own times, up to 1.1e-6 (relative)
    # off the float32 boundaries: within segment_floor's 1e-5, so no segment is skipped;
    # the float32 boundaries bound the error (measured 3.3e-7 at s = 8)
    own = get_sampler("segmented_consistency")(f, p, x1, schedules.karras(p, s)).x
    np.testing.assert_allclose(own, exact, rtol=0, atol=2e-6)
    if s == 8:  # negative control: times of another spacing do not take the segments
        wrong = get_sampler("segmented_consistency")(f, p, x1,
                                                      schedules.uniform_log_snr(p, s)).x
        assert np.max(np.abs(np.asarray(wrong - exact))) > 1e-3


def test_mixture_oracle_with_the_ode_segment_function(x64):
    """The 1-D two-component mixture on VP-linear (uniform grid, s = 4) with the adaptive
    exact segmented function, as in tests/objectives/test_hyper_sd.py."""
    p, s = VPLinear(), 4
    gmm = GaussianMixture.create(np.array([0.6, 0.4]), np.array([[-1.0], [1.5]]),
                                 np.array([[[0.09]], [[0.25]]]))
    exact = gmm.model_fn("x0", p)
    f = seg.ode_segment_function(exact, p, s, prediction="x0", rtol=1e-9, atol=1e-9)
    x1 = gmm.sample_marginal(jax.random.PRNGKey(3), 8, p.t_max, p)
    out = get_sampler("segmented_consistency", grid="uniform_time")(
        f, p, x1, schedules.uniform_time(p, s)).x
    np.testing.assert_allclose(out, seg.segmented_sample(f, p, x1, s), rtol=0, atol=1e-12)
    whole = ode_consistency_function(exact, p, prediction="x0", rtol=1e-9, atol=1e-9)(
        x1, jnp.full((8,), p.t_max)) * p.alpha(p.t_min)
    np.testing.assert_allclose(out, whole, atol=1e-6)  # the tolerance of test_hyper_sd


def test_bad_grid_and_schedules_raise():
    p = EDM()
    model = lambda x, t: x  # noqa: E731
    x = jnp.zeros((2, 1))
    with pytest.raises(ValueError, match=r"unknown grid 'sigma'; valid choices: \["):
        get_sampler("segmented_consistency", grid="sigma")(model, p, x, schedules.karras(p, 4))
    # another grid's schedule: its interior times are not the Karras boundaries
    with pytest.raises(ValueError,
                       match=r"timesteps\[1\] = 60.0005 is not the boundary 17.5278 of 4 "):
        get_sampler("segmented_consistency", grid="karras")(
            model, p, x, schedules.uniform_time(p, 4))
    uniform = schedules.uniform_time(p, 4)  # closed over by the jitted function: concrete
    with pytest.raises(ValueError, match=r"timesteps\[1\] = 60.0005 is not the boundary"):
        jax.jit(lambda x: get_sampler("segmented_consistency", grid="karras")(
            model, p, x, uniform).x)(x)
    # a schedule that does not span [t_min, t_max]
    with pytest.raises(ValueError, match=r"timesteps\[0\] = 40 is not the boundary 80"):
        get_sampler("segmented_consistency", grid="karras")(
            model, p, x, schedules.karras(p, 4, t_start=40.0))
