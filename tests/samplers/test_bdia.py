"""BDIA-DDIM: measured orders (2 for gamma = 1, 1 for gamma < 1) on the GMM oracle, the
exact round trips x -> noise -> x and noise -> x -> noise (float64 and float32), every
process and prediction kind, gamma = 0 is DDIM, exact NFE, options (jit/vmap/grad and
dtypes: test_conformance.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle import (COV, MEAN, HostModel, fit_order, full_range_problem, gaussian_host,
                    host_mixture, mixture, rms, smooth_tanh_model)

from diffax import predictions
from diffax.analytic import gaussian_pf_ode_solution
from diffax.processes import PROCESSES, VPLinear, get_process
from diffax.samplers import registry, schedules
from diffax.samplers.bdia import bdia, bdia_inversion
from diffax.samplers.ddim import ddim, ddim_inversion


# ---- convergence orders ------------------------------------------------------------------------

def test_orders_gamma_one_and_half(x64):
    """VP-linear, uniform log-SNR, N = 16..128 (the same oracle, x_init and reference as
    test_ddim). gamma = 1 cancels the O(h^2) local errors of the forward and backward
    DDIM steps: second order; gamma = 0.5 leaves (1 - gamma) of them: first order."""
    host, p, x, ref = full_range_problem()
    model = host(p)
    ns = [16, 32, 64, 128]
    run = jax.jit(lambda x, gamma: [bdia(model, p, x, schedules.uniform_log_snr(p, n),
                                         gamma=gamma) for n in ns])
    for gamma, expected in ((1.0, 2), (0.5, 1)):
        host.calls = 0
        outs = jax.block_until_ready(run(x, gamma))
        jax.effects_barrier()
        errs = [rms(o.x, ref) for o in outs]
        order = fit_order(ns, errs)
        print(f"bdia gamma={gamma} errors", errs, "order", order)
        assert abs(order - expected) < 0.3, (gamma, order, errs)
        assert [o.nfe for o in outs] == ns and host.calls == sum(ns)
    info = registry.sampler_info("bdia")
    assert (info.order, info.stochastic, info.options, info.nfe(9)) == (2, False,
                                                                       {"gamma": 1.0}, 9)
    assert "bdia_inversion" not in registry.SAMPLERS


# ---- exact inversion ---------------------------------------------------------------------------

def _round_trips(model, p, x_data, z, ts):
    """x -> noise -> x through the pair (x, x_penultimate), and noise -> x -> noise."""
    inv = bdia_inversion(model, p, x_data, ts[::-1])
    rec = bdia(model, p, inv.x, ts, x_second=inv.x_penultimate)
    out = bdia(model, p, z, ts, return_trajectory=True)
    back = bdia_inversion(model, p, out.x, ts[::-1], x_second=out.x_penultimate)
    dd = ddim(model, p, ddim_inversion(model, p, x_data, ts[::-1]).x, ts).x
    return dict(inv=inv, rec=rec, out=out, back=back, ddim_rec=dd)


@pytest.mark.parametrize("n", [10, 50])
def test_round_trip_is_exact_float64(x64, n):
    host, p, z, _ = full_range_problem()
    x_data = host_mixture()[0].sample_marginal(jax.random.PRNGKey(4), 64, p.t_min, p)
    ts = schedules.uniform_log_snr(p, n)
    host.calls = 0
    r = jax.jit(lambda x, z: _round_trips(host(p), p, x, z, ts))(x_data, z)
    jax.effects_barrier()
    err_x = float(jnp.max(jnp.abs(r["rec"].x - x_data)))
    err_z = float(jnp.max(jnp.abs(r["back"].x - z)))
    err_ddim = float(jnp.max(jnp.abs(r["ddim_rec"] - x_data)))
    print(f"N={n} bdia round trips: data {err_x:.2e}, noise {err_z:.2e}; ddim {err_ddim:.2e}")
    assert err_x < 1e-10 and err_z < 1e-10
    assert err_ddim > 1e-3  # DDIM inversion is only approximate
    np.testing.assert_allclose(r["back"].x_penultimate, r["out"].trajectory[1], atol=1e-10)
    # NFE: N for a chain started from one state, N - 1 from a pair.
    assert (r["inv"].nfe, r["rec"].nfe, r["out"].nfe, r["back"].nfe) == (n, n - 1, n, n - 1)
    assert host.calls == 4 * n - 2 + 2 * n


def test_round_trip_float32():
    """float32 throughout: the round trip is exact up to float32 rounding amplified by
    the chain (observed ~1e-6 for data of scale ~2)."""
    gmm = mixture()
    host = HostModel(gmm)
    p = VPLinear()
    x_data = gmm.sample_marginal(jax.random.PRNGKey(4), 64, p.t_min, p)
    z = p.prior_sample(jax.random.PRNGKey(2), (64, 2))
    ts = schedules.uniform_log_snr(p, 20)
    r = jax.jit(lambda x, z: _round_trips(host(p), p, x, z, ts))(x_data, z)
    assert r["rec"].x.dtype == jnp.float32
    err_x = float(jnp.max(jnp.abs(r["rec"].x - x_data)))
    err_z = float(jnp.max(jnp.abs(r["back"].x - z)))
    err_ddim = float(jnp.max(jnp.abs(r["ddim_rec"] - x_data)))
    print(f"float32 round trips: data {err_x:.2e}, noise {err_z:.2e}; ddim {err_ddim:.2e}")
    assert err_x < 1e-4 and err_z < 1e-4
    assert err_ddim > 100 * err_x


# ---- every process and prediction kind --------------------------------------------------------

_CASES = [(name, predictions.KINDS[(i + 2) % 5]) for i, name in enumerate(PROCESSES.names("gaussian"))]


@pytest.mark.parametrize("process_name,kind", _CASES)
def test_every_process_and_kind(x64, process_name, kind):
    """Against the closed-form Gaussian PF-ODE at N = 64 (observed RMS errors 0.0005-0.007;
    a wrong coefficient or conversion gives O(0.1 - 1)), and an exact round trip."""
    p = get_process(process_name)
    model = gaussian_host()(p, kind)
    x = p.prior_sample(jax.random.PRNGKey(1), (64, 2), jnp.float64)
    ts = schedules.uniform_log_snr(p, 64)

    @jax.jit
    def run(x):
        out = bdia(model, p, x, ts, prediction=kind)
        inv = bdia_inversion(model, p, out.x, ts[::-1], prediction=kind,
                             x_second=out.x_penultimate)
        return out.x, inv.x

    y, back = run(x)
    err = rms(y, gaussian_pf_ode_solution(MEAN, COV, p, x, p.t_max, p.t_min))
    print(process_name, kind, "rms", err)
    assert err < 0.02, err
    np.testing.assert_allclose(back, x, atol=1e-9 * float(p.prior_std))


# ---- structure: gamma = 0, first step, jit / vmap / grad ----------------------------------------

def test_gamma_zero_is_ddim_and_first_step_is_ddim(x64):
    p = VPLinear()
    x = p.prior_sample(jax.random.PRNGKey(0), (8, 2), jnp.float64)
    ts = schedules.uniform_log_snr(p, 7)
    b0, b1, dd = jax.jit(lambda x: (bdia(smooth_tanh_model, p, x, ts, gamma=0.0).x,
                                    bdia(smooth_tanh_model, p, x, ts, return_trajectory=True),
                                    ddim(smooth_tanh_model, p, x, ts, return_trajectory=True)))(x)
    np.testing.assert_allclose(b0, dd.x, rtol=1e-12)
    np.testing.assert_allclose(b1.trajectory[:2], dd.trajectory[:2], rtol=1e-12)
    assert b1.trajectory.shape == (8, 8, 2)
    np.testing.assert_allclose(b1.trajectory[-1], b1.x)
    np.testing.assert_allclose(b1.trajectory[-2], b1.x_penultimate)
    # One BDIA step written out (gamma = 0.7): y2 = g (y0 - D(y1 -> t0)) + D(y1 -> t2).
    g = 0.7
    y0, y1 = x, b1.trajectory[1]
    eps = smooth_tanh_model(y1, jnp.full((8,), ts[1]))
    x0 = (y1 - p.sigma(ts[1]) * eps) / p.alpha(ts[1])
    expect = (g * (y0 - p.alpha(ts[0]) * x0 - p.sigma(ts[0]) * eps)
              + p.alpha(ts[2]) * x0 + p.sigma(ts[2]) * eps)
    np.testing.assert_allclose(bdia(smooth_tanh_model, p, y0, ts[:3], gamma=g, x_second=y1).x,
                               expect, rtol=1e-12)


def test_bad_options_raise():
    p = VPLinear()
    x = jnp.zeros((2, 2))
    ts = schedules.uniform_time(p, 4)
    for gamma in (-0.1, 1.5):
        with pytest.raises(ValueError, match="gamma"):
            bdia(smooth_tanh_model, p, x, ts, gamma=gamma)
    with pytest.raises(ValueError, match="gamma.*no exact inverse"):
        bdia_inversion(smooth_tanh_model, p, x, ts[::-1], gamma=0.0)
    with pytest.raises(ValueError, match="x_second"):
        bdia(smooth_tanh_model, p, x, ts, x_second=jnp.zeros((3, 2)))
    with pytest.raises(ValueError, match="increase"):
        bdia_inversion(smooth_tanh_model, p, x, ts)
