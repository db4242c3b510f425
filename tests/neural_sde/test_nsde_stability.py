"""The stability properties of the three classes, by Monte Carlo against closed forms.

Every bound is 4 standard errors of the Monte Carlo mean (plus the analytic
discretisation bias where the scheme is not exact), and each test also checks that
the bound is tight enough to reject the nearest wrong answer.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.neural_sde import make_sde, solve

N = 4000


def _run(sde, z0, *, steps, solver="euler", save="final", t1=1.0, seed=0):
    f = jax.jit(lambda z, k: solve(sde, z, k, steps=steps, solver=solver, save=save, t1=t1))
    return np.asarray(f(jnp.asarray(z0, jnp.float32), jax.random.key(seed)), np.float64)


def test_gsde_positive_and_log_drift_is_ito_corrected():
    g, s, z0 = 0.3, 0.8, 2.0
    sde = make_sde("gsde", lambda t, z: jnp.full_like(z, g), lambda t: s)
    zt = _run(sde, np.full(N, z0), steps=10)
    assert (zt > 0).all()
    logs = np.log(zt)
    se = logs.std() / math.sqrt(N)
    expected = math.log(z0) + (g - s * s / 2)
    assert abs(logs.mean() - expected) < 4 * se
    assert 4 * se < 0.5 * (s * s / 2)           # the uncorrected drift would fail
    assert abs(logs.std() - s) < 4 * s / math.sqrt(2 * N)


def test_gsde_direct_matches_log_mode_with_fine_steps_but_not_coarse():
    g, s, z0 = 0.3, 0.8, 2.0
    sde = make_sde("gsde", lambda t, z: jnp.full_like(z, g), lambda t: s, geometric="direct")
    logs = np.log(_run(sde, np.full(N, z0), steps=100))
    se = logs.std() / math.sqrt(N)
    assert abs(logs.mean() - (math.log(z0) + g - s * s / 2)) < 4 * se + 0.01
    # Euler-Maruyama on z itself crosses 0 when sigma sqrt(dt) is large; log mode cannot.
    wild = dict(gamma=lambda t, z: jnp.zeros_like(z), sigma=lambda t: 2.0)
    direct = _run(make_sde("gsde", **wild, geometric="direct"), np.ones(N), steps=2)
    logged = _run(make_sde("gsde", **wild), np.ones(N), steps=2)
    assert (direct <= 0).mean() > 0.1
    assert (logged > 0).all()


def test_gsde_log_mode_refuses_nonpositive_start():
    sde = make_sde("gsde", lambda t, z: z, lambda t: 0.1)
    with pytest.raises(ValueError, match="z_0 > 0"):
        solve(sde, jnp.array([1.0, 0.0]), jax.random.key(0), steps=2)


@pytest.mark.parametrize("solver,bias", [("euler", 0.0), ("milstein", 0.0),
                                         ("reversible_heun", 0.03)])
def test_lnsde_zero_drift_is_martingale_with_fixed_point_zero(solver, bias):
    z0 = 1.5
    sigma = lambda t: 0.4 + 0.4 * t  # noqa: E731
    sde = make_sde("lnsde", lambda t, z: jnp.zeros_like(z), sigma)
    start = np.full(N, z0)
    start[:100] = 0.0
    zt = _run(sde, start, steps=40, solver=solver)
    assert (zt[:100] == 0.0).all()
    moving = zt[100:]
    se = moving.std() / math.sqrt(moving.size)
    assert abs(moving.mean() - z0) < 4 * se + bias
    # Reading the SDE as Stratonovich would give E z_T = z0 exp(int sigma^2 / 2).
    strat = z0 * math.exp(0.5 * 0.16 * (1 + 1 + 1 / 3))
    assert abs(strat - z0) > 2 * (4 * se + bias)


def test_lsde_ou_second_moment_matches_closed_form():
    theta, s, z0, t1, steps = 2.0, 1.0, 2.0, 2.0, 200
    sde = make_sde("lsde", lambda t, z: -theta * z, lambda t: s)
    zs = _run(sde, np.full(N, z0), steps=steps, save="grid", t1=t1)
    t = np.linspace(0, t1, steps + 1)
    dt = t1 / steps
    exact = z0**2 * np.exp(-2 * theta * t) + s**2 / (2 * theta) * (1 - np.exp(-2 * theta * t))
    # Euler-Maruyama's own second moment (exact for the scheme): the discretisation bias.
    a = 1 - theta * dt
    n = np.arange(steps + 1)
    scheme = z0**2 * a ** (2 * n) + s**2 * dt * (1 - a ** (2 * n)) / (1 - a**2)
    m2 = (zs**2).mean(axis=1)
    se = (zs**2).std(axis=1) / math.sqrt(N)
    bias = np.abs(scheme - exact)
    for i in (25, 50, 100, 200):
        assert abs(m2[i] - exact[i]) < 4 * se[i] + bias[i], (t[i], m2[i], exact[i])
    stationary = s**2 / (2 * theta)
    assert abs(zs[-1].var() - stationary) < 4 * stationary * math.sqrt(2 / N) + bias[-1]
    assert (m2 <= max(z0**2, stationary) + 4 * se.max()).all()          # bounded
    assert bias[-1] < 0.01


def test_lsde_synchronous_coupling_contracts_whatever_the_noise():
    """Robustness (same Brownian path, LSDE with a theta-contractive drift): two starts
    and two input paths differ at T by at most exp(-theta T)|dz0| + sup|d input|/theta,
    pathwise, because the additive noise cancels."""
    theta, steps, n = 1.5, 50, 1000

    @jax.jit
    def coupled(z0, amp, key):
        sde = make_sde("lsde", lambda t, z: -theta * z + jnp.tanh(
            jnp.sin(6.0 * t) + amp * jnp.cos(3.0 * t)), lambda t: 0.9)
        return solve(sde, z0, key, steps=steps)

    key = jax.random.key(3)
    a = np.asarray(coupled(jnp.zeros(n), 0.0, key))
    b = np.asarray(coupled(jnp.full(n, 0.7), 0.2, key))
    c = np.asarray(coupled(jnp.full(n, 0.7), 0.0, key))
    assert (a != 0).all()                          # additive noise: 0 is not a fixed point
    bound = math.exp(-theta) * 0.7 + 0.2 / theta
    assert (np.abs(a - b) <= bound).all()
    # Same input, different starts: the gap is the deterministic (1 - theta dt)^n gap.
    np.testing.assert_allclose(c - a, 0.7 * (1 - theta / steps) ** steps, rtol=1e-4)

    # Multiplicative noise (LNSDE) does not cancel: the gap is random.
    @jax.jit
    def linear_noise(z0, key):
        return solve(make_sde("lnsde", lambda t, z: -theta * z, lambda t: 0.9), z0, key,
                     steps=steps)

    gap = np.asarray(linear_noise(jnp.full(n, 1.7), key) - linear_noise(jnp.ones(n), key))
    assert gap.std() > 0.05
