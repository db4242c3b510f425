"""``diffax/samplers/exponential_integrators.py`` against exact or NumPy references,
written for its mutation run (docs/testing.md). The module holds the exponential-
integrator algebra of DPM-Solver (Lu et al., 2022a, "DPM-Solver: A Fast ODE Solver for
Diffusion Probabilistic Model Sampling in Around 10 Steps", eq. (3.4)) and DPM-Solver++
(Lu et al., 2022b, eq. (8) and Algorithm 2): the phi-functions of exponential
integrators (Hochbruck & Ostermann, 2010, "Exponential integrators", Acta Numerica,
eq. (2.10)), phi_1(z) = (e^z - 1)/z, phi_{k+1}(z) = (phi_k(z) - 1/k!)/z, i.e.
phi_k(z) = sum_n z^n / (n + k)!; the step coefficients

    noise prediction:  A = alpha_t / alpha_s, c_k = -sigma_t h phi_k(h),
    data prediction:   A = sigma_t / sigma_s, c_k =  alpha_t h phi_k(-h),

with h = lambda_t - lambda_s, lambda = log(alpha / sigma); the multistep orders (warm-up,
the reference implementation's lower_order_final for N < 10) and the multistep weights
of DPM-Solver(++)-2M (Algorithm 2) and -3M (Taylor form with divided differences, and
the reference implementation's half second difference).

Checked: phi_1..phi_4 against the series summed in 50-digit decimals (rtol 1e-13; measured
at most 2.8e-14 relative), their gradient at 0 (1/(k+1)!), the
step coefficients against the closed forms on VP-linear (unipc_by_hand.py), the weights
against a NumPy transcription of the formulas (rtol 1e-13; measured 2.0e-15), every default
and refusal in full.
"""

import math
from decimal import Decimal, localcontext

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import unipc_by_hand as U
from linear_step_problem import P, float64, refusal
from diffax.samplers import exponential_integrators as ei


def phi_exact(k, z):
    """phi_k(z) = sum_n z^n / (n + k)!, summed in 50-digit decimals from the exact binary
    value of z (|z| <= 8: the tail after 100 terms is below 8^100 / 100! < 1e-67)."""
    with localcontext() as ctx:
        ctx.prec = 50
        zd, term, total = Decimal(float(z)), Decimal(1) / math.factorial(k), Decimal(0)
        for n in range(100):
            total += term
            term = term * zd / (n + k + 1)
        return float(total)


def dphi_exact(k, z):
    """phi_k'(z) = sum_{n >= 1} n z^(n-1) / (n + k)!, in 50-digit decimals."""
    with localcontext() as ctx:
        ctx.prec = 50
        zd, power, total = Decimal(float(z)), Decimal(1), Decimal(0)  # power = z^(n-1)
        for n in range(1, 100):
            total += n * power / math.factorial(n + k)
            power *= zd
        return float(total)


Z = [-8.0, -3.0, -1.0, -0.51, -0.5, -0.4999, -0.3, -1e-3, -1e-9, 0.0, 1e-9, 1e-3, 0.3,
     0.4999, 0.5, 0.51, 0.9, 1.4, 3.0, 5.0]



# ---- refusals and defaults (cheap; the runner stops at the first failure) ----------------

def test_every_refusal_in_full():
    assert refusal(ei.phis, 0.3, 0) == "phis: k_max must be >= 1, got k_max=0."
    assert refusal(ei.phi, 0, 0.3) == "phi: k must be >= 1, got k=0."
    assert refusal(ei.check_parameterization, "v") == (
        "exponential integrator: unknown parameterization 'v'; valid choices: "
        "['eps', 'x0'].")
    assert refusal(ei.step_coefficients, P, "data", 0.5, 0.3) == (
        "exponential integrator: unknown parameterization 'data'; valid choices: "
        "['eps', 'x0'].")
    c = ei.StepCoefficients(*(jnp.ones(2),) * 5)
    assert refusal(ei.multistep_weights, c, np.array([1, 2]), "taylr") == (
        "multistep_weights: unknown second_difference 'taylr'; valid choices: "
        "['taylor', 'reference'].")
    for p in ei.PARAMETERIZATIONS:
        assert ei.check_parameterization(p) == p
    assert ei.PARAMETERIZATIONS == ("eps", "x0")
    assert ei.SECOND_DIFFERENCES == ("taylor", "reference")


# ---- every value below from one compiled program ----------------------------------------

TS = np.array([0.95, 0.8, 0.7, 0.5, 0.42, 0.2, 0.05, 0.03])  # h from 0.15 to 2.2
Z32 = np.array([1e-4, -2e-3, 0.25, 2.0], np.float32)
ZG = np.array([0.0, 0.3, -0.3, 2.0, -2.0], np.float32)
H = np.array([0.4, 0.9, 0.55, 1.3, 0.35, 0.7])
C1 = np.array([-0.3, 0.8, -1.1, 0.45, 0.9, -0.6])
C2 = np.array([0.25, -0.7, 0.33, 1.2, -0.5, 0.15])
C3 = np.array([-0.12, 0.41, 0.6, -0.9, 0.2, 0.75])
ORDERS = np.array([1, 2, 3, 3, 2, 3])


