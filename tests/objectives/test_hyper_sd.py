"""Hyper-SD's trajectory-segmented consistency distillation on the exact oracle (issue 20):
segments, the LCM parameterisation's constants, the exact segmented consistency function
(PF-ODE map to the segment's lower boundary) and the segmented loss, ~0 for the exact
function with the exact teacher and positive for a perturbed one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.objectives import consistency_segments as seg
from diffax.objectives.consistency import ode_consistency_function
from diffax.objectives.consistency_variants import hyper_sd_distillation, lcm_distillation
from diffax.processes import VPLinear


@pytest.fixture(scope="module")
def x64():
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", prev)


def mixture():
    return GaussianMixture.create(np.array([0.6, 0.4]), np.array([[-1.0], [1.5]]),
                                  np.array([[[0.09]], [[0.25]]]))


def test_lcm_constants_and_boundary_condition():
    c_skip, c_out = seg.lcm_scalings(jnp.array([0.0, 1.0, 20.0]))
    np.testing.assert_allclose(c_skip, [1.0, 0.25 / 100.25, 0.25 / 40000.25], rtol=1e-6)
    np.testing.assert_allclose(c_out, [0.0, 10 / np.sqrt(100.25), 200 / np.sqrt(40000.25)],
                               rtol=1e-6)
    p = VPLinear()
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
    t = jnp.full((5,), 0.25 + p.t_min)
    out = seg.segmented_consistency(jnp.ones_like(x) * 7.0, x, t, t, process=p,
                                    prediction="eps", num_timesteps=1000)
    np.testing.assert_array_equal(out, x)  # f(x, t_b) = x bit for bit
    # the grid: t(tau) = t_min + tau / 999 (t_max - t_min); tau = 999 is t_max
    grid = seg.time_grid(p, 1000)
    assert float(grid[0]) == pytest.approx(p.t_min) and float(grid[-1]) == pytest.approx(1.0)


def test_segment_floor():
    p = VPLinear()
    b = np.asarray(seg.segment_boundaries(p, 4))
    np.testing.assert_allclose(b, p.t_min + np.arange(5) / 4 * (1 - p.t_min), rtol=1e-6)
    t = jnp.asarray([p.t_min, b[1], b[1] + 1e-3, 0.6, b[3], 1.0], jnp.float32)
    floor = np.asarray(seg.segment_floor(p, 4, t))
    np.testing.assert_allclose(floor, [b[0], b[0], b[1], b[2], b[2], b[3]], rtol=1e-6)
    np.testing.assert_allclose(seg.segment_floor(p, 1, t), p.t_min, rtol=1e-6)


def test_levels_stay_in_the_segment():
    p = VPLinear()
    teacher = mixture().model_fn("x0", p)
    obj = hyper_sd_distillation(p, lambda q, x, t, **c: teacher(x, t), num_segments=4,
                                teacher_prediction="x0")
    t_hi, t_lo, t_b = obj.levels(jax.random.PRNGKey(0), 4096)
    grid = np.asarray(seg.time_grid(p, 1000))
    tau = np.rint((np.asarray(t_hi) - p.t_min) / (1 - p.t_min) * 999).astype(int)
    assert set(np.unique(tau)) == set(range(19, 1000, 20))  # LCM's 50 DDIM steps
    np.testing.assert_allclose(t_hi, grid[tau], rtol=1e-6)
    lo_free = grid[np.maximum(tau - 20, 0)]
    np.testing.assert_allclose(t_lo, np.maximum(lo_free, t_b), rtol=1e-6)
    assert np.all(t_b < t_hi) and np.all(t_lo >= t_b) and np.any(t_lo == t_b)
    np.testing.assert_allclose(t_b, seg.segment_floor(p, 4, t_hi))


def test_bad_options_raise():
    p = VPLinear()
    t = lambda q, x, t, **c: x  # noqa: E731
    with pytest.raises(ValueError, match="skip=30 must divide"):
        lcm_distillation(p, t, skip=30)
    with pytest.raises(ValueError, match="num_segments"):
        hyper_sd_distillation(p, t, num_segments=0)
    with pytest.raises(ValueError, match="not a deterministic"):
        hyper_sd_distillation(p, t, num_segments=2, sampler="ddim_eta1")
    with pytest.raises(ValueError, match="null_cond"):
        lcm_distillation(p, t, guidance_range=(2.0, 14.0))
    with pytest.raises(ValueError, match="distance"):
        lcm_distillation(p, t, distance="l3")


def exact_segment_net(f_star, p, s):
    """A ``net(params, x, t)`` (an x0 prediction) whose segmented consistency function is
    f* + params * (t - t_b) x: the parameterisation inverted for x0."""

    def net(params, x, t):
        t_b = seg.segment_floor(p, s, t)
        target = f_star(x, t) + params * ((t - t_b) * 4.0)[:, None] * x
        d = (t - t_b) * 999 / (p.t_max - p.t_min)
        c_skip, c_out = seg.lcm_scalings(d)
        a_t, s_t, a_b, s_b = p.alpha(t), p.sigma(t), p.alpha(t_b), p.sigma(t_b)
        num = target - (c_skip + c_out * s_b / s_t)[:, None] * x
        den = (c_out * (a_b - s_b * a_t / s_t))[:, None]
        return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)

    return net


def test_segmented_loss_vanishes_for_the_exact_function(x64):
    p = VPLinear()
    gmm = mixture()
    exact = gmm.model_fn("x0", p)
    s = 4
    f_star = ode_segment = seg.ode_segment_function(exact, p, s, prediction="x0", rtol=1e-9,
                                                    atol=1e-9)
    kw = dict(num_segments=s, teacher_prediction="x0", prediction="x0", decay=0.0)
    teacher = lambda q, x, t, **c: exact(x, t)  # noqa: E731
    exact_obj = hyper_sd_distillation(p, teacher, sampler="diffrax_pf_ode",
                                      sampler_options=dict(rtol=1e-9, atol=1e-9), **kw)
    ddim_obj = hyper_sd_distillation(p, teacher, **kw)
    net = exact_segment_net(f_star, p, s)
    batch = {"x": gmm.sample(jax.random.PRNGKey(1), 32)}
    key = jax.random.PRNGKey(2)

    def losses(obj, eps):
        return np.asarray(jax.jit(jax.vmap(
            lambda e: obj.loss(net, e, obj.init(e), batch, key)[0]))(jnp.asarray(eps)))

    exact_loss, perturbed = losses(exact_obj, [0.0, 0.2])
    (ddim_loss,) = losses(ddim_obj, [0.0])
    assert exact_loss < 1e-14, exact_loss  # measured 2e-19
    assert perturbed > 1e-4, perturbed  # measured 3.4e-4
    # the first-order teacher step leaves the trajectory
    assert ddim_loss > 1e-7, ddim_loss  # measured 5.9e-7
    # Hyper-SD's s-step sampler with the exact segmented function is the exact map
    x1 = gmm.sample_marginal(jax.random.PRNGKey(3), 16, p.t_max, p)
    chained = seg.segmented_sample(ode_segment, p, x1, s)
    whole = ode_consistency_function(exact, p, prediction="x0", rtol=1e-9, atol=1e-9)(
        x1, jnp.full((16,), p.t_max)) * p.alpha(p.t_min)
    np.testing.assert_allclose(chained, whole, atol=1e-6)
