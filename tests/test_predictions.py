"""Value tests of diffax/predictions.py: conversions among the prediction kinds, the
model wrapper, and EDM preconditioning (Karras et al., 2022, Table 1)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import predictions
from diffax.predictions import (
    KINDS,
    check_kind,
    convert,
    edm_precondition,
    edm_scalings,
    from_x0_eps,
    to_x0_eps,
    wrap_model,
)
from diffax.processes import EDM, PROCESSES, VE, VPLinear, VPProcess, get_process

PROCS = PROCESSES.names("gaussian")
B, D = 8, 3
PAIRS = [(a, b) for a in KINDS for b in KINDS]


def times(p, n=B) -> np.ndarray:
    """n times spanning [t_min, t_max], both ends included (geometric for EDM)."""
    if isinstance(p, EDM):
        return np.geomspace(p.t_min, p.t_max, n)
    return np.linspace(p.t_min, p.t_max, n)


def setup(name, seed=0, shape=(B, D)):
    p = get_process(name)
    rng = np.random.default_rng(seed)
    t = times(p, shape[0])
    x0 = rng.normal(size=shape)
    eps = rng.normal(size=shape)
    a, s = (np.asarray(c).reshape((-1,) + (1,) * (len(shape) - 1)) for c in
            p.marginal_params(jnp.asarray(t)))
    x = a * x0 + s * eps
    return p, t, x0, eps, x, a, s


def all_conversions(p, x0, eps, x, t):
    """Every kind's ground truth, every ordered conversion, every round trip."""
    truth = {k: from_x0_eps(k, x0, eps, x, t, p) for k in KINDS}
    conv = {f"{a}->{b}": convert(truth[a], a, b, x, t, p) for a, b in PAIRS}
    back = {f"{a}->{b}": convert(conv[f"{a}->{b}"], b, a, x, t, p) for a, b in PAIRS}
    recovered = {k: to_x0_eps(k, truth[k], x, t, p) for k in KINDS}
    return truth, conv, back, recovered


def close(actual, desired, rtol=1e-9, err_msg=""):
    """allclose with an absolute floor relative to the array's scale."""
    desired = np.asarray(desired)
    scale = max(1.0, float(np.abs(desired).max()))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=err_msg)


# ---- conversions among all kinds --------------------------------------------------------

@pytest.mark.parametrize("name", PROCS)
def test_convert_every_pair_matches_truth_and_round_trips(name, x64):
    p, t, x0, eps, x, a, s = setup(name)
    truth, conv, back, recovered = jax.tree.map(
        np.asarray, all_conversions(p, x0, eps, x, jnp.asarray(t)))
    assert truth["eps"].dtype == np.float64
    close(truth["x0"], x0)
    close(truth["eps"], eps)
    for k in KINDS:  # to_x0_eps inverts from_x0_eps
        close(recovered[k][0], x0, err_msg=f"x0 from {k}")
        close(recovered[k][1], eps, err_msg=f"eps from {k}")
    for a_kind, b_kind in PAIRS:
        key = f"{a_kind}->{b_kind}"
        close(conv[key], truth[b_kind], err_msg=key)  # a -> b gives b's truth
        close(back[key], truth[a_kind], err_msg=key + " and back")  # a -> b -> a


@pytest.mark.parametrize("name", PROCS)
def test_specific_identities(name, x64):
    p, t, x0, eps, x, a, s = setup(name, seed=1)
    tj = jnp.asarray(t)
    # score = -eps / sigma  (Song et al., 2021)
    close(convert(eps, "eps", "score", x, tj, p), -eps / s)
    close(convert(-eps / s, "score", "eps", x, tj, p), eps)
    # v = alpha eps - sigma x0; for VP processes x0 = alpha x - sigma v and
    # eps = sigma x + alpha v (Salimans & Ho, 2022, appendix D)
    v = a * eps - s * x0
    close(convert(eps, "eps", "v", x, tj, p), v)
    if isinstance(p, VPProcess):
        close(convert(v, "v", "x0", x, tj, p), a * x - s * v)
        close(convert(v, "v", "eps", x, tj, p), s * x + a * v)
    # Gaussian data x0 ~ N(0, I): E[x0 | x] = a x/(a^2 + s^2), E[eps | x] = s x/(a^2 + s^2);
    # conversions are linear, so they map one posterior mean onto the other
    post_x0, post_eps = a * x / (a**2 + s**2), s * x / (a**2 + s**2)
    close(convert(post_x0, "x0", "eps", x, tj, p), post_eps)
    close(convert(post_eps, "eps", "score", x, tj, p), -x / (a**2 + s**2))


