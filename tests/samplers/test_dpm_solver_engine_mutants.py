"""The DPM-Solver engine (``diffax/samplers/dpm_solver_engine.py``) against NumPy
transcriptions of the papers' update rules, written for its mutation run (docs/testing.md):

* singlestep DPM-Solver-k (Lu et al., 2022a, "DPM-Solver", Algorithms 1-2; data
  prediction: Lu et al., 2022b, "DPM-Solver++", Algorithm 1), with stages at
  lambda_s + r_j h, for r1/r2 other than the defaults (the earlier tests use the defaults
  or check only the convergence order):
      u1 = A_1 x + c1_1 m,  x_2 = A x + c1 m + c1/(2 r1) (m(u1) - m),
      u2 = A_2 x + c1_2 m + (r2/r1) c2_2 (m(u1) - m),  x_3 = A x + c1 m + c2/r2 (m(u2) - m),
  with (A, c1, c2) of the step in closed form (tests/samplers/dpm_solver_by_hand.py);
* DPM-Solver-fast (2022a, Sec. 3.4): the order sequence for every budget, and steps from
  t_c to t_{c+k} with their stages at the grid times in between;
* multistep 2M/3M (2022b, Algorithm 2 and its third-order analogue) with warm-up and
  ``lower_order_final``: x_{i+1} = A x_i + c1 m_i + c2 D1 + c3 D2 (divided differences on
  the lambda grid, the docstring of ``exponential_integrators.multistep_weights``).

An x-dependent model (its output depends on the stage state, so a wrong stage state
shows) on VP-linear, in float64. Tolerance rtol 1e-10: JAX's float64 and NumPy's differ by
rounding only (measured: at most 5.4e-14 relative here).
"""

import functools

import numpy as np
import jax.numpy as jnp
import pytest

import dpm_solver_by_hand as H
from diffax.samplers import dpm_solver_engine as engine

RTOL = 1e-10
X0 = np.array([[0.7, -1.2, 0.3], [-0.4, 0.9, 1.5]])


def model(x, t, xp=np):
    return H.x_dependent_model(x, t, xp)


def jmodel(x, t):
    """The engine's ``f(x, t)``: one time for the batch (a scalar) or one per example."""
    t = jnp.broadcast_to(jnp.asarray(t), (x.shape[0],))
    return H.x_dependent_model(x, t, jnp)


def m_at(x, t):
    return model(x, np.full(x.shape[0], t))


# ---- by-hand transcriptions ----------------------------------------------------------

def phis(z):
    """phi_1..3 (exponential-integrator functions), phi_{k+1} = (phi_k - 1/k!)/z."""
    p1 = np.expm1(z) / z
    p2 = (p1 - 1.0) / z
    return p1, p2, (p2 - 0.5) / z


@functools.lru_cache(maxsize=None)
def lam(t):
    return H.lam(float(t))


@functools.lru_cache(maxsize=None)
def coefs3(param, s, t):
    """(A, c1, c2, c3) of the step s -> t: c_k = -sigma_t h phi_k(h) (noise prediction),
    alpha_t h phi_k(-h) (data prediction)."""
    s, t = float(s), float(t)
    h = lam(t) - lam(s)
    a_s, a_t = H.as_float(H.P.alpha, s), H.as_float(H.P.alpha, t)
    s_s, s_t = H.as_float(H.P.sigma, s), H.as_float(H.P.sigma, t)
    if param == "eps":
        return (a_t / a_s,) + tuple(-s_t * h * p for p in phis(h))
    return (s_t / s_s,) + tuple(a_t * h * p for p in phis(-h))


