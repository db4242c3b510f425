"""Adaptive DPM-Solver-12/-23 against a by-hand NumPy transcription of Lu et al. (2022),
Algorithm 4, written for the mutation run of ``diffax/samplers/dpm_solver_adaptive.py``
(docs/testing.md). The earlier tests pin the controller through the model-call times of
DPM-Solver-12 on a model that ignores x, and the states through outputs recorded from an
earlier implementation; here every state, count and reported time is compared with the
transcription, for both orders and both parameterizations, on an x-dependent model, a
batch whose examples need different steps, and a grid of three reporting times.

The transcription and its equations are in dpm_solver_by_hand.py.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dpm_solver_by_hand as H
from linear_step_problem import not_decreasing_message
from diffax.samplers import exponential_integrators as ei
from diffax.samplers.dpm_solver_adaptive import _check, _safe_sqrt, dpm_solver_adaptive

P = H.P

X0 = np.array([[0.4, -1.1, 0.7], [6.0, -3.0, 4.5]])  # the second example needs smaller steps
TS = [float(P.t_max), 0.6, 0.1]


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("algorithm,kind", [("dpm_solver", "eps"), ("dpm_solver++", "x0")])
def test_trials_states_and_counts_follow_algorithm_4(x64, order, algorithm, kind):
    """The paper's defaults (nothing passed but order and algorithm)."""
    want, trials, accepted = H.algorithm4(kind, order, X0, TS)
    model = functools.partial(H.x_dependent_model, xp=jnp)
    out = jax.jit(lambda x: dpm_solver_adaptive(model, P, x, jnp.asarray(TS), prediction=kind,
                                                order=order, algorithm=algorithm,
                                                return_trajectory=True))(jnp.asarray(X0))
    # rejections are crossed (measured: 1, 8 and 5 of 13, 30 and 15 trials; none for
    # DPM-Solver-23 with noise prediction, 10 trials)
    assert trials - accepted > 0 or (order, kind) == (3, "eps")
    assert (int(out.nfe), int(out.num_accepted), int(out.num_rejected), bool(out.success)) \
        == (order * trials, accepted, trials - accepted, True)
    np.testing.assert_allclose(np.asarray(out.trajectory), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(out.x), np.asarray(out.trajectory[-1]))


@pytest.mark.parametrize("loop", ["while", "scan"])
def test_non_default_options_follow_algorithm_4(x64, loop):
    """rtol, atol, h_init, theta and max_steps all reach the controller; the scan loop
    takes the same trials; a run that stops early repeats its state at later times."""
    opts = dict(rtol=0.02, atol=0.003, h_init=0.2, theta=0.7)
    model = functools.partial(H.x_dependent_model, xp=jnp)
    # n0 + 3 trials stop inside the second interval, after the state at TS[1] was
    # reported (a stop inside the first: test_max_steps_guard)
    n0 = H.algorithm4("eps", 3, X0, TS[:2], **opts)[1]
    for max_steps in (1000, n0 + 3):
        want, trials, accepted = H.algorithm4("eps", 3, X0, TS, max_steps=max_steps, **opts)
        out = jax.jit(lambda x: dpm_solver_adaptive(model, P, x, jnp.asarray(TS), order=3,
                                                    max_steps=max_steps, loop=loop,
                                                    return_trajectory=True, **opts)
                      )(jnp.asarray(X0))
        assert (int(out.nfe), int(out.num_accepted), int(out.num_rejected)) == \
            (3 * trials, accepted, trials - accepted)
        assert bool(out.success) == (max_steps == 1000)
        assert max_steps == 1000 or trials == max_steps
        if max_steps == n0 + 3:  # it moved inside the second interval before stopping
            assert np.max(np.abs(want[2] - want[1])) > 1e-3
        # stopped early: the times not reached repeat the last state (so does the
        # transcription)
        np.testing.assert_allclose(np.asarray(out.trajectory), want, rtol=1e-10, atol=1e-12)


def test_float32_state_under_x64_stays_float32(x64):
    model = functools.partial(H.x_dependent_model, xp=jnp)
    out = dpm_solver_adaptive(model, P, jnp.asarray(X0, jnp.float32), jnp.asarray(TS),
                              order=2, return_trajectory=True)
    assert out.x.dtype == out.trajectory.dtype == jnp.float32
    want, _, _ = H.algorithm4("eps", 2, X0, TS)
    np.testing.assert_allclose(np.asarray(out.trajectory), want, rtol=2e-3, atol=2e-3)