def test_velocity_closed_forms(x64):
    # rectified flow: x_t = (1 - t) x0 + t eps -> u = eps - x0
    p, t, x0, eps, x, a, s = setup("rectified_flow", seed=2)
    tj = jnp.asarray(t)
    close(convert(eps, "eps", "velocity", x, tj, p), eps - x0)
    close(convert(x0, "x0", "velocity", x, tj, p), eps - x0)
    close(convert(eps - x0, "velocity", "x0", x, tj, p), x0)
    close(convert(eps - x0, "velocity", "eps", x, tj, p), eps)
    # EDM: x = x0 + t eps -> u = eps, and x0 = x - t u (the PF-ODE dx/dt = (x - D)/t)
    p, t, x0, eps, x, a, s = setup("edm", seed=3)
    tj = jnp.asarray(t)
    close(convert(eps, "eps", "velocity", x, tj, p), eps)
    close(convert(eps, "velocity", "x0", x, tj, p), x - t[:, None] * eps)
    # VE: sigma' = sigma log(smax/smin)
    p = VE(0.01, 50.0)
    t = np.linspace(0.1, 0.9, B)
    sig = (0.01 * 5000.0**t)[:, None]
    x0, eps = np.ones((B, D)), np.linspace(-1, 1, B * D).reshape(B, D)
    x = x0 + sig * eps
    close(convert(eps, "eps", "velocity", x, jnp.asarray(t), p), sig * np.log(5000.0) * eps)
    # VPLinear: alpha' = -beta alpha/2, sigma' = beta alpha^2 / (2 sigma)
    p = VPLinear(0.1, 20.0)
    beta = (0.1 + 19.9 * t)[:, None]
    al = np.exp(-0.5 * (0.1 * t + 0.5 * 19.9 * t**2))[:, None]
    sg = np.sqrt(1 - al**2)
    x = al * x0 + sg * eps
    close(convert(eps, "eps", "velocity", x, jnp.asarray(t), p),
          -0.5 * beta * al * x0 + 0.5 * beta * al**2 / sg * eps)


@pytest.mark.parametrize("name", PROCS)
def test_velocity_is_the_probability_flow_drift(name, x64):
    """convert(score -> velocity) equals the process's PF-ODE drift f x - g^2/2 score."""
    p, t, x0, eps, x, a, s = setup(name, seed=4)
    tj = jnp.asarray(t)
    score = -eps / s
    close(convert(score, "score", "velocity", x, tj, p), p.pf_ode_drift(x, tj, score), rtol=1e-8)


# ---- wrap_model ------------------------------------------------------------------------

def eps_model(x, t, *, scale=1.0):
    """A fixed 'network' predicting eps (depends on x, t and a conditioning kwarg)."""
    tb = jnp.reshape(jnp.asarray(t), jnp.shape(t) + (1,) * (x.ndim - jnp.ndim(t)))
    return scale * jnp.tanh(x) * (1.0 + tb)


@pytest.mark.parametrize("name", ["vp_cosine", "edm", "rectified_flow"])
def test_wrap_model(name, x64):
    p, t, x0, eps, x, a, s = setup(name, seed=5)
    tj = jnp.asarray(t)
    pred_eps = np.asarray(eps_model(x, tj, scale=0.5))
    assert wrap_model(eps_model, "eps", "eps", p) is eps_model
    x0_model = wrap_model(eps_model, "eps", "x0", p)
    close(x0_model(x, tj, scale=0.5), (x - s * pred_eps) / a)  # kwargs reach the model
    score_model = jax.jit(wrap_model(eps_model, "eps", "score", p))
    close(score_model(x, tj, scale=0.5), -pred_eps / s)
    for k in KINDS:
        close(wrap_model(eps_model, "eps", k, p)(x, tj, scale=0.5),
              convert(pred_eps, "eps", k, x, tj, p), err_msg=k)
    # wrapping back recovers the model
    back = wrap_model(wrap_model(eps_model, "eps", "v", p), "v", "eps", p)
    close(back(x, tj, scale=0.5), pred_eps)


