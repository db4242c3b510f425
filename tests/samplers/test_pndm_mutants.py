"""``diffax/samplers/pndm.py`` against a NumPy transcription of Liu et al. (2022), "Pseudo
Numerical Methods for Diffusion Models on Manifolds" (S-PNDM, F-PNDM), of PLMS (Rombach
et al., 2022) and of iPNDM (Zhang & Chen, 2023) (pndm_by_hand.py), written for its
mutation run (docs/testing.md): every state of whole runs of the four variants on
VP-linear with an x- and t-dependent model and a grid non-uniform in t (eps and x0
models, ``cond``, the default variant F-PNDM, the shortest runs of each warm-up, float32
states), the Adams-Bashforth constants derived from their definition, the NFE count and
every refusal with its whole message.

Float64; rtol 1e-10 against the transcription (rounding only; measured at most 3.4e-15
relative in float64).
"""

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pndm_by_hand as H
from linear_step_problem import (TS, X, P, float64, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model_needing_shift)
from diffax.samplers import pndm as mod

RTOL, ATOL = 1e-10, 1e-12
N = len(TS) - 1  # 6 steps: F-PNDM's 3 Runge-Kutta steps, then 3 fourth-order steps
SHIFT = 0.25
KEY = jax.random.PRNGKey(0)



def _eps_shift(x, t):
    return H.eps_model(x, t, SHIFT)



# ---- refusals, NFE, constants (cheap; the runner stops at the first failure) -------------

def test_every_refusal_in_full():
    x = jnp.ones((3, 2))
    assert refusal(mod.pndm, model, P, x, jnp.asarray(TS), variant="pndm") == (
        "pndm: unknown variant 'pndm'; valid choices: ['f_pndm', 'ipndm', 'plms', "
        "'s_pndm'].")
    assert refusal(mod.pndm_nfe, "F_PNDM", 4) == (
        "pndm: unknown variant 'F_PNDM'; valid choices: ['f_pndm', 'ipndm', 'plms', "
        "'s_pndm'].")
    for n in (1, 3):
        assert refusal(mod.pndm, model, P, x, jnp.asarray(TS[:n + 1])) == (
            f"pndm[f_pndm] needs at least 4 steps (3 pseudo Runge-Kutta warm-up steps and "
            f"one linear multistep), got {n} steps (NFE {4 * n}). With fewer steps the "
            "Runge-Kutta stages evaluate the model near t_min far from the data and the "
            "result diverges; use s_pndm, plms or ipndm for NFE < 13.")
    grid = TS[::-1].copy()
    for v in ("s_pndm", "f_pndm", "plms", "ipndm"):
        assert refusal(mod.pndm, model, P, x, jnp.asarray(grid), variant=v) == (
            not_decreasing_message(f"pndm[{v}]", grid))


def test_nfe_by_the_papers_count():
    """Improved Euler 2 NFE on the first step, Runge-Kutta 4 NFE on the first three, one
    per multistep step (also for runs shorter than the warm-up)."""
    for n in range(0, 8):
        assert mod.pndm_nfe("s_pndm", n) == (n + 1 if n else 0)
        assert mod.pndm_nfe("plms", n) == (n + 1 if n else 0)
        assert mod.pndm_nfe("ipndm", n) == n
        assert mod.pndm_nfe("f_pndm", n) == 4 * min(n, 3) + max(n - 3, 0)


def _adams_bashforth(k):
    """b_j, newest first: sum_j b_j (-j)^q = 1 / (q + 1) for q < k (exact for
    polynomials of degree < k on the unit step), solved in exact fractions."""
    a = [[Fraction(-j) ** q for j in range(k)] for q in range(k)]
    b = [Fraction(1, q + 1) for q in range(k)]
    for c in range(k):  # Gauss-Jordan
        p = next(r for r in range(c, k) if a[r][c] != 0)
        a[c], a[p], b[c], b[p] = a[p], a[c], b[p], b[c]
        for r in range(k):
            if r != c and a[r][c] != 0:
                f = a[r][c] / a[c][c]
                a[r] = [u - f * v for u, v in zip(a[r], a[c])]
                b[r] -= f * b[c]
    return [b[c] / a[c][c] for c in range(k)]


def test_adams_bashforth_weights_and_tables():
    """AB_WEIGHTS from their definition (55/24, -59/24, 37/24, -9/24 for order 4, eq. 12);
    _multistep_weights puts order min(max_order, n_prev + i + 1) in the front columns."""
    for k in (1, 2, 3, 4):
        assert len(mod.AB_WEIGHTS[k]) == k
        np.testing.assert_allclose(mod.AB_WEIGHTS[k], [float(b) for b in _adams_bashforth(k)],
                                   rtol=1e-15, atol=0)
    assert [float(b) for b in _adams_bashforth(4)] == [55 / 24, -59 / 24, 37 / 24, -9 / 24]
    for n_prev, max_order in ((0, 4), (1, 2), (1, 4), (3, 4), (0, 2)):
        w = mod._multistep_weights(5, n_prev, max_order)
        assert w.shape == (5, 4)
        for i in range(5):
            k = min(max_order, n_prev + i + 1)
            np.testing.assert_array_equal(w[i], list(mod.AB_WEIGHTS[k]) + [0.0] * (4 - k))