def test_safe_sqrt_values_and_zero_gradient_at_zero(x64):
    a = jnp.array([0.0, 0.25, 4.0, 1e-300])
    np.testing.assert_array_equal(np.asarray(_safe_sqrt(a)), [0.0, 0.5, 2.0, 1e-150])
    g = jax.grad(lambda a: jnp.sum(_safe_sqrt(a)))(a)
    np.testing.assert_allclose(np.asarray(g), [0.0, 1.0, 0.25, 0.5e150], rtol=1e-15)


def _message(**options):
    fn = functools.partial(dpm_solver_adaptive, lambda x, t: x, P, jnp.ones((2, 2)),
                           jnp.array([1.0, 0.01]))
    with pytest.raises(ValueError) as e:
        fn(**options)
    return str(e.value)


def test_every_option_check_with_its_message():
    n = "dpm_solver_adaptive"
    assert _message(order=1) == (f"{n}: order must be 2 (DPM-Solver-12) or 3 "
                                 "(DPM-Solver-23), got order=1.")
    assert _message(order=4).endswith("got order=4.")
    assert _message(algorithm="x") == (f"{n}: unknown algorithm 'x'; valid choices: "
                                       "['dpm_solver', 'dpm_solver++'].")
    assert _message(rtol=-1.0) == f"{n}: rtol must be finite and >= 0.0, got rtol=-1.0."
    assert _message(atol=-1.0) == f"{n}: atol must be finite and >= 0.0, got atol=-1.0."
    assert _message(rtol=0.0, atol=0.0) == f"{n}: rtol and atol cannot both be 0."
    assert _message(h_init=0.0) == f"{n}: h_init must be finite and > 0, got h_init=0.0."
    for theta in (0.0, 1.5):
        assert _message(theta=theta) == (f"{n}: theta must be finite and in (0, 1], "
                                         f"got theta={theta}.")
    assert _message(max_steps=0) == (f"{n}: max_steps must be an integer >= 1, "
                                     "got max_steps=0.")
    assert _message(loop="for") == (
        f"{n}: unknown loop 'for'; valid choices: ['scan', 'while'] (while: lax.while_loop: "
        "fastest, forward-mode differentiation only; scan: lax.scan over max_steps: "
        "reverse-mode differentiable (jax.grad)).")
    # the edges that are allowed: one tolerance 0, theta = 1, one trial (the checks alone)
    base = dict(order=3, algorithm="dpm_solver", rtol=0.05, atol=0.0078, h_init=0.05,
                theta=0.9, max_steps=1000, loop="while")
    for ok in (dict(rtol=0.0), dict(atol=0.0), dict(theta=1.0), dict(max_steps=1),
               dict(order=2, algorithm="dpm_solver++", loop="scan")):
        assert _check(**{**base, **ok}) is None


def test_defaults_order_3_noise_prediction_no_trajectory(x64):
    """Called with nothing but the model, process, x and times: DPM-Solver-23 with noise
    prediction, and no trajectory."""
    model = functools.partial(H.x_dependent_model, xp=jnp)
    out = dpm_solver_adaptive(model, P, jnp.asarray(X0), jnp.asarray(TS))
    want, trials, accepted = H.algorithm4("eps", 3, X0, TS)
    assert out.trajectory is None
    assert (int(out.nfe), int(out.num_accepted)) == (3 * trials, accepted)
    np.testing.assert_allclose(np.asarray(out.x), want[-1], rtol=1e-10, atol=1e-12)


def test_timesteps_message_names_the_sampler():
    with pytest.raises(ValueError) as e:
        dpm_solver_adaptive(lambda x, t: x, P, jnp.ones((2, 2)), jnp.array([0.5, 0.9]))
    assert str(e.value) == not_decreasing_message("dpm_solver_adaptive", "[0.5 0.9]")


def test_cond_reaches_the_model(x64):
    """m(x, t; shift) = m(x, t) + shift, through ``cond``."""
    shift = 0.25

    def model(x, t, shift):
        return H.x_dependent_model(x, t, jnp) + shift

    want, trials, _ = H.algorithm4("eps", 2, X0, TS,
                                   model=lambda x, t, xp: H.x_dependent_model(x, t, xp) + shift)
    out = dpm_solver_adaptive(model, P, jnp.asarray(X0), jnp.asarray(TS), order=2,
                              cond={"shift": shift})
    assert int(out.nfe) == 2 * trials
    np.testing.assert_allclose(np.asarray(out.x), want[-1], rtol=1e-10, atol=1e-12)


