"""``diffax/samplers/unipc.py`` against a NumPy transcription of UniPC (Zhao et al.,
2023, "UniPC", Algorithms 1-3, the B(h) variants bh1 and bh2; unipc_by_hand.py), written
for its mutation run (docs/testing.md): every state of whole runs on an x-dependent model
and a grid non-uniform in lambda, for orders 1-3, both variants, both parameterizations,
with and without the corrector and ``lower_order_final``; the function's own defaults;
``cond`` reaching the model; a float32 grid under x64; the tables' dtype; every refusal
with its whole message.

Float64; rtol 1e-10 against the transcription (rounding only: measured at most 1.5e-15).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import unipc_by_hand as H
from linear_step_problem import (TS, X, P, model, model_needing_shift,
                                 not_decreasing_message, refusal, x0_model)
from diffax.samplers import unipc as mod

RTOL, ATOL = 1e-10, 1e-12  # TS: orders 1,2,3,3,2,1 with lower_order_final


def _trajectory(**opts):
    out = mod.unipc(model, P, jnp.asarray(X), jnp.asarray(TS), return_trajectory=True,
                    **opts)
    assert out.nfe == len(TS) - 1
    return np.asarray(out.trajectory), np.asarray(out.x)


# ---- refusals (cheap; the runner stops at the first failure) ----------------------------

@pytest.mark.parametrize("opt,value,msg", [
    ("order", 4, "unipc: unknown order 4; valid choices: [1, 2, 3]."),
    ("order", 0, "unipc: unknown order 0; valid choices: [1, 2, 3]."),
    ("variant", "bh3", "unipc: unknown variant 'bh3'; valid choices: ['bh1', 'bh2']."),
    ("algorithm_type", "x0",
     "unipc: unknown algorithm_type 'x0'; valid choices: ['data_prediction', "
     "'noise_prediction']."),
    ("corrector", "yes", "unipc: corrector must be True or False, got corrector='yes'."),
    ("lower_order_final", None,
     "unipc: lower_order_final must be True or False, got lower_order_final=None."),
])
def test_every_refusal_in_full(opt, value, msg):
    with pytest.raises(ValueError) as err:
        mod.unipc(model, P, jnp.ones((2, 2)), jnp.asarray(TS), **{opt: value})
    assert str(err.value) == msg


def test_every_valid_option_is_accepted():
    assert mod.ORDERS == (1, 2, 3)
    assert mod.VARIANTS == ("bh1", "bh2")
    assert mod.ALGORITHM_TYPES == ("data_prediction", "noise_prediction")
    for o in mod.ORDERS:
        for v in mod.VARIANTS:
            for a in mod.ALGORITHM_TYPES:
                for flag in (True, False):
                    mod._check_options(o, v, a, flag, not flag)


def test_a_bad_grid_is_refused_with_the_sampler_name():
    grid = TS[::-1].copy()
    assert refusal(mod.unipc, model, P, jnp.ones((2, 2)), jnp.asarray(grid)) == (
        not_decreasing_message("unipc", grid))


# ---- whole runs against the transcription ------------------------------------------------

@pytest.mark.parametrize("order,variant,algorithm_type,corrector,lower_order_final", [
    (3, "bh2", "data_prediction", True, True),
    (3, "bh1", "data_prediction", True, False),
    (3, "bh2", "noise_prediction", True, False),
    (3, "bh1", "noise_prediction", False, True),
    (2, "bh1", "data_prediction", True, True),
    (2, "bh2", "noise_prediction", True, False),
    (2, "bh2", "data_prediction", False, False),
    (1, "bh1", "noise_prediction", True, False),
    (1, "bh2", "data_prediction", True, False),
])
def test_every_state_matches_the_transcription(x64, order, variant, algorithm_type,
                                               corrector, lower_order_final):
    opts = dict(order=order, variant=variant, algorithm_type=algorithm_type,
                corrector=corrector, lower_order_final=lower_order_final)
    traj, x = _trajectory(**opts)
    ref = H.unipc_by_hand(X, TS, **opts)
    np.testing.assert_allclose(traj, ref, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(x, ref[-1], rtol=RTOL, atol=ATOL)


def test_defaults(x64):
    """order 2, bh2, data prediction, corrector, lower_order_final, eps model, no
    trajectory; the x0 model converted to the same thing."""
    out = mod.unipc(model, P, jnp.asarray(X), jnp.asarray(TS))
    assert out.trajectory is None and out.nfe == 6
    ref = H.unipc_by_hand(X, TS, order=2, variant="bh2", algorithm_type="data_prediction",
                          corrector=True, lower_order_final=True)
    np.testing.assert_allclose(out.x, ref[-1], rtol=RTOL, atol=ATOL)
    out = mod.unipc(x0_model, P, jnp.asarray(X), jnp.asarray(TS), prediction="x0",
                    key=jax.random.PRNGKey(0))
    np.testing.assert_allclose(out.x, ref[-1], rtol=1e-9, atol=1e-11)


def test_cond_reaches_the_model(x64):
    out = mod.unipc(model_needing_shift, P, jnp.asarray(X), jnp.asarray(TS),
                    cond={"shift": 0.25}, order=3, lower_order_final=False,
                    return_trajectory=True)
    ref = H.unipc_by_hand(X, TS, order=3, lower_order_final=False, shift=0.25)
    np.testing.assert_allclose(out.trajectory, ref, rtol=RTOL, atol=ATOL)


def test_float32_grid_is_promoted_under_x64(x64):
    """A float32 grid with a float64 state: the tables are built in float64 (from the
    float32 times), so the run matches the transcription at those times to rounding."""
    ts32 = jnp.asarray(TS, jnp.float32)
    out = mod.unipc(model, P, jnp.asarray(X), ts32, order=3, variant="bh1")
    ref = H.unipc_by_hand(X, np.asarray(ts32, np.float64), order=3, variant="bh1")
    assert out.x.dtype == jnp.float64
    np.testing.assert_allclose(out.x, ref[-1], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("algorithm_type", ["data_prediction", "noise_prediction"])
def test_tables_keep_the_grid_dtype(x64, algorithm_type):
    """unipc_coefficients on a float32 grid returns float32 tables (every order present:
    the zero-initialised ones too), close to the float64 tables (tolerance: float32
    rounding amplified by the 2x2 and 3x3 solves: measured 1.5e-6 relative at most)."""
    kw = dict(order=3, variant="bh2", algorithm_type=algorithm_type, lower_order_final=True)
    t32 = mod.unipc_coefficients(P, jnp.asarray(TS, jnp.float32), **kw)
    t64 = mod.unipc_coefficients(P, jnp.asarray(TS, jnp.float32).astype(jnp.float64), **kw)
    for a, b in zip(t32, t64):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-10)


def test_weights_solve_the_vandermonde_system(x64):
    """_weights: sum_k a_k r_k^{m-1} = rhs_m for m = 1..n, per row, against numpy.solve."""
    r = jnp.array([[-0.7, -1.9, 1.0], [0.4, -2.3, 1.0]])
    rhs = jnp.array([[0.3, -0.2, 0.9, 5.0], [1.1, 0.6, -0.4, 5.0]])
    for n in (1, 2, 3):
        got = np.asarray(mod._weights(r[:, :n], rhs, n))
        for row in range(2):
            V = np.vander(np.asarray(r[row, :n]), n, increasing=True).T
            np.testing.assert_allclose(got[row], np.linalg.solve(V, rhs[row, :n]),
                                       rtol=1e-12)
