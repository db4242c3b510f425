"""Value tests that pin diffax/losses/weighting.py (written from its mutation run,
docs/testing.md "Measured (2026-12): diffax/losses").

Closed forms on the linear VP SDE (beta(t) = 0.1 + 19.9 t, alpha^2 = exp(-int_0^t beta),
sigma^2 = 1 - alpha^2), in float64:

* SNR = alpha^2 / sigma^2 (Kingma et al., 2021);
* Min-SNR-gamma: min(SNR, gamma), default gamma = 5 (Hang et al., 2023);
* likelihood: g^2 alpha^2 / sigma^4 with g^2 = beta (Song et al., 2021, Thm. 1);
* EDM: (s^2 + sigma_data^2) / (s sigma_data)^2, s = sigma / alpha, default
  sigma_data = 0.5 (Karras et al., 2022, Table 1);

each converted to kind k by dividing by r_k^2 (r_eps = -alpha/sigma,
r_v = -(alpha^2 + sigma^2)/sigma, r_score = alpha/sigma^2). Then the weight's dtype,
the defaults and every argument message in full.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.losses import weighting as wt
from diffax.processes import PFGMPP, VPLinear

T = np.linspace(0.05, 0.95, 9)


def vp_closed_form(t):
    log_a2 = -(0.5 * t**2 * 19.9 + 0.1 * t)
    a2 = np.exp(log_a2)
    s2 = 1.0 - a2
    return np.sqrt(a2), np.sqrt(s2), 0.1 + 19.9 * t


def x0_weights(t, gamma=5.0, sigma_data=0.5):
    a, s, beta = vp_closed_form(t)
    snr = a**2 / s**2
    lev = s / a
    return {"snr": snr, "min_snr": np.minimum(snr, gamma),
            "likelihood": beta * a**2 / s**4,
            "edm": (lev**2 + sigma_data**2) / (lev * sigma_data) ** 2}


def kind_scale(kind, t):
    a, s, _ = vp_closed_form(t)
    return {"x0": np.ones_like(t), "eps": -a / s, "v": -(a**2 + s**2) / s,
            "score": a / s**2}[kind]


def test_snr_and_x0_weights_closed_forms(x64):
    vp = VPLinear()
    t = jnp.asarray(T)
    a, s, _ = vp_closed_form(T)
    np.testing.assert_allclose(wt.snr(vp, t), a**2 / s**2, rtol=1e-10)
    want = x0_weights(T, gamma=2.0, sigma_data=0.3)
    got = {"snr": losses.x0_weight("snr", vp, t),
           "min_snr": losses.x0_weight("min_snr", vp, t, gamma=2.0),
           "likelihood": losses.x0_weight("likelihood", vp, t),
           "edm": losses.x0_weight("edm", vp, t, sigma_data=0.3)}
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-10, err_msg=name)
    # gamma = 2 clips part of the grid: both branches of the minimum are exercised.
    assert np.any(want["snr"] > 2.0) and np.any(want["snr"] < 2.0)
    # A Python list of times works like an array.
    np.testing.assert_allclose(losses.x0_weight("snr", vp, list(T)), want["snr"], rtol=1e-10)


@pytest.mark.parametrize("kind", ["x0", "eps", "v", "score"])
def test_make_weighting_every_kind_by_hand(x64, kind):
    vp = VPLinear()
    t = jnp.asarray(T)
    r2 = kind_scale(kind, T) ** 2
    for options, want in (({}, x0_weights(T)),  # defaults gamma = 5, sigma_data = 0.5
                          ({"gamma": 2.0, "sigma_data": 0.3},
                           x0_weights(T, gamma=2.0, sigma_data=0.3))):
        for name in ("snr", "min_snr", "likelihood", "edm"):
            opts = {k: v for k, v in options.items() if k in wt.weighting_defaults(name)}
            w = losses.make_weighting(name, vp, kind, **opts)(t)
            np.testing.assert_allclose(w, want[name] / r2, rtol=1e-10, err_msg=f"{name} {opts}")
        np.testing.assert_array_equal(losses.make_weighting("uniform", vp, kind)(t),
                                      np.ones_like(T))


def test_weight_dtypes(x64):
    vp = VPLinear()
    t32 = jnp.asarray(T, jnp.float32)
    for name in ("uniform", "snr", "min_snr"):
        for kind in ("x0", "eps"):
            w = losses.make_weighting(name, vp, kind)(t32)
            assert w.dtype == jnp.float32, (name, kind, w.dtype)
    # "uniform" gives float weights for integer times (the DDPM step grid), in the default
    # float type.
    w = losses.make_weighting("uniform", vp, "eps")(jnp.arange(3))
    assert w.dtype == jnp.float64 and np.array_equal(w, np.ones(3))


def test_x0_weight_fills_the_defaults(x64):
    """gamma = 5 (Min-SNR-5) and sigma_data = 0.5 when not given, as make_weighting does
    (before this was fixed, x0_weight("min_snr", ...) raised a TypeError)."""
    vp = VPLinear()
    t = jnp.asarray(T)
    want = x0_weights(T)
    for name in ("min_snr", "edm"):
        np.testing.assert_allclose(losses.x0_weight(name, vp, t), want[name], rtol=1e-10)
        np.testing.assert_allclose(losses.make_weighting(name, vp, "x0")(t), want[name],
                                   rtol=1e-10)


def test_weighting_defaults():
    assert wt.weighting_defaults("min_snr") == {"gamma": 5.0}
    assert wt.weighting_defaults("edm") == {"sigma_data": 0.5}
    assert wt.weighting_defaults("uniform") == {} and wt.weighting_defaults("snr") == {}
    d = wt.weighting_defaults("min_snr")
    d["gamma"] = 1.0  # a copy: the registry's defaults are not changed
    assert wt.weighting_defaults("min_snr") == {"gamma": 5.0}


VALID = "['edm', 'likelihood', 'min_snr', 'snr', 'uniform']"


@pytest.mark.parametrize("build, message", [
    (lambda: losses.make_weighting("p2", VPLinear(), "eps"),
     f"make_weighting: unknown weighting 'p2'; valid choices: {VALID}."),
    (lambda: losses.x0_weight("p2", VPLinear(), 0.5),
     f"x0_weight: unknown weighting 'p2'; valid choices: {VALID}."),
    (lambda: wt.weighting_defaults("p2"),
     f"weighting: unknown weighting 'p2'; valid choices: {VALID}."),
    (lambda: wt.weighting_defaults("p2", "here"),
     f"here: unknown weighting 'p2'; valid choices: {VALID}."),
    (lambda: losses.x0_weight("uniform", VPLinear(), 0.5),
     "x0_weight: weighting 'uniform' is defined in the model's own kind space, not in x0 "
     "space; use make_weighting(name, process, kind)."),
    (lambda: losses.x0_weight("min_snr", VPLinear(), 0.5, gama=1.0),
     "x0_weight: weighting 'min_snr': unknown option(s) ['gama']; valid options: ['gamma']."),
    (lambda: losses.x0_weight("edm", VPLinear(), 0.5, sigma_data=-0.5),
     "x0_weight: weighting 'edm': sigma_data must be finite and > 0, got sigma_data=-0.5."),
    (lambda: losses.x0_weight("snr", PFGMPP(D=8.0, data_dim=2), 0.5),
     "weighting 'snr' is for gaussian processes, but PFGMPP is pfgmpp; weighting entries "
     "for pfgmpp processes: []."),
    (lambda: losses.make_weighting("snr", VPLinear(), "noise"),
     "unknown prediction kind 'noise'; valid choices: ['eps', 'x0', 'v', 'score', "
     "'velocity']."),
    (lambda: losses.make_weighting("min_snr", VPLinear(), "eps", gama=1.0),
     "weighting 'min_snr': unknown option(s) ['gama']; valid options: ['gamma']."),
    (lambda: losses.make_weighting("min_snr", VPLinear(), "eps", gamma=-1.0),
     "weighting 'min_snr': gamma must be finite and > 0, got gamma=-1.0."),
    (lambda: losses.make_weighting("edm", VPLinear(), "eps", sigma_data=0.0),
     "weighting 'edm': sigma_data must be finite and > 0, got sigma_data=0.0."),
    (lambda: losses.make_weighting("snr", PFGMPP(D=8.0, data_dim=2), "x0"),
     "weighting 'snr' is for gaussian processes, but PFGMPP is pfgmpp; weighting entries "
     "for pfgmpp processes: []."),
])
def test_weighting_messages_in_full(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


def test_positive_options_are_converted():
    """The checked option value is the one used (a NumPy scalar becomes a float)."""
    vp = VPLinear()
    t = jnp.asarray([0.3])
    a = losses.make_weighting("min_snr", vp, "x0", gamma=np.float32(2.0))(t)
    b = losses.make_weighting("min_snr", vp, "x0", gamma=2.0)(t)
    np.testing.assert_array_equal(a, b)
    jax.block_until_ready(a)
