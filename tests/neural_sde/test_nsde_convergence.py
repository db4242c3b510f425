"""Strong convergence on geometric Brownian motion against its exact solution on the
same Brownian path: dz = a z dt + b z dW, z_T = z_0 exp((a - b^2/2) T + b W_T)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.neural_sde import brownian_motion, make_sde, solve

A, B, N = 0.5, 0.8, 1000
STEPS = (8, 16, 32, 64)


def _strong_errors(solver: str) -> np.ndarray:
    bm = brownian_motion(jax.random.key(0), (N,), tol=2.0**-12)
    exact = jnp.exp(A - B * B / 2 + B * bm.evaluate(0.0, 1.0))
    sde = make_sde("lnsde", lambda t, z: A * z, lambda t: B)

    @jax.jit
    def errors():
        return jnp.stack([jnp.mean(jnp.abs(solve(sde, jnp.ones(N), None, steps=s, solver=solver,
                                                 bm=bm) - exact)) for s in STEPS])

    return np.asarray(errors())


@pytest.mark.parametrize("solver,order", [("euler", 0.5), ("milstein", 1.0)])
def test_strong_order(solver, order):
    err = _strong_errors(solver)        # the LNSDE with drift a z is this SDE
    ratios = err[:-1] / err[1:]
    slope = -np.polyfit(np.log(STEPS), np.log(err), 1)[0]
    assert abs(slope - order) < 0.15, (err, slope)
    assert np.all(np.abs(np.log2(ratios) - order) < 0.3), ratios
    assert err[-1] < (0.1 if solver == "euler" else 0.015), err


def test_log_mode_gsde_is_exact_for_constant_coefficients():
    bm = brownian_motion(jax.random.key(1), (N,), tol=2.0**-12)
    exact = jnp.exp(A - B * B / 2 + B * bm.evaluate(0.0, 1.0))
    sde = make_sde("gsde", lambda t, z: jnp.full_like(z, A), lambda t: B)
    out = jax.jit(lambda: solve(sde, jnp.ones(N), None, steps=3, bm=bm))()
    np.testing.assert_allclose(out, exact, rtol=2e-4)