def singlestep_by_hand(param, order, x, s, t, stage_times):
    """(x_next, x_lower, stages) of one step s -> t with stages at ``stage_times``."""
    A, c1, c2, _ = coefs3(param, s, t)
    h = lam(t) - lam(s)
    m = m_at(x, s)
    first = A * x + c1 * m
    if order == 1:
        return first, first, []
    s1 = stage_times[0]
    r1 = (lam(s1) - lam(s)) / h
    A1, c11, _, _ = coefs3(param, s, s1)
    u1 = A1 * x + c11 * m
    m1 = m_at(u1, s1)
    second = first + c1 / (2 * r1) * (m1 - m)
    if order == 2:
        return second, first, [u1]
    s2 = stage_times[1]
    r2 = (lam(s2) - lam(s)) / h
    A2, c12, c22, _ = coefs3(param, s, s2)
    u2 = A2 * x + c12 * m + (r2 / r1) * c22 * (m1 - m)
    m2 = m_at(u2, s2)
    return first + c2 / r2 * (m2 - m), second, [u1, u2]


def multistep_by_hand(param, order, x, ts, lower_order_final, taylor=True):
    """Every state of multistep DPM-Solver-``order`` on ``ts``."""
    n = len(ts) - 1
    hs = [lam(ts[i + 1]) - lam(ts[i]) for i in range(n)]
    ms, traj = [], [x]
    for i in range(n):
        k = min(order, i + 1)
        if lower_order_final and n < 10:
            k = min(k, n - i)
        A, c1, c2, c3 = coefs3(param, ts[i], ts[i + 1])
        ms.insert(0, m_at(x, ts[i]))
        x_next = A * x + c1 * ms[0]
        if k == 2:
            r0 = hs[i - 1] / hs[i]
            x_next = x_next + c1 / (2 * r0) * (ms[0] - ms[1])
        elif k == 3:
            r0, r1 = hs[i - 1] / hs[i], hs[i - 2] / hs[i]
            d10, d11 = (ms[0] - ms[1]) / r0, (ms[1] - ms[2]) / r1
            d1 = d10 + r0 / (r0 + r1) * (d10 - d11)
            d2 = (2.0 if taylor else 1.0) * (d10 - d11) / (r0 + r1)
            x_next = x_next + c2 * d1 + c3 * d2
        x = x_next
        traj.append(x)
    return np.stack(traj)


# ---- tests (the cheap ones first: the mutation runner stops at the first failure) ----

def _refusal(**kw):
    with pytest.raises(ValueError) as e:
        engine.check_solver_options("nm", **kw)
    return str(e.value)


def test_solver_options_defaults_and_custom_fractions():
    check = engine.check_solver_options
    for method in engine.METHODS:
        assert check("nm", 1, method, None, None) == ()
        assert check("nm", 2, method, None, None) == (0.5,)
        assert check("nm", 3, method, None, None) == (1.0 / 3.0, 2.0 / 3.0)
    fixed = "singlestep_fixed"
    assert check("nm", 2, fixed, 0.3, None) == (0.3,)
    assert check("nm", 3, fixed, 0.2, None) == (0.2, 2.0 / 3.0)
    assert check("nm", 3, fixed, None, 0.9) == (1.0 / 3.0, 0.9)
    assert check("nm", 3, fixed, 0.1, 0.2) == (0.1, 0.2)
    got = check("nm", 3, fixed, np.float32(0.25), 1 / 2)
    assert got == (0.25, 0.5) and all(type(r) is float for r in got)
    assert type(check("nm", 2, "multistep", None, None)) is tuple


