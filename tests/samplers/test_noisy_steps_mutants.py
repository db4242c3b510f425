"""``diffax/samplers/noisy_steps.py`` (the scan shared by DDIM and the reverse-SDE
samplers) against a NumPy transcription, written for its mutation run (docs/testing.md),
through a tiny update x <- c_i x + t_i (+ n_i z_i): x_{i+1} = update(x_i, coefs_i) with
the coefficient tables passed in order, one key per step split from ``key``
(``jax.random.split(key, N)``), draws of the state's shape and dtype, the last noise
scale zeroed by ``denoise`` (its default on), no noise (and no key) when ``noise`` is None,
NFE = N and the trajectory x_0..x_N on request (off by default).

Float64; rtol 1e-12 against the transcription (a few multiply-adds, measured 9.3e-16);
the float32 state at rtol 1e-6 (float32 rounding of six steps, measured 1.2e-7).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from linear_step_problem import float64
from diffax.samplers.noisy_steps import run_noisy_steps

TS = np.array([0.9, 0.7, 0.45, 0.3, 0.12, 0.05])
CS = np.array([0.8, 1.1, 0.6, 0.95, 1.3, 0.7])
NS = np.array([0.5, 0.3, 0.25, 0.2, 0.1, 0.4])
X = np.array([[0.3, -1.2], [2.0, 0.1], [-0.7, 0.9]])
N = len(TS)
KEY = jax.random.PRNGKey(7)


def update2(x, t, c):
    return c * x + t


def update1(x, t):
    return 0.5 * x + t


def _z(dtype):
    """Step i draws with the i-th of N keys split from KEY, in the state's dtype."""
    return jax.vmap(lambda k: jax.random.normal(k, X.shape, dtype))(
        jax.random.split(KEY, N)).astype(jnp.float64)


def by_hand(x, cs=None, ns=None, z=None, denoise=True):
    if ns is not None and denoise:
        ns = np.where(np.arange(N) == N - 1, 0.0, ns)
    states = [np.asarray(x, np.float64)]
    for i in range(N):
        c = 0.5 if cs is None else cs[i]
        x = c * states[-1] + TS[i] + (0.0 if ns is None else ns[i] * z[i])
        states.append(x)
    return np.stack(states)


@pytest.fixture(scope="module")
def runs():
    with float64():
        ts, cs, ns = (jnp.asarray(a) for a in (TS, CS, NS))
        out = jax.jit(lambda x: {  # one compiled program
            "det": run_noisy_steps(update2, x, (ts, cs), return_trajectory=True),
            "det_default": run_noisy_steps(update1, x, (ts,)),
            "noisy": run_noisy_steps(update2, x, (ts, cs), noise=ns, key=KEY, denoise=False,
                                     return_trajectory=True),
            "noisy_default": run_noisy_steps(update1, x, (ts,), noise=ns, key=KEY),
            "f32": run_noisy_steps(update1, x.astype(jnp.float32), (ts,), noise=ns, key=KEY,
                                   denoise=False, return_trajectory=True),
            "z": _z(jnp.float64), "z32": _z(jnp.float32),
        })(jnp.asarray(X))
        return jax.tree_util.tree_map(np.asarray, out)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_deterministic_runs(runs):
    r = runs["det"]
    assert r.nfe == N
    _close(r.trajectory, by_hand(X, CS))
    _close(r.x, r.trajectory[-1])
    r = runs["det_default"]
    assert r.nfe == N and r.trajectory is None
    _close(r.x, by_hand(X)[-1])


def test_noisy_runs(runs):
    r = runs["noisy"]
    assert r.nfe == N
    _close(r.trajectory, by_hand(X, CS, NS, runs["z"], denoise=False))
    _close(r.x, r.trajectory[-1])
    r = runs["noisy_default"]  # denoise on by default: the last step adds no noise
    assert r.nfe == N and r.trajectory is None
    _close(r.x, by_hand(X, None, NS, runs["z"], denoise=True)[-1])


def test_float32_state_draws_float32(runs):
    r = runs["f32"]
    assert r.x.dtype == r.trajectory.dtype == np.float32
    np.testing.assert_allclose(r.trajectory, by_hand(X.astype(np.float32), None, NS, runs["z32"],
                                                       denoise=False),
                               rtol=1e-6, atol=1e-6)
