"""``diffax/samplers/reference.py`` (the adaptive diffrax PF-ODE solve, Tsit5/Dopri5/Dopri8
with a PID controller; Kidger 2021) against the closed-form flow map of Gaussian data,
written for its mutation run (docs/testing.md).

Data N(mu, diag(l)) in 2-D: on a Gaussian process x_t = alpha_t x0 + sigma_t eps the
marginal variance per coordinate is c_t = alpha_t^2 l + sigma_t^2, the exact eps
prediction sigma_t (x - alpha_t mu) / c_t, the PF-ODE velocity
f_t x + g_t^2 (x - alpha_t mu) / (2 c_t) and its flow map from s to t
x_t = alpha_t mu + sqrt(c_t / c_s) (x_s - alpha_s mu) (Song et al. 2021, eq. 13, solved
in closed form for Gaussian data), all transcribed in NumPy below, on VP-linear
(beta 0.1 to 20).

Float64. Every default (eps prediction, Tsit5, rtol = atol = 1e-7, the sampler's
max_steps) is exercised by a run; tolerances are stated at each check. Each diffrax solve
compiles for about 2 s, so this file runs two (and one that runs out of steps); the
piecewise schedules' kinks, the other solvers, the sampler's trajectory and its
max_steps flag are checked by test_reference.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ddim_sde_by_hand as H
from linear_step_problem import float64, not_decreasing_message, refusal
from diffax.processes import VPLinear
from diffax.samplers import reference as mod

P = VPLinear()
MU = np.array([0.5, -1.0])
L = np.array([0.6, 0.3])
X = np.array([[0.3, -1.2], [2.0, 0.1], [-0.7, 0.9]])
TS = np.array([0.9, 0.6, 0.3, 0.05])


# ---- the Gaussian problem: the model (JAX) and the exact flow (NumPy) --------------------

def eps_model(process, mu=MU):
    def f(x, t):
        t = jnp.reshape(t, (-1, 1))
        a, s = process.alpha(t), process.sigma(t)
        return s * (x - a * mu) / (a**2 * L + s**2)
    return f


def eps_model_needing_mu(process):
    def f(x, t, *, mu):
        return eps_model(process, mu)(x, t)
    return f


def x0_model_needing_mu(process):
    def f(x, t, *, mu):
        e = eps_model(process, mu)(x, t)
        t = jnp.reshape(t, (-1, 1))
        return (x - process.sigma(t) * e) / process.alpha(t)
    return f


def flow(x, s, t, alpha=H.alpha):
    c = lambda u: alpha(u) ** 2 * L + 1.0 - alpha(u) ** 2  # noqa: E731  (VP: sigma^2 = 1 - alpha^2)
    return alpha(t) * MU + np.sqrt(c(t) / c(s)) * (x - alpha(s) * MU)


def flows(x, ts, alpha=H.alpha):
    return np.stack([flow(x, ts[0], t, alpha) for t in ts])


# ---- two solves (one compile each, about 2 s apiece on the loaded 2-core machine) ---------

@pytest.fixture(scope="module")
def runs():
    with float64():
        x, cond = jnp.asarray(X), {"mu": jnp.asarray(MU)}
        out = {}
        # every default but the saved times (Tsit5, rtol = atol = 1e-7, eps prediction)
        out["ref"] = mod.pf_ode_reference(eps_model_needing_mu(P), P, x, TS[0], TS[-1],
                                          ts_save=jnp.asarray(TS), cond=cond)
        # every default (no trajectory, max_steps = MAX_STEPS)
        out["sampler"] = mod.diffrax_pf_ode(eps_model_needing_mu(P), P, x,
                                            jnp.asarray([1.0, 0.5, P.t_min]), cond=cond)
        out = jax.tree_util.tree_map(np.asarray, out)
    return out


def test_reference_defaults(runs):
    """Tsit5, rtol = atol = 1e-7, eps: every saved state to the closed form within 2e-6
    (the global error, measured 3.5e-7 in 16 steps; rtol or atol 1 would give ~1e-2)."""
    r = runs["ref"]
    want = flows(X, TS, H.alpha)
    np.testing.assert_allclose(r.trajectory, want, rtol=0, atol=2e-6)
    np.testing.assert_allclose(r.x, want[-1], rtol=0, atol=2e-6)
    assert r.trajectory.shape == (4, 3, 2) and int(r.num_steps) > 5


def test_sampler_defaults(runs):
    """The same defaults; NFE = 6 per Tsit5 step (FSAL) + 1; no trajectory. The final
    state within 2e-6 (measured 1.0e-7, 14 accepted and 6 rejected steps)."""
    s = runs["sampler"]
    np.testing.assert_allclose(s.x, flow(X, 1.0, P.t_min), rtol=0, atol=2e-6)
    steps = int(s.num_accepted) + int(s.num_rejected)
    assert s.nfe.dtype == np.int32 and int(s.nfe) == 6 * steps + 1 and steps > 5
    assert bool(s.success) and s.trajectory is None and s.x.dtype == np.float64


def test_velocity_and_refusals():
    with float64():
        x, t = jnp.asarray(X), 0.4
        a, b = H.alpha(t), H.beta(t)
        c = a**2 * L + H.sigma(t) ** 2
        want = -0.5 * b * X + 0.5 * b * (X - a * MU) / c  # f = -beta/2, g^2 = beta
        np.testing.assert_allclose(np.asarray(mod.pf_ode_velocity(eps_model(P), P)(x, t)),
                                   want, rtol=1e-12)
        v = mod.pf_ode_velocity(x0_model_needing_mu(P), P, "x0", {"mu": jnp.asarray(MU)})
        np.testing.assert_allclose(np.asarray(v(x, t)), want, rtol=1e-12)
        v = mod.pf_ode_velocity(x0_model_needing_mu(P), P, prediction="x0",
                                cond={"mu": jnp.asarray(MU)})
        np.testing.assert_allclose(np.asarray(v(x, t)), want, rtol=1e-12)
    msg = "unknown solver 'rk4'; valid choices: ['dopri5', 'dopri8', 'tsit5']."
    x = jnp.ones((2, 2))
    assert refusal(mod.pf_ode_reference, eps_model(P), P, x, 1.0, 0.1, solver="rk4") == (
        "pf_ode_reference: " + msg)
    assert refusal(mod.diffrax_pf_ode, eps_model(P), P, x, jnp.asarray([1.0, 0.1]),
                   solver="rk4") == "pf_ode_reference: " + msg
    grid = np.array([0.1, 1.0], np.float32)
    assert refusal(mod.diffrax_pf_ode, eps_model(P), P, x, jnp.asarray(grid)) == (
        not_decreasing_message("diffrax_pf_ode", grid))


def test_reference_raises_when_out_of_steps():
    """pf_ode_reference throws (diffrax's max_steps error); the sampler reports instead.
    Without ``ts_save`` there is no trajectory (traced only: ``eval_shape`` compiles
    nothing)."""
    with float64():
        out = jax.eval_shape(lambda x: mod.pf_ode_reference(eps_model(P), P, x, 1.0, P.t_min),
                             jnp.asarray(X))
        assert out.trajectory is None and out.x.shape == (3, 2)
        with pytest.raises(Exception, match="max_steps"):
            jax.block_until_ready(mod.pf_ode_reference(eps_model(P), P, jnp.asarray(X), 1.0,
                                                       P.t_min, max_steps=2).x)