def test_solver_options_refusals_in_full():
    assert _refusal(order=0, method="multistep", r1=None, r2=None) == (
        "nm: unknown order 0; valid choices: [1, 2, 3].")
    assert _refusal(order=2, method="single", r1=None, r2=None) == (
        "nm: unknown method 'single'; valid choices: ['singlestep', 'singlestep_fixed', "
        "'multistep'].")
    for order, method, r1, r2 in [(1, "singlestep_fixed", 0.5, None),
                                  (2, "singlestep", None, 0.5), (3, "multistep", 0.2, 0.4)]:
        assert _refusal(order=order, method=method, r1=r1, r2=r2) == (
            "nm: r1/r2 only apply to method='singlestep_fixed' with order 2 or 3 "
            "(method='singlestep' places the stages at the grid times), got "
            f"r1={r1}, r2={r2} with method={method!r}, order={order}.")
    assert _refusal(order=2, method="singlestep_fixed", r1=0.5, r2=0.7) == (
        "nm: r2 only applies to order 3, got r2=0.7 with order=2.")
    for order, r1, r2, shown in [
            (2, 0.0, None, "{'r1': 0.0}"), (2, 1.0, None, "{'r1': 1.0}"),
            (2, -0.5, None, "{'r1': -0.5}"),
            (3, 0.0, None, "{'r1': 0.0, 'r2': 0.6666666666666666}"),
            (3, 0.5, 1.0, "{'r1': 0.5, 'r2': 1.0}"), (3, 0.5, 0.5, "{'r1': 0.5, 'r2': 0.5}"),
            (3, 0.7, 0.6, "{'r1': 0.7, 'r2': 0.6}"),
            (3, None, 0.2, "{'r1': 0.3333333333333333, 'r2': 0.2}")]:
        assert _refusal(order=order, method="singlestep_fixed", r1=r1, r2=r2) == (
            "nm: need 0 < r1 < 1 (and r1 < r2 < 1 for order 3), got " + shown + "."), (r1, r2)


@pytest.mark.parametrize("order,table", [
    (1, {1: (1,), 2: (1, 1), 4: (1, 1, 1, 1)}),
    (2, {1: (1,), 2: (2,), 3: (2, 1), 4: (2, 2), 5: (2, 2, 1), 6: (2, 2, 2)}),
    (3, {1: (1,), 2: (2,), 3: (2, 1), 4: (3, 1), 5: (3, 2), 6: (3, 2, 1), 7: (3, 3, 1),
         8: (3, 3, 2), 9: (3, 3, 2, 1), 10: (3, 3, 3, 1)}),
])
def test_fast_orders_for_every_budget(order, table):
    # Sec. 3.4: as many order-k steps as fit, ending with lower orders; for order 3 and
    # nfe = 3q one third-order step becomes (2, 1)
    for nfe, want in table.items():
        assert engine.singlestep_fast_orders(nfe, order) == want, nfe
        assert sum(want) == nfe


def test_fast_orders_messages():
    with pytest.raises(ValueError) as e:
        engine.singlestep_fast_orders(5, 4)
    assert str(e.value) == ("singlestep_fast_orders: unknown order 4; valid choices: "
                            "[1, 2, 3].")
    with pytest.raises(ValueError, match="^singlestep_fast_orders: nfe must be"):
        engine.singlestep_fast_orders(0, 2)


@pytest.mark.parametrize("param", ["eps", "x0"])
def test_singlestep_tables(x64, param):
    ts = np.array([0.9, 0.6, 0.35])
    fr = (0.3, 0.8)
    tab = engine.singlestep_tables(H.P, param, jnp.asarray(ts), fr)
    for i in range(2):
        s, t = ts[i], ts[i + 1]
        h = lam(t) - lam(s)
        np.testing.assert_allclose(
            [tab.full.A[i], tab.full.c1[i], tab.full.c2[i]], coefs3(param, s, t)[:3],
            rtol=RTOL)
        for j, r in enumerate(fr):
            tm = H.t_of(lam(s) + r * h)
            np.testing.assert_allclose(tab.t_mid[i, j], tm, rtol=RTOL)
            np.testing.assert_allclose(
                [tab.A_mid[i, j], tab.c1_mid[i, j], tab.c2_mid[i, j]],
                coefs3(param, s, tm)[:3], rtol=RTOL)
            # recomputed from the rounded stage time (measured 9e-16 relative)
            np.testing.assert_allclose(tab.ratio[i, j], r, rtol=1e-8)
    empty = engine.singlestep_tables(H.P, param, jnp.asarray(ts, jnp.float32), ())
    for a in (empty.t_mid, empty.A_mid, empty.c1_mid, empty.c2_mid, empty.ratio):
        assert a.shape == (2, 0) and a.dtype == jnp.float32
    np.testing.assert_allclose(empty.full.A, tab.full.A, rtol=1e-6)  # float32 times


