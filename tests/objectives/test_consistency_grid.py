"""The training grids of LCM / SCott / Hyper-SD (issue 20, diffax.samplers.consistency_grid):
the Karras grid is EDM's eq. 5 (sigma on EDM, sigma / alpha on VP), the index map inverts
the time map, segments are equal in grid index with exact floors, the LCM boundary
condition holds, and the exact segmented consistency function is self-consistent along
exact (closed-form Gaussian) trajectories on the Karras grid."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture, gaussian_pf_ode_solution, gaussian_pf_ode_trajectory
from diffax.samplers import consistency_grid as cg
from diffax.objectives import consistency_segments as seg
from diffax.objectives.consistency_variants import (
    hyper_sd_distillation,
    lcm_distillation,
    scott_distillation,
)
from diffax.processes import EDM, DiscreteDDPM, VPLinear
from diffax.samplers.schedules import karras as karras_schedule


@pytest.fixture
def x64():
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", prev)


def karras_formula(s_min, s_max, n, rho=7.0):
    """Karras et al. (2022) eq. 5, counted from the bottom, in float64."""
    r = np.arange(n) / (n - 1)
    return (s_min ** (1 / rho) + r * (s_max ** (1 / rho) - s_min ** (1 / rho))) ** rho


def test_karras_grid_is_edm_eq5():
    p = EDM()
    t = np.asarray(seg.time_grid(p, 1000, "karras"))
    want = karras_formula(0.002, 80.0, 1000)
    np.testing.assert_allclose(t, want, rtol=5e-6)  # float32 exp/log: measured 1.0e-6
    assert t[0] == np.float32(0.002) and t[-1] == np.float32(80.0)
    # 451 of the 1000 levels lie below sigma = 1.6 (the uniform grid: 20)
    assert int(np.sum(t < 1.6)) == 451
    assert int(np.sum(np.asarray(seg.time_grid(p, 1000)) < 1.6)) == 20


def test_karras_grid_on_vp_spaces_sigma_over_alpha():
    for p in (VPLinear(), DiscreteDDPM.linear()):
        t = seg.time_grid(p, 1000, "karras")
        s = np.asarray(p.sigma(t) / p.alpha(t), np.float64)
        s_lo = float(p.sigma(p.t_min) / p.alpha(p.t_min))
        s_hi = float(p.sigma(p.t_max) / p.alpha(p.t_max))
        np.testing.assert_allclose(s, karras_formula(s_lo, s_hi, 1000), rtol=1e-5)
        # measured 2.2e-6 (VPLinear), 1.4e-6 (DiscreteDDPM)
        assert float(t[0]) == np.float32(p.t_min) and float(t[-1]) == np.float32(p.t_max)
        assert np.all(np.diff(np.asarray(t)) > 0)


def test_log_snr_grid_is_uniform_in_log_snr():
    p = VPLinear()
    lam = np.asarray(p.log_snr(seg.time_grid(p, 1000, "log_snr")), np.float64)
    want = np.linspace(float(p.log_snr(p.t_min)), float(p.log_snr(p.t_max)), 1000)
    np.testing.assert_allclose(lam, want, atol=5e-5)  # |lambda| <= 14: measured 4.5e-6


@pytest.mark.parametrize("grid", cg.GRIDS)
def test_index_inverts_the_time_map(grid):
    tau = np.arange(1000)
    for p in (EDM(), VPLinear()):
        t = seg.time_grid(p, 1000, grid)
        back = np.asarray(cg.grid_position(p, t, grid)) * 999
        np.testing.assert_allclose(back, tau, atol=2e-3)  # float32: measured <= 3.1e-4


def test_index_inverts_the_time_map_in_float64(x64):
    p = EDM()
    r = jnp.linspace(0.0, 1.0, 101, dtype=jnp.float64)
    np.testing.assert_allclose(cg.grid_position(p, cg.grid_time(p, r, "karras"), "karras"), r,
                               atol=1e-13)


def test_sampling_schedule_matches_the_training_grid():
    # the multistep sampler's "karras" schedule with n steps visits the grid at r = 1 - i/n
    for p in (EDM(), VPLinear()):
        for n in (1, 2, 4, 8):
            r = 1.0 - jnp.arange(n + 1, dtype=jnp.float32) / n
            np.testing.assert_allclose(cg.grid_time(p, r, "karras"), karras_schedule(p, n),
                                       rtol=1e-5)  # measured 1.4e-6


def test_segments_are_equal_in_grid_index():
    p = EDM()
    for s in (1, 2, 4, 8):
        b = seg.segment_boundaries(p, s, "karras")
        np.testing.assert_allclose(cg.grid_position(p, b, "karras") * s, np.arange(s + 1),
                                   atol=1e-5)
        floor = seg.segment_floor(p, s, b, "karras")
        np.testing.assert_array_equal(floor, jnp.concatenate([b[:1], b[:-1]]))  # exact
    b = seg.segment_boundaries(p, 4, "karras")
    t = seg.time_grid(p, 1000, "karras")
    floor = np.asarray(seg.segment_floor(p, 4, t, "karras"))
    j = np.clip(np.ceil(np.arange(1000) / 999 * 4) - 1, 0, 3).astype(int)
    np.testing.assert_array_equal(floor, np.asarray(b)[j])
    # eq. 5 with 5 levels (the uniform grid's boundaries on EDM are 20 sigma apart)
    np.testing.assert_allclose(b, karras_formula(0.002, 80.0, 5), rtol=5e-6)  # 5.8e-7


def test_boundary_condition_and_distance_on_the_karras_grid():
    p = EDM()
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 3))
    t = seg.time_grid(p, 1000, "karras")[jnp.array([0, 19, 250, 499, 750, 999])]
    out = seg.segmented_consistency(jnp.full_like(x, 7.0), x, t, t, process=p,
                                    prediction="eps", num_timesteps=1000, grid="karras")
    np.testing.assert_array_equal(out, x)  # f(x, t_b) = x bit for bit
    grid = seg.time_grid(p, 1000, "karras")
    hi = jnp.arange(19, 1000, 20)
    d = seg.grid_distance(p, grid[hi], grid[hi - 19], 1000, "karras")
    np.testing.assert_allclose(d, 19.0, atol=2e-3)  # d counts timesteps; measured 1.7e-4


def test_levels_on_the_karras_grid():
    p = EDM()
    teacher = lambda q, x, t, **c: x  # noqa: E731
    obj = hyper_sd_distillation(p, teacher, num_segments=4, grid="karras")
    t_hi, t_lo, t_b = (np.asarray(v) for v in obj.levels(jax.random.PRNGKey(0), 4096))
    grid = np.asarray(seg.time_grid(p, 1000, "karras"))
    tau = np.searchsorted(grid, t_hi)
    assert set(np.unique(tau)) == set(range(19, 1000, 20))  # LCM's 50 DDIM steps
    np.testing.assert_array_equal(t_hi, grid[tau])
    np.testing.assert_array_equal(t_lo, np.maximum(grid[np.maximum(tau - 20, 0)], t_b))
    np.testing.assert_array_equal(t_b, seg.segment_floor(p, 4, t_hi, "karras"))
    assert np.all(t_b < t_hi) and np.any(t_lo == t_b) and np.any(t_lo > t_b)


def test_exact_segment_function_is_self_consistent_on_the_karras_grid(x64):
    p, s = EDM(), 4
    mean, cov = np.array([0.3, -0.5]), np.array([[0.25, 0.1], [0.1, 0.16]])
    exact = GaussianMixture.create(np.ones(1), mean[None], cov[None]).model_fn("x0", p)
    bounds = seg.segment_boundaries(p, s, "karras").astype(jnp.float64)
    grid = seg.time_grid(p, 1000, "karras").astype(jnp.float64)
    ts = jnp.concatenate([grid[jnp.array([999, 900, 759, 600, 400, 259, 120, 19])],
                          bounds[1:]])
    x1 = jnp.array([[40.0, -25.0]])
    traj = gaussian_pf_ode_trajectory(mean, cov, p, x1[0], jnp.concatenate([p.t_max * jnp.ones(1),
                                                                          ts]))[1:]
    f_star = seg.ode_segment_function(exact, p, s, prediction="x0", rtol=1e-10, atol=1e-10,
                                      grid="karras")
    out = np.asarray(jax.jit(f_star)(traj, ts))
    # the floors are float32 times (the Karras grid) that two XLA programs may round
    # differently (eager vs jit with XLA:CPU's elemental fusion emitter: 17.527832 vs
    # 17.527828, 2 float32 ulps, which moves the endpoint by 1.9e-6), so the reference
    # takes them from a jitted call, which rounds as f_star does with either emitter
    # (measured); the segments are told apart by the nearest boundary, not by equality
    floors = np.asarray(jax.jit(lambda t: seg.segment_floor(p, s, t, "karras"))(ts))
    want = np.stack([gaussian_pf_ode_solution(mean, cov, p, x1[0], p.t_max, tb)
                     for tb in floors])
    np.testing.assert_allclose(out, want, atol=1e-9)  # dopri8 at tolerance 1e-10: 1.6e-11
    # self-consistency: every point of one segment maps to the same point
    segment = np.argmin(np.abs(floors[:, None] - np.asarray(bounds)[None, :]), axis=1)
    for j in range(s):
        same = out[segment == j]
        assert len(same) >= 2
        np.testing.assert_allclose(same, np.broadcast_to(same[0], same.shape), atol=1e-9)

    # Hyper-SD's s-step sampler through the Karras boundaries is the exact map
    def f_closed(x, t):
        tb = seg.segment_floor(p, s, t, "karras")
        return jax.vmap(lambda xb, a, b: gaussian_pf_ode_solution(mean, cov, p, xb, a, b))(
            x, t, tb)

    chained = seg.segmented_sample(f_closed, p, x1, s, grid="karras")
    np.testing.assert_allclose(chained[0], gaussian_pf_ode_solution(mean, cov, p, x1[0],
                                                                    p.t_max, p.t_min),
                               atol=1e-10)  # measured 2.5e-13


def test_segmented_sample_without_jit_takes_every_segment():
    """Eager and compiled boundaries differ by float32 ulps (2e-7 relative at b = 17.5 on
    EDM's Karras grid, s = 8); before segment_floor's tolerance the eager 8- and 16-step
    samples skipped a segment (error 1.37 and 1.15 against the exact map)."""
    p = EDM()
    mean, cov = np.array([0.3, -0.5]), np.array([[0.25, 0.1], [0.1, 0.16]])
    x1 = jnp.array([[40.0, -25.0], [-70.0, 12.0]])
    want = np.stack([gaussian_pf_ode_solution(mean, cov, p, x, p.t_max, p.t_min) for x in x1])
    for s in (8, 16):
        def f_closed(x, t, s=s):
            tb = seg.segment_floor(p, s, t, "karras")
            return jax.vmap(lambda xb, a, b: gaussian_pf_ode_solution(mean, cov, p, xb, a, b))(
                x, t, tb)

        out = seg.segmented_sample(f_closed, p, x1, s, grid="karras")
        # float32 chain of s closed-form steps: measured 2.1e-7 (s = 8), 4.2e-7 (s = 16)
        np.testing.assert_allclose(out, want, atol=2e-6)
    # a time 1e-6 (relative) above a boundary is that boundary; 1e-4 above is not
    b = seg.segment_boundaries(p, 8, "karras")
    t = jnp.stack([b[3] * (1 + 1e-6), b[3] * (1 + 1e-4)])
    np.testing.assert_array_equal(seg.segment_floor(p, 8, t, "karras"),
                                  jnp.stack([b[2], b[3]]))


def test_bad_grid_raises():
    p = EDM()
    t = lambda q, x, t, **c: x  # noqa: E731
    for build in (lcm_distillation, scott_distillation):
        with pytest.raises(ValueError, match=r"unknown grid 'ddpm'.*'karras'"):
            build(p, t, grid="ddpm")
    with pytest.raises(ValueError, match=r"unknown grid 'Karras'.*'uniform_time'"):
        hyper_sd_distillation(p, t, num_segments=2, grid="Karras")
    for fn in (lambda: seg.time_grid(p, 10, "sigma"),
               lambda: seg.segment_boundaries(p, 2, "sigma"),
               lambda: seg.segment_floor(p, 2, jnp.ones(2), "sigma"),
               lambda: seg.segmented_model_fn(lambda x, t: x, p, grid="sigma")):
        with pytest.raises(ValueError, match=r"unknown grid 'sigma'; valid choices"):
            fn()