@pytest.fixture(scope="module")
def vals():
    """Every value of the tests below from one jitted program (x64 set around it)."""
    with float64():
        @jax.jit
        def go(z, z32, zg, t, lam, coef64, coef32):
            c64 = ei.StepCoefficients(jnp.ones(6), *coef64)
            c32 = ei.StepCoefficients(jnp.ones(6, jnp.float32), *coef32)
            mw = ei.multistep_weights
            return dict(
                phis4=ei.phis(z, 4), phis_default=ei.phis(z), phis1=ei.phis(z, 1),
                phi=[ei.phi(k, z) for k in (1, 2, 3, 4)], phi_float=ei.phi(2, 0.7),
                phis32=ei.phis(z32, 3),
                dphi3=jax.vmap(jax.grad(lambda u: ei.phis(u, 3)[2]))(zg),
                lam=ei.half_log_snr(P, t), t_of_lam=ei.t_from_half_log_snr(P, lam),
                t_of_float=ei.t_from_half_log_snr(P, float(U.lam(0.6))),
                eps=ei.step_coefficients(P, "eps", t[:-1], t[1:]),
                x0=ei.step_coefficients(P, "x0", t[:-1], t[1:]),
                w_default=mw(c64, ORDERS), w_taylor=mw(c64, ORDERS, "taylor"),
                w_reference=mw(c64, ORDERS, "reference"),
                w3_taylor=mw(c64, np.full(6, 3), "taylor"),
                w3_reference=mw(c64, np.full(6, 3), "reference"),
                w32=mw(c32, ORDERS),
            )

        out = go(jnp.asarray(Z), jnp.asarray(Z32), jnp.asarray(ZG), jnp.asarray(TS),
                 jnp.asarray(U.lam(TS)), tuple(jnp.asarray(v) for v in (C1, C2, C3, H)),
                 tuple(jnp.asarray(v, jnp.float32) for v in (C1, C2, C3, H)))
        return jax.tree.map(np.asarray, out)


# ---- phi-functions ------------------------------------------------------------------------

def test_phis_against_the_exact_series(vals):
    """phi_1..phi_4 on both sides of the series/recursion switch at |z| = 1/2; the default
    k_max is 3; k_max = 1 gives phi_1 alone."""
    ref = np.array([[phi_exact(k, zi) for k in (1, 2, 3, 4)] for zi in Z])
    np.testing.assert_allclose(np.stack(vals["phis4"], -1), ref, rtol=1e-13, atol=0)
    assert len(vals["phis_default"]) == 3
    np.testing.assert_allclose(np.stack(vals["phis_default"], -1), ref[:, :3], rtol=1e-13,
                               atol=0)
    assert len(vals["phis1"]) == 1
    np.testing.assert_allclose(vals["phis1"][0], ref[:, 0], rtol=1e-13, atol=0)
    for k in (1, 2, 3, 4):
        np.testing.assert_allclose(vals["phi"][k - 1], ref[:, k - 1], rtol=1e-13, atol=0)
    np.testing.assert_allclose(vals["phi_float"], phi_exact(2, 0.7), rtol=1e-13)


def test_phis_float32_and_gradients(vals):
    """float32 in, float32 out (x64 on), no cancellation at tiny z (rtol 1e-6: float32
    rounding); gradients finite at 0 and on both branches: phi_3'(z) = sum_n n z^(n-1) /
    (n + 3)!, 1/24 at 0 (rtol 1e-5: float32)."""
    got = vals["phis32"]
    assert all(g.dtype == np.float32 for g in got)
    ref = [[phi_exact(k, float(zi)) for zi in Z32] for k in (1, 2, 3)]
    np.testing.assert_allclose(np.stack(got), ref, rtol=1e-6)
    exact = [dphi_exact(3, zi) for zi in ZG]
    assert vals["dphi3"].dtype == np.float32
    np.testing.assert_allclose(vals["dphi3"], exact, rtol=1e-5)
    assert exact[0] == 1 / 24


# ---- log-SNR time and the step coefficients ---------------------------------------------