# ---- whole runs against the transcription -----------------------------------------------

@pytest.fixture(scope="module")
def runs():
    """Every run of the tests below in one compiled program (x64 set around it)."""
    with float64():
        ts, cond = jnp.asarray(TS), {"shift": SHIFT}
        pn = mod.pndm
        tr = dict(return_trajectory=True)
        x0kw = dict(prediction="x0", cond=cond, **tr)

        @jax.jit
        def go(x, x32):
            return dict(
                f_default=pn(model, P, x, ts),
                f_x0=pn(x0_model_needing_shift, P, x, ts, variant="f_pndm", key=KEY, **x0kw),
                f_min=pn(model, P, x, ts[:5], variant="f_pndm", **tr),
                s=pn(x0_model_needing_shift, P, x, ts, variant="s_pndm", **x0kw),
                s_one=pn(model, P, x, ts[:2], variant="s_pndm", **tr),
                s_two=pn(model, P, x, ts[:3], variant="s_pndm"),
                plms=pn(model, P, x, ts, variant="plms", **tr),
                plms_two=pn(model_needing_shift, P, x, ts[:3], variant="plms", cond=cond,
                            **tr),
                ipndm=pn(model, P, x, ts, variant="ipndm", **tr),
                ipndm_one=pn(model, P, x, ts[:2], variant="ipndm", **tr),
                plms32=pn(model, P, x32, ts, variant="plms", **tr),
                f32=pn(model, P, x32, ts, variant="f_pndm", **tr),
            )

        out = go(jnp.asarray(X), jnp.asarray(X, jnp.float32))
        return jax.tree.map(np.asarray, out)


def _check(out, variant, ts, *, eps=None, trajectory=True, rtol=RTOL, atol=ATOL,
           x=X):
    ref, nfe = H.pndm_by_hand(x, np.asarray(ts, np.float64), variant, eps=eps)
    assert out.nfe == nfe == mod.pndm_nfe(variant, len(ts) - 1)
    if trajectory:
        assert out.trajectory.shape == (len(ts),) + X.shape
        np.testing.assert_allclose(out.trajectory, ref, rtol=rtol, atol=atol)
    else:
        assert out.trajectory is None
    np.testing.assert_allclose(out.x, ref[-1], rtol=rtol, atol=atol)
    return ref


def test_f_pndm_is_the_default_variant(runs):
    """No variant: F-PNDM (3 pseudo Runge-Kutta steps, then eq. 12), eps model, no
    trajectory."""
    _check(runs["f_default"], "f_pndm", TS, trajectory=False)


def test_f_pndm_x0_model_with_cond(runs):
    ref = _check(runs["f_x0"], "f_pndm", TS, eps=_eps_shift)
    # the fourth-order steps matter: third order from step 3 on gives another result
    assert np.max(np.abs(ref[-1] - H.pndm_by_hand(X, TS, "plms", eps=_eps_shift)[0][-1])) > 1e-3


def test_f_pndm_four_steps(runs):
    """The shortest accepted run: 3 Runge-Kutta steps and one fourth-order step."""
    _check(runs["f_min"], "f_pndm", TS[:5])


def test_s_pndm_x0_model_with_cond(runs):
    """Pseudo improved Euler, then the 2-step pseudo linear multistep (3 e_i - e_{i-1}) / 2."""
    _check(runs["s"], "s_pndm", TS, eps=_eps_shift)


def test_s_pndm_short_runs(runs):
    """One step (warm-up only) with trajectory; two steps without."""
    _check(runs["s_one"], "s_pndm", TS[:2])
    _check(runs["s_two"], "s_pndm", TS[:3], trajectory=False)


def test_plms(runs):
    """Improved Euler, then Adams-Bashforth of order 2, 3, 4, 4, 4."""
    _check(runs["plms"], "plms", TS)
    _check(runs["plms_two"], "plms", TS[:3], eps=_eps_shift)


def test_ipndm(runs):
    """Adams-Bashforth of order 1, 2, 3, 4, 4, 4 (one NFE per step); one step is DDIM."""
    _check(runs["ipndm"], "ipndm", TS)
    _check(runs["ipndm_one"], "ipndm", TS[:2])


@pytest.mark.parametrize("case,variant", [("plms32", "plms"), ("f32", "f_pndm")])
def test_float32_states_with_a_float64_grid(runs, case, variant):
    """float32 x, float64 grid (cast to float32): the states stay float32 and match the
    float64 transcription from the float32 times and states (tolerance: float32 rounding
    over 6 steps, measured 4e-7 relative)."""
    out = runs[case]
    assert out.x.dtype == np.float32 and out.trajectory.dtype == np.float32
    t32 = TS.astype(np.float32).astype(np.float64)
    x32 = X.astype(np.float32).astype(np.float64)
    _check(out, variant, t32, x=x32, rtol=1e-5, atol=1e-6)