def test_unknown_kind_raises_listing_valid_kinds():
    p = VPLinear()
    x = jnp.ones((2, 3))
    t = jnp.array([0.3, 0.6])
    calls = [
        lambda: check_kind("epsilon"),
        lambda: convert(x, "epsilon", "x0", x, t, p),
        lambda: convert(x, "eps", "epsilon", x, t, p),
        lambda: convert(x, "epsilon", "epsilon", x, t, p),
        lambda: to_x0_eps("epsilon", x, x, t, p),
        lambda: from_x0_eps("epsilon", x, x, x, t, p),
        lambda: wrap_model(eps_model, "epsilon", "x0", p),
        lambda: wrap_model(eps_model, "eps", "epsilon", p),
    ]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        msg = str(info.value)
        assert "'epsilon'" in msg and all(f"'{k}'" in msg for k in KINDS), msg
    assert check_kind("v") == "v"
    assert set(KINDS) == {"eps", "x0", "v", "score", "velocity"}


# ---- per-example times with image-shaped x ---------------------------------------------

def from_eps_to_all(p, eps_pred, x, t):
    return {k: convert(eps_pred, "eps", k, x, t, p) for k in KINDS}


@pytest.mark.parametrize("name", ["vp_cosine", "ve", "rectified_flow", "sub_vp"])
def test_per_example_time_with_image_shaped_x(name, x64):
    shape = (3, 4, 5, 2)  # (B, H, W, C)
    p, t, x0, eps, x, a, s = setup(name, seed=6, shape=shape)
    assert a.shape == (3, 1, 1, 1)
    out = jax.tree.map(np.asarray, from_eps_to_all(p, eps, x, jnp.asarray(t)))
    for k in KINDS:
        assert out[k].shape == shape
        close(out[k], from_x0_eps(k, x0, eps, x, jnp.asarray(t), p), err_msg=k)
    for b in range(shape[0]):  # the same as one scalar time per example
        for k in ("x0", "v", "velocity"):
            close(out[k][b], convert(eps[b], "eps", k, x[b], float(t[b]), p), err_msg=k)
    with pytest.raises(ValueError, match=r"\(4,\)"):
        convert(eps, "eps", "x0", x, jnp.ones(4) * 0.5, p)


def test_convert_under_vmap(x64):
    p, t, x0, eps, x, a, s = setup("vp_linear", seed=7)
    got = jax.vmap(lambda e, xx, tt: convert(e, "eps", "x0", xx, tt, p))(eps, x, jnp.asarray(t))
    close(got, x0)


# ---- EDM preconditioning -------------------------------------------------------------

def test_edm_scalings_match_karras_table_1(x64):
    sigma = np.geomspace(0.002, 80.0, 17)
    for sd in (0.5, 1.3):
        c_skip, c_out, c_in, c_noise = edm_scalings(jnp.asarray(sigma), sd)
        np.testing.assert_allclose(c_skip, sd**2 / (sigma**2 + sd**2), rtol=1e-13)
        np.testing.assert_allclose(c_out, sigma * sd / np.sqrt(sigma**2 + sd**2), rtol=1e-13)
        np.testing.assert_allclose(c_in, 1 / np.sqrt(sd**2 + sigma**2), rtol=1e-13)
        np.testing.assert_allclose(c_noise, np.log(sigma) / 4, rtol=1e-13)
    # literal values at sigma = sigma_data = 0.5
    c_skip, c_out, c_in, c_noise = (float(c) for c in edm_scalings(0.5))
    assert c_skip == pytest.approx(0.5, rel=1e-12)
    assert c_out == pytest.approx(0.3535533905932738, rel=1e-12)
    assert c_in == pytest.approx(1.4142135623730951, rel=1e-12)
    assert c_noise == pytest.approx(-0.17328679513998632, rel=1e-12)
    # EDM's design goal: for data of std sd the training target (x0 - c_skip x)/c_out
    # has unit variance
    for s_ in (0.01, 0.5, 30.0):
        c_skip, c_out, _, _ = (float(c) for c in edm_scalings(s_))
        var_target = ((1 - c_skip) ** 2 * 0.25 + c_skip**2 * s_**2) / c_out**2
        assert var_target == pytest.approx(1.0, rel=1e-12)


