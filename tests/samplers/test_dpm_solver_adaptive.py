"""Adaptive DPM-Solver-12 / -23: accuracy against the GMM reference at decreasing
tolerances, exact (data-dependent) NFE, reported states at requested times, the
max_steps guard, forward-mode differentiation of the while loop, the
reverse-differentiable ``loop="scan"`` (same trials and results as the while loop,
jax.grad against Richardson-checked finite differences), results pinned to the previous
implementation, option validation and registration (jit/vmap/grad and dtypes:
test_conformance.py)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from oracle import convergence_problem, mixture, reference_endpoint, rms, smooth_sin_model

from diffax.processes import VPLinear
from diffax.samplers import registry
from diffax.samplers.dpm_solver_adaptive import MAX_STEPS, VARIANTS, dpm_solver_adaptive


@pytest.mark.parametrize("order,algorithm", [(2, "dpm_solver"), (3, "dpm_solver++"),
                                             (3, "dpm_solver")])
def test_error_follows_tolerance_and_nfe_is_exact(x64, order, algorithm):
    exact, p, t0, t1, x, ref = convergence_problem()
    model = exact(p)
    tols = (1e-3, 1e-4)
    ts = jnp.array([t0, t1])
    run = jax.jit(lambda x: [dpm_solver_adaptive(model, p, x, ts, order=order,
                                                 algorithm=algorithm, rtol=tol, atol=tol)
                             for tol in tols])
    exact.calls = 0
    outs = run(x)
    jax.block_until_ready(outs)
    jax.effects_barrier()
    errs = [rms(o.x, ref) for o in outs]
    nfes = [int(o.nfe) for o in outs]
    for out, err, tol in zip(outs, errs, tols):
        assert bool(out.success)
        assert err < tol, (errs, nfes)  # observed: 0.55 - 0.9 tol
        assert int(out.nfe) == order * int(out.num_accepted + out.num_rejected)
    assert errs[1] < errs[0] / 3 and nfes[1] > nfes[0], (errs, nfes)
    assert exact.calls == sum(nfes)  # model calls counted at runtime


def test_trajectory_at_requested_times(x64):
    """With three timesteps the solver lands exactly on the middle one (clipping the
    step) and reports the state there; both states match the exact PF-ODE."""
    exact, p, t0, t1, x, ref = convergence_problem()
    gmm = mixture()
    tm = float(p.t_from_log_snr(1.0))
    ref_mid = reference_endpoint(gmm, p, x, t0, tm)
    tol = 1e-4
    out = jax.jit(lambda x: dpm_solver_adaptive(exact(p), p, x, jnp.array([t0, tm, t1]),
                                                rtol=tol, atol=tol,
                                                return_trajectory=True))(x)
    assert out.trajectory.shape == (3,) + x.shape
    np.testing.assert_array_equal(out.trajectory[0], x)
    np.testing.assert_array_equal(out.trajectory[-1], out.x)
    assert rms(out.trajectory[1], ref_mid) < tol
    assert rms(out.x, ref) < tol
    assert bool(out.success)


@pytest.mark.parametrize("loop", ["while", "scan"])
def test_max_steps_guard(x64, loop):
    """When max_steps runs out the output says so (success False) and reports the
    state where the solver stopped, at every time not reached."""
    exact, p, t0, t1, x, ref = convergence_problem()
    tm = float(p.t_from_log_snr(1.0))
    exact.calls = 0
    out = jax.jit(lambda x: dpm_solver_adaptive(exact(p), p, x, jnp.array([t0, tm, t1]),
                                                order=3, max_steps=4, loop=loop,
                                                return_trajectory=True))(x)
    jax.block_until_ready(out)
    jax.effects_barrier()
    assert not bool(out.success)
    assert int(out.num_accepted + out.num_rejected) == 4
    assert int(out.nfe) == 12 == exact.calls
    np.testing.assert_array_equal(out.trajectory[0], x)
    np.testing.assert_array_equal(out.trajectory[1], out.x)
    np.testing.assert_array_equal(out.trajectory[2], out.x)
    assert rms(out.x, ref) > 0.1  # far from the end point: not a usable sample


def test_forward_mode_through_the_while_loop(x64):
    """The default while loop is differentiable in forward mode (jax.jvp) in x_init:
    against central differences (conformance checks reverse mode with loop="scan")."""
    p = VPLinear()
    ts = jnp.array([p.t_max, p.t_min])
    f = jax.jit(lambda x: dpm_solver_adaptive(smooth_sin_model, p, x, ts, order=3, rtol=1e-3,
                                              atol=1e-3).x)
    x = p.prior_sample(jax.random.PRNGKey(0), (3, 2), jnp.float64)
    v = jax.random.normal(jax.random.PRNGKey(3), x.shape, x.dtype)
    tangent = jax.jit(lambda x, v: jax.jvp(f, (x,), (v,))[1])(x, v)
    eps = 1e-6
    fd = (f(x + eps * v) - f(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(tangent, fd, rtol=1e-5, atol=1e-8)


def test_bad_options_raise():
    p = VPLinear()
    x = jnp.ones((2, 2))
    ts = jnp.array([1.0, 0.01])
    fn = functools.partial(dpm_solver_adaptive, smooth_sin_model, p, x, ts)
    with pytest.raises(ValueError, match=r"order must be 2 \(DPM-Solver-12\) or 3"):
        fn(order=1)
    with pytest.raises(ValueError, match="unknown algorithm 'dpmsolver'.*valid choices"):
        fn(algorithm="dpmsolver")
    with pytest.raises(ValueError, match="rtol must be finite and >= 0"):
        fn(rtol=-1.0)
    with pytest.raises(ValueError, match="cannot both be 0"):
        fn(rtol=0.0, atol=0.0)
    with pytest.raises(ValueError, match=r"theta must be finite and in \(0, 1\]"):
        fn(theta=1.5)
    with pytest.raises(ValueError, match="h_init must be finite and > 0"):
        fn(h_init=0.0)
    with pytest.raises(ValueError, match="max_steps must be an integer >= 1"):
        fn(max_steps=0)
    with pytest.raises(ValueError,
                       match=r"unknown loop 'for'; valid choices: \['scan', 'while'\]"):
        fn(loop="for")


def test_scan_loop_equals_while_loop_and_calls_the_model_only_while_running(x64):
    """loop="scan" runs max_steps iterations but calls the model only in the trials
    before the end is reached (lax.cond), with the while loop's trials and results
    (measured: bit-identical x, 2-, 3- and 5-point grids, float32 and float64)."""
    exact, p, t0, t1, x, ref = convergence_problem()
    ts = jnp.array([t0, t1])
    outs, calls = {}, {}
    for loop in ("while", "scan"):
        fn = jax.jit(lambda x: dpm_solver_adaptive(exact(p), p, x, ts, order=3, rtol=1e-4,
                                                   atol=1e-4, max_steps=200, loop=loop))
        exact.calls = 0
        outs[loop] = jax.block_until_ready(fn(x))
        jax.effects_barrier()
        calls[loop] = exact.calls
    w, s = outs["while"], outs["scan"]
    assert bool(w.success) and bool(s.success)
    assert [int(w.nfe), int(w.num_accepted), int(w.num_rejected)] == \
        [int(s.nfe), int(s.num_accepted), int(s.num_rejected)]
    assert calls["scan"] == calls["while"] == int(w.nfe) < 200 * 3
    np.testing.assert_allclose(s.x, w.x, rtol=1e-13, atol=0)
    assert rms(s.x, ref) < 1e-4


# Outputs of the previous implementation (one lax.while_loop per timestep interval inside
# a lax.scan over intervals, before loop="scan" existed), float64, on x_init below:
# (nfe, accepted, rejected, success) and the trajectory after x_init.
PREVIOUS_X_INIT = [[-0.20583769470816435, -0.7847488309148413],
                   [1.8160474577129384, 0.18783995675779472],
                   [0.08086613484857116, -0.3721027583061979]]
PREVIOUS = [
    (dict(order=2, algorithm="dpm_solver", rtol=1e-3, atol=1e-3), (122, 61, 0, True),
     [[[-2.188106603122585, -9.708558506234839], [24.680698768062072, 1.9860207125382745],
       [0.8351676265453178, -4.193567866165536]],
      [[-4.3541750400063, -19.352149646302266], [49.156395062086204, 3.9350141653578814],
       [1.5984943404102678, -8.371056967622565]]]),
    (dict(order=3, algorithm="dpm_solver++", rtol=1e-4, atol=1e-4), (126, 41, 1, True),
     [[[-2.1899052908095484, -9.715356428100533], [24.69581908687887, 1.9876565322951039],
       [0.8358591584904055, -4.196847125553425]],
      [[-4.359039842078092, -19.37020117033572], [49.19968298816726, 3.9394128389550818],
       [1.600021564054203, -8.379570814303197]]]),
    (dict(order=3, algorithm="dpm_solver", rtol=1e-4, atol=1e-4, max_steps=7),
     (21, 7, 0, False),
     [[[-0.4234985914202004, -1.650451463476269], [4.092328163250891, 0.3863585000432444],
       [0.16613540844312097, -0.7685352034950975]],
      [[-0.4234985914202004, -1.650451463476269], [4.092328163250891, 0.3863585000432444],
       [0.16613540844312097, -0.7685352034950975]]]),
]


@pytest.mark.parametrize("loop", ["while", "scan"])
def test_results_equal_the_previous_implementation(x64, loop):
    """Same trials and states as before the loop was rewritten. Measured difference: 0
    (bit-identical); rtol 1e-12 leaves room only for a different XLA fusion."""
    p = VPLinear()
    x = jnp.array(PREVIOUS_X_INIT, jnp.float64)
    ts = jnp.array([p.t_max, 0.5, p.t_min])
    for options, counts, traj in PREVIOUS:
        out = jax.jit(lambda x: dpm_solver_adaptive(smooth_sin_model, p, x, ts, loop=loop,
                                                    return_trajectory=True, **options))(x)
        assert (int(out.nfe), int(out.num_accepted), int(out.num_rejected),
                bool(out.success)) == counts, options
        np.testing.assert_allclose(out.trajectory[1:], traj, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(out.trajectory[0], x)


def test_reverse_mode_gradient_matches_finite_differences(x64):
    """jax.grad (loop="scan") of a scalar function of the trajectory w.r.t. x_init and a
    model parameter, against central differences D(h) along a direction. D(h) has error
    c h^2 + O(h^4), so |D(2h) - D(h)| / 3 estimates it and (4 D(h) - D(2h)) / 3
    (Richardson) removes it. Measured at h = 5e-4: |grad - D(h)| = 1.0001 (x) and 1.0005
    (w) times the estimate, |grad - Richardson| = 8e-5 (x) and 5e-4 (w) times it
    (estimates 1.3e-5 and 5.3e-4, far above the ~1e-10 rounding of D(h)); the perturbed
    runs take the same trials, so the function is smooth there."""
    p = VPLinear()
    x = p.prior_sample(jax.random.PRNGKey(0), (4, 2), jnp.float64)
    ts = jnp.array([p.t_max, 0.5, p.t_min])
    c = jax.random.normal(jax.random.PRNGKey(1), (2, 4, 2), jnp.float64)
    w0 = jnp.array([0.3, 0.1])

    def run(x, w):
        model = lambda y, t: w[0] * y + w[1] * jnp.sin(y) * t[:, None]  # noqa: E731
        return dpm_solver_adaptive(model, p, x, ts, order=3, rtol=1e-3, atol=1e-3,
                                   max_steps=100, loop="scan", return_trajectory=True)

    def loss(x, w):
        return jnp.sum(run(x, w).trajectory[1:] * c)

    gx, gw = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, w0)
    run_j = jax.jit(run)
    base = run_j(x, w0)
    assert bool(base.success) and int(base.num_rejected) > 0  # rejections are crossed

    h = 5e-4  # w0 + 2e-3 u already drops a rejected trial
    v = jax.random.normal(jax.random.PRNGKey(2), x.shape, x.dtype)
    u = jnp.array([0.6, -0.8])
    for ad, point in [(jnp.vdot(gx, v), lambda e: (x + e * v, w0)),
                      (jnp.vdot(gw, u), lambda e: (x, w0 + e * u))]:
        def value(e):
            out = run_j(*point(e))
            # same trials as at e = 0: no accept/reject decision flipped
            assert (int(out.num_accepted), int(out.num_rejected)) == \
                (int(base.num_accepted), int(base.num_rejected)), e
            return float(jnp.sum(out.trajectory[1:] * c))

        d1, d2 = ((value(e) - value(-e)) / (2 * e) for e in (h, 2 * h))
        trunc = abs(d2 - d1) / 3
        assert trunc > 1e-12 * abs(d1)
        assert abs(float(ad) - d1) < 1.5 * trunc, (float(ad), d1, d2)
        assert abs(float(ad) - (4 * d1 - d2) / 3) < 0.02 * trunc, (float(ad), d1, d2)


def test_while_loop_has_no_reverse_mode():
    """The default loop is forward-mode only (documented); loop="scan" is the way."""
    p = VPLinear()
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        jax.grad(lambda x: dpm_solver_adaptive(smooth_sin_model, p, x, jnp.array([1.0, 0.01]))
                 .x.sum())(jnp.ones((2, 2)))


def test_registered_as_adaptive():
    """Selectable by name; the NFE budget does not apply (one reporting interval) and
    ``nfe(N)`` is the bound of the default max_steps."""
    assert VARIANTS == {"dpm_solver_adaptive_12": {"order": 2},
                        "dpm_solver_adaptive_23": {"order": 3}}
    for name, options in VARIANTS.items():
        info = registry.sampler_info(name)
        assert info.fn is dpm_solver_adaptive and info.adaptive and info.options == options
        assert info.steps_for_nfe(10) == 1 and info.nfe(1) == options["order"] * MAX_STEPS
    with pytest.raises(ValueError, match="use 'dpm_solver_adaptive_23'"):
        registry.get_sampler("dpm_solver_adaptive_12", order=3)