def test_an_empty_interval_takes_no_trial(x64):
    """0.22 and the next float64 below it have the same lambda (measured): the interval
    between them is skipped (no trial), and its end reports the state at 0.22."""
    t_a = 0.22
    t_b = float(np.nextafter(t_a, 0.0))
    assert H.lam(t_a) == H.lam(t_b)
    ts = [float(P.t_max), t_a, t_b, 0.1]
    want, trials, accepted = H.algorithm4("eps", 2, X0, ts)
    model = functools.partial(H.x_dependent_model, xp=jnp)
    out = dpm_solver_adaptive(model, P, jnp.asarray(X0), jnp.asarray(ts), order=2,
                              return_trajectory=True)
    assert (int(out.nfe), int(out.num_accepted), bool(out.success)) == \
        (2 * trials, accepted, True)
    np.testing.assert_allclose(np.asarray(out.trajectory), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(np.asarray(out.trajectory[1]),
                                  np.asarray(out.trajectory[2]))


def test_a_step_equal_to_the_rest_lands_on_the_end_time(x64):
    """h = lambda_end - lambda_s exactly takes the end time itself (h >= remaining), not
    t(lambda_s + h): at t_end = 0.7, lambda(t(lambda_end)) is 9e-16 below lambda_end in
    the compiled loop (measured; at 0.6 it is exact there), which would leave a sliver of
    the interval and cost a second trial. A constant model makes x_high = x_low, so the
    trial is accepted."""
    ts = jnp.asarray([1.0, 0.7])
    lam = ei.half_log_snr(P, ts)
    h = float(lam[1] - lam[0])
    roundtrip = jax.jit(lambda l0, h: ei.half_log_snr(P, ei.t_from_half_log_snr(P, l0 + h)))
    assert float(roundtrip(lam[0], h)) < float(lam[1])
    out = dpm_solver_adaptive(lambda x, t: jnp.full_like(x, 0.3), P, jnp.asarray(X0), ts,
                              order=2, h_init=h)
    assert (int(out.nfe), int(out.num_accepted), bool(out.success)) == (2, 1, True)
    A, c1, _ = H.coefs("eps", 1.0, 0.7)
    np.testing.assert_allclose(np.asarray(out.x), A * X0 + c1 * 0.3, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loop", ["while", "scan"])
def test_float64_state_with_float32_times_and_integer_counts(x64, loop):
    """Under x64, float64 samples on a float32 grid: the step size keeps the grid's dtype
    through the loop (a float64 step would change the loop carry's type), and the counts
    are int32 arrays."""
    model = functools.partial(H.x_dependent_model, xp=jnp)
    ts32 = jnp.asarray(TS, jnp.float32)
    out = dpm_solver_adaptive(model, P, jnp.asarray(X0), ts32, order=2, loop=loop,
                              max_steps=200)
    assert out.x.dtype == jnp.float64
    assert out.nfe.dtype == out.num_accepted.dtype == out.num_rejected.dtype == jnp.int32
    want, trials, _ = H.algorithm4("eps", 2, X0, [float(t) for t in np.asarray(ts32)])
    assert int(out.nfe) == 2 * trials
    np.testing.assert_allclose(np.asarray(out.x), want[-1], rtol=1e-4, atol=1e-5)


def test_noise_model_under_data_prediction(x64):
    """A noise-prediction model run with DPM-Solver++: converted to
    x0 = (x - sigma_t eps) / alpha_t with the process before the trials."""
    def x0_model(x, t, xp):
        s = float(t[0])
        return (x - H.as_float(P.sigma, s) * H.x_dependent_model(x, t, np)) / H.as_float(P.alpha, s)

    want, trials, _ = H.algorithm4("x0", 2, X0, TS, model=x0_model)
    out = dpm_solver_adaptive(functools.partial(H.x_dependent_model, xp=jnp), P, jnp.asarray(X0),
                              jnp.asarray(TS), order=2, algorithm="dpm_solver++")
    assert int(out.nfe) == 2 * trials
    np.testing.assert_allclose(np.asarray(out.x), want[-1], rtol=1e-9, atol=1e-12)