@pytest.mark.parametrize("param", ["eps", "x0"])
@pytest.mark.parametrize("order,fr", [(1, ()), (2, (0.35,)), (3, (0.25, 0.6))])
def test_singlestep_stages_with_custom_fractions(x64, param, order, fr):
    s, t = 0.8, 0.45
    tab = engine.singlestep_tables(H.P, param, jnp.array([s, t]), fr)
    coefs = tuple(a[0] for a in engine.singlestep_coefs(tab, jnp.float64))
    x_next, x_low, stages = engine.singlestep_stages(jmodel, jnp.asarray(X0), jnp.asarray(s),
                                                     tab.t_mid[0], coefs, order)
    stage_times = [H.t_of(lam(s) + r * (lam(t) - lam(s))) for r in fr]
    want = singlestep_by_hand(param, order, X0, s, t, stage_times)
    np.testing.assert_allclose(x_next, want[0], rtol=RTOL)
    np.testing.assert_allclose(x_low, want[1], rtol=RTOL)
    assert len(stages) == order - 1
    for u, w in zip(stages, want[2]):
        np.testing.assert_allclose(u, w, rtol=RTOL)
    pair = engine.singlestep_step(jmodel, jnp.asarray(X0), jnp.asarray(s), tab.t_mid[0],
                                  coefs, order)
    assert len(pair) == 2
    np.testing.assert_allclose(pair[0], want[0], rtol=RTOL)
    np.testing.assert_allclose(pair[1], want[1], rtol=RTOL)


def test_singlestep_coefs_cast_and_order():
    tab = engine.singlestep_tables(H.P, "eps", jnp.array([0.9, 0.5]), (0.5,))
    got = engine.singlestep_coefs(tab, jnp.float16)
    want = (tab.full.A, tab.full.c1, tab.full.c2, tab.A_mid, tab.c1_mid, tab.c2_mid,
            tab.ratio)
    assert len(got) == 7
    for g, w in zip(got, want):
        assert g.dtype == jnp.float16
        np.testing.assert_array_equal(g, np.asarray(w).astype(np.float16))


@pytest.mark.parametrize("param", ["eps", "x0"])
@pytest.mark.parametrize("order,fr", [(2, (0.4,)), (3, (0.3, 0.75))])
def test_singlestep_fixed_run(x64, param, order, fr):
    ts = np.array([0.9, 0.6, 0.3, 0.1])
    out = engine.solve(jmodel, H.P, param, jnp.asarray(X0), jnp.asarray(ts), order=order,
                       method="singlestep_fixed", lower_order_final=True, fractions=fr,
                       return_trajectory=True)
    x, traj = X0, [X0]
    for i in range(3):
        h = lam(ts[i + 1]) - lam(ts[i])
        times = [H.t_of(lam(ts[i]) + r * h) for r in fr]
        x = singlestep_by_hand(param, order, x, ts[i], ts[i + 1], times)[0]
        traj.append(x)
    assert int(out.nfe) == 3 * order
    np.testing.assert_allclose(out.trajectory, np.stack(traj), rtol=RTOL)
    np.testing.assert_allclose(out.x, x, rtol=RTOL)
    if param == "x0":
        return  # the run without a trajectory once per order
    no_traj = engine.solve(jmodel, H.P, param, jnp.asarray(X0), jnp.asarray(ts),
                           order=order, method="singlestep_fixed", lower_order_final=True,
                           fractions=fr, return_trajectory=False)
    assert no_traj.trajectory is None
    np.testing.assert_allclose(no_traj.x, x, rtol=RTOL)