def test_edm_precondition_zero_network_is_c_skip_x(x64):
    p = EDM()
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 4, 4, 2)) * 5
    t = np.array([0.01, 0.5, 40.0])
    seen = {}

    def raw(x_in, c_noise, *, label):
        seen.update(x_in=np.asarray(x_in), c_noise=np.asarray(c_noise), label=label)
        return jnp.zeros_like(x_in)

    denoise = edm_precondition(raw, p)
    out = np.asarray(denoise(x, jnp.asarray(t), label=7))
    c_skip = (0.25 / (t**2 + 0.25))[:, None, None, None]
    np.testing.assert_allclose(out, c_skip * x, rtol=1e-13)
    np.testing.assert_allclose(seen["x_in"], x / np.sqrt(t**2 + 0.25)[:, None, None, None],
                               rtol=1e-13)
    np.testing.assert_allclose(seen["c_noise"], np.log(t) / 4, rtol=1e-13)
    assert seen["label"] == 7


@pytest.mark.parametrize("name", PROCS)
def test_edm_precondition_recovers_ideal_target(name, x64):
    """A raw network returning F = (D_target - c_skip x/alpha)/c_out makes the wrapper
    output D_target exactly; its inputs are c_in x/alpha and log(sigma/alpha)/4."""
    p, t, x0, eps, x, a, s = setup(name, seed=9)
    sd = 0.5
    s_eff = s / a  # noise level of x / alpha = x0 + (sigma/alpha) eps
    c_skip = sd**2 / (s_eff**2 + sd**2)
    c_out = s_eff * sd / np.sqrt(s_eff**2 + sd**2)
    c_in = 1 / np.sqrt(s_eff**2 + sd**2)
    target = np.random.default_rng(10).normal(size=x.shape)
    seen = {}

    def raw(x_in, c_noise):
        seen.update(x_in=np.asarray(x_in), c_noise=np.asarray(c_noise))
        return (target - c_skip * x / a) / c_out

    out = edm_precondition(raw, p, sigma_data=sd)(x, jnp.asarray(t))
    close(out, target, rtol=1e-9)
    close(seen["x_in"], c_in * x / a)
    close(seen["c_noise"], np.log(s_eff[:, 0]) / 4)


@pytest.mark.parametrize("name", PROCS)
def test_edm_precondition_zero_network_is_gaussian_posterior_mean(name, x64):
    """For data N(0, sd^2 I), D = c_skip x/alpha is the exact posterior mean E[x0 | x_t]
    under any Gaussian process, so F = 0 is the optimal raw network."""
    sd = 0.8
    p, t, x0, eps, x, a, s = setup(name, seed=11)
    denoise = edm_precondition(lambda x_in, c_noise: jnp.zeros_like(x_in), p, sigma_data=sd)
    posterior_mean = a * sd**2 * x / (a**2 * sd**2 + s**2)
    close(denoise(x, jnp.asarray(t)), posterior_mean)


@pytest.mark.parametrize("bad", [0.0, -0.5])
def test_edm_precondition_rejects_bad_sigma_data(bad):
    with pytest.raises(ValueError, match=f"sigma_data.*{bad}"):
        edm_precondition(lambda x_in, c: x_in, EDM(), sigma_data=bad)


def test_module_exports():
    for name in ("KINDS", "check_kind", "convert", "to_x0_eps", "from_x0_eps", "wrap_model",
                 "edm_scalings", "edm_precondition"):
        assert hasattr(predictions, name), name
    assert math.isclose(float(edm_scalings(1.0, 1.0)[0]), 0.5)
