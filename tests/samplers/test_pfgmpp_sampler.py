"""The PFGM++ sampler (diffax/samplers/pfgmpp.py): registry metadata and errors, jit /
vmap / derivative, the exact identity with EDM's Heun (same ODE in sigma), order 2, and
the D -> infinity limit on the Gaussian-mixture oracle (PFGM++ -> EDM, numerically)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.analytic.pfgmpp_mixture import denoiser_at_nodes, gamma_nodes, pfgmpp_denoiser
from diffax.processes import EDM, PFGMPP, VPLinear
from diffax.samplers import SAMPLERS, get_sampler, get_schedule, sampler_info, schedules

P = PFGMPP(D=64.0, data_dim=2)


def model(x, t):
    """A smooth denoiser (cheap to compile)."""
    return 0.5 * jnp.tanh(x) + 0.05 * jnp.log(t)[:, None] * x


def test_metadata_and_schedule():
    info = sampler_info("pfgmpp_heun")
    assert SAMPLERS.family("pfgmpp_heun") == info.family == "pfgmpp"
    assert info.order == 2 and not info.stochastic and not info.adaptive
    assert [info.nfe(n) for n in (1, 17)] == [2, 34] and info.steps_for_nfe(35) == 17
    ts = get_schedule("pfgmpp_karras", P, 17)
    assert ts.shape == (18,) and ts[0] == jnp.float32(P.t_max) and ts[-1] == jnp.float32(P.t_min)
    np.testing.assert_allclose(ts, get_schedule("karras", EDM(), 17), rtol=1e-6)
    with pytest.raises(ValueError, match="family 'pfgmpp'.*VPLinear"):
        get_schedule("pfgmpp_karras", VPLinear(), 4)


def test_errors():
    ts = get_schedule("pfgmpp_karras", P, 4)
    x = jnp.zeros((3, 2))
    run = get_sampler("pfgmpp_heun")
    with pytest.raises(ValueError, match="unknown prediction kind 'noise'"):
        run(model, P, x, ts, prediction="noise")
    with pytest.raises(ValueError, match=r"'score' is not defined for PFGM\+\+.*\['x0', 'eps'\]"):
        run(model, P, x, ts, prediction="score")
    with pytest.raises(ValueError, match="decrease strictly"):
        run(model, P, x, ts[::-1])
    with pytest.raises(ValueError, match="'pfgmpp_heun' works on 'pfgmpp' processes, got "
                                         "VPLinear of family 'gaussian'"):
        run(model, VPLinear(), x, schedules.uniform_time(VPLinear(), 4))
    with pytest.raises(ValueError, match="fixes final_euler=False"):
        get_sampler("pfgmpp_heun", final_euler=True)
    with pytest.raises(ValueError, match=r"is for pfgmpp processes|unknown option"):
        get_sampler("pfgmpp_heun", predicton="x0")


def test_identical_to_edm_heun_and_eps_reading(x64):
    """dx/dsigma = (x - D)/sigma is EDM's ODE: with the same denoiser and grid the two
    samplers take the same steps (up to rounding); the "eps" reading (x - D)/sigma too."""
    ts = get_schedule("pfgmpp_karras", P, 6)
    x = 80.0 * jax.random.normal(jax.random.key(0), (4, 2), jnp.float64)
    ours = get_sampler("pfgmpp_heun")(model, P, x, ts, return_trajectory=True)
    edm = get_sampler("edm_heun")(model, EDM(), x, ts, prediction="x0", return_trajectory=True)
    np.testing.assert_allclose(ours.trajectory, edm.trajectory, rtol=1e-12, atol=1e-12)
    eps_model = lambda x, t: (x - model(x, t)) / t[:, None]  # noqa: E731
    via_eps = get_sampler("pfgmpp_heun")(eps_model, P, x, ts, prediction="eps")
    np.testing.assert_allclose(via_eps.x, ours.x, rtol=1e-12, atol=1e-12)
    assert ours.nfe == 12


def test_jit_vmap_grad_and_order(x64):
    ts = get_schedule("pfgmpp_karras", P, 4, t_start=5.0, t_end=0.1)
    xs = jax.random.normal(jax.random.key(1), (2, 3, 2), jnp.float64)
    run = lambda x, w: get_sampler("pfgmpp_heun")(  # noqa: E731
        lambda x, t: w * model(x, t), P, x, ts).x
    f = jax.jit(lambda w: jnp.sum(run(xs[0], w) ** 2))
    g = jax.grad(f)(1.0)
    e = 1e-6
    np.testing.assert_allclose(g, (f(1 + e) - f(1 - e)) / (2 * e), rtol=1e-6)
    batched = jax.jit(jax.vmap(lambda x: run(x, 1.0)))(xs)
    np.testing.assert_allclose(batched, jnp.stack([run(xs[0], 1.0), run(xs[1], 1.0)]),
                               rtol=1e-12, atol=1e-12)
    # global order 2 against a 512-step reference: error ratios ~4 per halving
    def final(n):
        grid = get_schedule("pfgmpp_karras", P, n, t_start=5.0, t_end=0.1)
        return get_sampler("pfgmpp_heun")(model, P, xs[0], grid).x
    ref = final(512)
    errs = [float(jnp.max(jnp.abs(final(n) - ref))) for n in (8, 16, 32)]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 1.8), (errs, orders)


def test_float32_state_stays_float32(x64):
    x = jnp.ones((2, 2), jnp.float32)
    ts = get_schedule("pfgmpp_karras", P, 4).astype(jnp.float64)
    net = lambda x, t: jnp.tanh(x.astype(jnp.float64))  # noqa: E731
    out = jax.eval_shape(lambda x: get_sampler("pfgmpp_heun")(net, P, x, ts,
                                                               return_trajectory=True), x)
    assert out.x.dtype == out.trajectory.dtype == jnp.float32


def _mixture():
    return GaussianMixture.create(jnp.array([0.35, 0.3, 0.2, 0.15]),
                                  jnp.array([[-1.5, -1.0], [1.5, 1.0], [-1.0, 1.5], [1.5, -1.5]]),
                                  jnp.array([[[0.30, 0.15], [0.15, 0.20]], [[0.2, 0.0], [0.0, 0.2]],
                                             [[0.25, -0.1], [-0.1, 0.15]], [[0.1, 0.0], [0.0, 0.3]]]))


def test_oracle_matches_brute_force_in_1d(x64):
    """The quadrature over the kernel's Gamma scale equals direct integration of
    p(y) p_r(x|y) on a grid (error ~1/M, measured 9e-6 at M = 256, D = 64)."""
    gm = GaussianMixture.create(jnp.array([0.3, 0.7]), jnp.array([[-1.0], [1.5]]),
                                jnp.array([[[0.2]], [[0.5]]]))
    x, sigma = jnp.array([[0.3], [2.0], [-3.0]]), jnp.array([0.5, 1.0, 3.0])
    p = PFGMPP(D=64.0, data_dim=1)
    y = jnp.linspace(-12.0, 12.0, 20001)[:, None]
    prior = jnp.exp(gm.log_prob(y))
    brute = []
    for i in range(3):
        w = prior * jnp.exp(p.log_kernel(jnp.broadcast_to(x[i], y.shape), y,
                                          p.r_from_sigma(sigma[i])))
        brute.append(jnp.sum(w * y[:, 0]) / jnp.sum(w))
    np.testing.assert_allclose(pfgmpp_denoiser(gm, 64.0, 256)(x, sigma)[:, 0], brute, atol=3e-5)
    # and it is not the Gaussian (EDM) posterior mean at D = 64
    assert np.max(np.abs(np.array(brute) - gm.posterior_mean_x0(x, sigma, EDM())[:, 0])) > 1e-3


def test_pfgmpp_samples_tend_to_edm_samples_as_d_grows(x64):
    """Exact PFGM++ denoiser + PFGM++ prior at r_max vs exact EDM denoiser + Gaussian
    prior, coupled through the kernel's scale mixture (x_T = sigma_max g / sqrt(u), u ~
    Gamma(D/2, rate D/2), the same g for EDM). The paired RMS distance bounds W2 between
    the two sample sets; measured 0.097, 0.044, 0.021, 0.0061 at D = 64, 512, 4096, 1e5
    (~D^-1/2, the prior's radius spread; 128 samples, 12 Heun steps, 64 quadrature nodes)
    and the largest error of the sample mean 4.5e-3, 1.5e-3, 1.1e-3, 3.9e-4."""
    gm = _mixture()
    n, steps = 128, 12
    ts = get_schedule("pfgmpp_karras", P, steps)
    g = jax.random.normal(jax.random.key(0), (n, 2), jnp.float64)
    edm = EDM()
    ref = get_sampler("edm_heun")(gm.model_fn("x0", edm), edm, P.t_max * g, ts,
                                  prediction="x0").x

    @jax.jit
    def pfgmpp_samples(u_prior, nodes):
        x_init = P.t_max * g / jnp.sqrt(u_prior)[:, None]
        return get_sampler("pfgmpp_heun")(denoiser_at_nodes(gm, nodes), P, x_init, ts).x

    rms, mean_err = [], []
    for D in (64.0, 512.0, 4096.0, 1e5):
        u = jax.random.gamma(jax.random.key(1), 0.5 * D, (n,), jnp.float64) / (0.5 * D)
        out = pfgmpp_samples(u, jnp.asarray(gamma_nodes(D, 64)))
        rms.append(float(jnp.sqrt(jnp.mean(jnp.sum((out - ref) ** 2, -1)))))
        mean_err.append(float(jnp.max(jnp.abs(out.mean(0) - ref.mean(0)))))
    assert np.all(np.diff(rms) < 0) and np.all(np.diff(mean_err) < 0), (rms, mean_err)
    assert rms[0] > 0.03 and rms[-1] < 0.01 and mean_err[-1] < 1e-3, (rms, mean_err)