@pytest.mark.parametrize("param", ["eps", "x0"])
@pytest.mark.parametrize("order,n", [(3, 7), (3, 6), (2, 5), (1, 2)])
def test_fast_run_steps_over_the_grid(x64, param, order, n):
    ts = np.linspace(0.9, 0.1, n + 1) ** 1.3
    out = engine.solve(jmodel, H.P, param, jnp.asarray(X0), jnp.asarray(ts), order=order,
                       method="singlestep", lower_order_final=True, fractions=(0.5,),
                       return_trajectory=True)
    x, traj, c = X0, [X0], 0
    for k in engine.singlestep_fast_orders(n, order):
        x, _, stages = singlestep_by_hand(param, k, x, ts[c], ts[c + k], ts[c + 1:c + k])
        traj += stages + [x]  # one state per grid time: the stages, then the end point
        c += k
    assert c == n and int(out.nfe) == n
    np.testing.assert_allclose(out.trajectory, np.stack(traj), rtol=RTOL)
    np.testing.assert_allclose(out.x, x, rtol=RTOL)
    if param == "x0":
        return  # the run without a trajectory once per order
    no_traj = engine.solve(jmodel, H.P, param, jnp.asarray(X0), jnp.asarray(ts),
                           order=order, method="singlestep", lower_order_final=True,
                           fractions=(), return_trajectory=False)
    assert no_traj.trajectory is None
    np.testing.assert_allclose(no_traj.x, x, rtol=RTOL)


@pytest.mark.parametrize("method,fr", [("singlestep", ()), ("singlestep_fixed", (0.3, 0.6))])
def test_singlestep_runs_keep_a_float32_state(x64, method, fr):
    ts = jnp.linspace(0.9, 0.1, 7)  # float64 tables
    out = engine.solve(jmodel, H.P, "eps", jnp.asarray(X0, jnp.float32), ts, order=3,
                       method=method, lower_order_final=True, fractions=fr,
                       return_trajectory=True)
    assert out.x.dtype == jnp.float32 and out.trajectory.dtype == jnp.float32
    assert out.trajectory.shape == (7,) + X0.shape
    # the float64 run rounded: float32 rounding only (measured 3.2e-7 relative)
    ref = engine.solve(jmodel, H.P, "eps", jnp.asarray(X0), ts, order=3, method=method,
                       lower_order_final=True, fractions=fr, return_trajectory=False)
    np.testing.assert_allclose(out.x, ref.x, rtol=2e-6)


@pytest.mark.parametrize("param", ["eps", "x0"])
@pytest.mark.parametrize("order,n,lof,taylor", [
    (2, 5, True, True), (3, 6, True, True), (3, 6, False, True), (3, 6, False, False),
    (3, 11, True, True), (1, 3, True, True)])
def test_multistep_run(x64, param, order, n, lof, taylor):
    ts = np.linspace(0.92, 0.08, n + 1) ** 1.4  # non-uniform in lambda
    out = engine.solve(jmodel, H.P, param, jnp.asarray(X0), jnp.asarray(ts), order=order,
                       method="multistep", lower_order_final=lof, fractions=(),
                       return_trajectory=True,
                       second_difference="taylor" if taylor else "reference")
    want = multistep_by_hand(param, order, X0, ts, lof, taylor)
    assert int(out.nfe) == n
    np.testing.assert_allclose(out.trajectory, want, rtol=RTOL)
    np.testing.assert_allclose(out.x, want[-1], rtol=RTOL)


def test_multistep_default_second_difference_is_taylor(x64):
    ts = jnp.asarray(np.linspace(0.92, 0.08, 7) ** 1.4)
    kw = dict(order=3, method="multistep", lower_order_final=False, fractions=(),
              return_trajectory=False)
    default = engine.solve(jmodel, H.P, "eps", jnp.asarray(X0), ts, **kw)
    np.testing.assert_allclose(default.x, multistep_by_hand("eps", 3, X0, np.asarray(ts),
                                                            False, True)[-1], rtol=RTOL)
    default = engine.run_multistep(jmodel, H.P, "eps", ts, jnp.asarray(X0), 3, False, False)
    np.testing.assert_allclose(default[0], multistep_by_hand(
        "eps", 3, X0, np.asarray(ts), False, True)[-1], rtol=RTOL)