def test_half_log_snr_and_its_inverse(vals):
    np.testing.assert_allclose(vals["lam"], U.lam(TS), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(vals["t_of_lam"], TS, rtol=1e-12)
    np.testing.assert_allclose(vals["t_of_float"], 0.6, rtol=1e-12)


@pytest.mark.parametrize("param", ["eps", "x0"])
def test_step_coefficients_closed_form(vals, param):
    s, t = TS[:-1], TS[1:]
    c = vals[param]
    h = U.lam(t) - U.lam(s)
    assert np.all(h > 0) and h.min() < 0.5 < h.max()  # both branches of phis
    if param == "eps":
        A, pref, z = U.alpha(t) / U.alpha(s), -U.sigma(t), h
    else:
        A, pref, z = U.sigma(t) / U.sigma(s), U.alpha(t), -h
    np.testing.assert_allclose(c.h, h, rtol=1e-12)
    np.testing.assert_allclose(c.A, A, rtol=1e-12)
    for k, ck in ((1, c.c1), (2, c.c2), (3, c.c3)):
        ref = pref * h * np.array([phi_exact(k, zi) for zi in z])
        np.testing.assert_allclose(ck, ref, rtol=1e-12)
    # first order is DDIM (eps) / the DPM-Solver++ first-order step (x0)
    if param == "eps":
        np.testing.assert_allclose(
            c.c1, U.sigma(t) - U.alpha(t) / U.alpha(s) * U.sigma(s), rtol=1e-12)
    else:
        np.testing.assert_allclose(
            c.c1, U.alpha(t) - U.sigma(t) / U.sigma(s) * U.alpha(s), rtol=1e-12)


# ---- multistep orders and weights --------------------------------------------------------

def test_multistep_orders_by_rule():
    """min(order, i + 1), and with lower_order_final and N < 10 also min(., N - i)."""
    for n in (1, 2, 3, 6, 9, 10, 12):
        i = np.arange(n)
        for order in (1, 2, 3):
            warm = np.minimum(order, i + 1)
            np.testing.assert_array_equal(ei.multistep_orders(n, order, False), warm)
            final = np.minimum(warm, n - i) if n < 10 else warm
            np.testing.assert_array_equal(ei.multistep_orders(n, order, True), final)
    assert ei.LOWER_ORDER_FINAL_MAX_STEPS == 10


def weights_by_hand(h, c1, c2, c3, orders, second_difference="taylor"):
    """Lu et al. (2022b), Algorithm 2 (order 2) and the Taylor form (order 3) with
    r0 = h_{i-1}/h_i, r1 = h_{i-2}/h_i (h_0 repeated before the start), as weights on
    [m_i, m_{i-1}, m_{i-2}]."""
    n = len(h)
    w = np.zeros((n, 3))
    m0, m1, m2 = np.eye(3)
    for i in range(n):
        r0 = h[max(i - 1, 0)] / h[i]
        r1 = h[max(i - 2, 0)] / h[i]
        if orders[i] == 1:
            w[i] = c1[i] * m0
        elif orders[i] == 2:
            w[i] = c1[i] * m0 + c1[i] / (2 * r0) * (m0 - m1)
        else:
            d10 = (m0 - m1) / r0
            d11 = (m1 - m2) / r1
            d1 = d10 + r0 / (r0 + r1) * (d10 - d11)
            d2 = (2.0 if second_difference == "taylor" else 1.0) * (d10 - d11) / (r0 + r1)
            w[i] = c1[i] * m0 + c2[i] * d1 + c3[i] * d2
    return w


@pytest.mark.parametrize("case,second_difference", [
    ("w_default", "taylor"), ("w_taylor", "taylor"), ("w_reference", "reference")])
def test_multistep_weights_against_the_formulas(vals, case, second_difference):
    """Distinct h, c1, c2, c3 per step (not from a process: every coefficient is seen);
    the default is the Taylor form."""
    ref = weights_by_hand(H, C1, C2, C3, ORDERS, second_difference)
    np.testing.assert_allclose(vals[case], ref, rtol=1e-13, atol=1e-15)


def test_multistep_weights_exact_for_quadratics(vals):
    """Order 3 (Taylor): sum_j W_ij m(lambda_{i-j}) = c1 m + c2 h m' + c3 h^2 m'' at
    lambda_i for a quadratic m on a non-uniform grid; the reference form gives c3 h^2 m''/2."""
    lam = np.concatenate([[0.0], np.cumsum(H)])
    m = lambda l: 0.7 - 0.4 * l + 0.3 * l**2  # noqa: E731
    for sd, f in (("taylor", 1.0), ("reference", 0.5)):
        w = vals["w3_" + sd]
        for i in (2, 3, 4, 5):
            got = sum(w[i, j] * m(lam[i - j]) for j in range(3))
            li = lam[i]
            exact = C1[i] * m(li) + C2[i] * H[i] * (-0.4 + 0.6 * li) + f * C3[i] * H[i]**2 * 0.6
            np.testing.assert_allclose(got, exact, rtol=1e-12)


def test_multistep_weights_keep_float32(vals):
    """float32 coefficients under x64: float32 weights (rtol 2e-6: float32 rounding)."""
    assert vals["w32"].dtype == np.float32
    np.testing.assert_allclose(vals["w32"], weights_by_hand(H, C1, C2, C3, ORDERS), rtol=2e-6,
                               atol=1e-7)
