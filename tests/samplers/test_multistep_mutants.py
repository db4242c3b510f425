"""``diffax/samplers/multistep.py`` against NumPy transcriptions, written for its mutation
run (docs/testing.md). The module is the shared driver of the linear multistep samplers
(DPM-Solver-2M/3M and DPM-Solver++(2M/3M), Lu et al., 2022a/b; SDE-DPM-Solver++(2M),
Lu et al., 2022b; DEIS, Zhang & Chen, 2023; UniPC's corrector UniC, Zhao et al., 2023;
PLMS/iPNDM with warm-up history, Liu et al., 2022): the recurrence

    x_{i+1} = A_i x_i + sum_j W_ij m_{i-j} [+ S_i z_i],
    x^c_{i+1} = A_i x_i + sum_j C_ij m_{i-j} + Ct_i f(x_{i+1}, t_{i+1}),

with m_0 = f(x_0, t_0), the history (default zeros) after it, no evaluation at t_N and
no corrector on the last step. Checked here: every state of whole runs (float64, an
x- and t-dependent model, distinct tables per step; rtol 1e-12: the transcription does
the same operations, measured differences are rounding, at most 2.6e-15 relative), the
warm-up/final orders, the lagged views, the casts to the state's dtype (a float32 run
whose every operation is exact in float32, so that a float64 coefficient shows), the
defaults and the refusal in full.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.samplers import multistep as ms

RTOL = 1e-12  # rounding only (measured at most 2.6e-15 relative)
N, K = 5, 3
TS = np.array([1.0, 0.83, 0.6, 0.45, 0.2, 0.08])  # non-uniform, N + 1 nodes
RNG = np.random.default_rng(11)
A_T = RNG.uniform(0.5, 1.5, N)
W_T = RNG.normal(size=(N, K))
C_T = RNG.normal(size=(N, K))
CT_T = RNG.uniform(0.2, 1.2, N)
S_T = RNG.uniform(0.1, 0.9, N)
X0 = RNG.normal(size=(3, 2))
HIST = (RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2)))  # m_{-1}, m_{-2} (newest first)


def f_np(x, t):
    return np.sin(x) * (1.0 + t) + t * t


def f_jax(x, t):
    return jnp.sin(x) * (1.0 + t) + t * t


def by_hand(x, ts, A, W, C=None, Ct=None, S=None, z=None, history=None):
    """The recurrence of the module docstring in NumPy; every state x_0..x_N."""
    k = W.shape[1]
    ms_ = [f_np(x, ts[0])] + (list(history) if history is not None
                              else [np.zeros_like(x)] * (k - 1))
    states = [x]
    n = len(ts) - 1
    for i in range(n):
        pred = A[i] * x + sum(W[i, j] * ms_[j] for j in range(k))
        if S is not None:
            pred = pred + S[i] * z[i]
        if i == n - 1:
            states.append(pred)
            break
        m = f_np(pred, ts[i + 1])
        x = pred if C is None else A[i] * x + sum(C[i, j] * ms_[j] for j in range(k)) \
            + Ct[i] * m
        ms_ = [m] + ms_[:-1]
        states.append(x)
    return np.stack(states)


# ---- step_orders, lagged, lagged_nodes -----------------------------------------------------

def test_step_orders_against_the_rule():
    """min(order, history + i + 1), and with lower_order_final min(., N - i)."""
    for n in (1, 2, 3, 5, 8):
        for order in (1, 2, 3, 4):
            i = np.arange(n)
            plain = [min(order, int(j) + 1) for j in i]
            np.testing.assert_array_equal(ms.step_orders(n, order), plain)  # defaults
            for history in (0, 1, 2):
                for lof in (False, True):
                    want = [min(order, history + int(j) + 1, n - int(j) if lof else order)
                            for j in i]
                    got = ms.step_orders(n, order, history=history, lower_order_final=lof)
                    np.testing.assert_array_equal(got, want)


def test_lagged_repeats_the_first_value(x64):
    v = jnp.array([0.5, 0.25, 0.125, 0.1, 0.07])
    got = ms.lagged(v, (0, 1, 3))
    want = [[float(v[max(i - lag, 0)]) for lag in (0, 1, 3)] for i in range(5)]
    np.testing.assert_array_equal(got, want)  # a gather: exact
    assert ms.lagged(v, ()).shape == (5, 0)     # no lags: an empty gather, not a TypeError
    np.testing.assert_array_equal(ms.lagged(v, 2), [[float(v[max(i - 2, 0)])] for i in range(5)])


@pytest.mark.parametrize("lags", [(0, 1, 2, 3), (2, 1), (0,), (3,), (), 2])
def test_lagged_nodes_extend_the_grid_by_its_first_step(x64, lags):
    """grid[i - lag], extended backwards by grid[0] - k (grid[1] - grid[0]); one int lag
    is read as a list of one (the lags are flattened)."""
    grid = np.array([1.0, 0.9, 0.6, 0.5, 0.2])  # 4 steps, unequal
    h0 = grid[1] - grid[0]
    ext = lambda j: grid[j] if j >= 0 else grid[0] + h0 * j  # noqa: E731
    flat = np.atleast_1d(lags)
    want = np.array([[ext(i - lag) for lag in flat] for i in range(4)]).reshape(4, flat.size)
    got = ms.lagged_nodes(jnp.asarray(grid), lags)
    assert got.shape == (4, flat.size)
    np.testing.assert_allclose(got, want, rtol=1e-15)


# ---- run ---------------------------------------------------------------------------------

def test_history_refusal_in_full():
    with pytest.raises(ValueError) as err:
        ms.run(f_jax, jnp.ones((1, 2)), jnp.array([1.0, 0.5]), jnp.ones(1), jnp.ones((1, 3)),
               history=(jnp.ones((1, 2)),))
    assert str(err.value) == "multistep.run: history needs K - 1 = 2 values, got 1."


@pytest.fixture(scope="module")
def runs():
    """One compiled program for the three float64 runs (x64 set around it)."""
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        ts = jnp.asarray(TS)
        keys = jax.random.split(jax.random.PRNGKey(5), N)

        @jax.jit
        def go(x):
            plain = ms.run(f_jax, x, ts, jnp.asarray(A_T), jnp.asarray(W_T),
                           return_trajectory=True)
            full = ms.run(f_jax, x, ts, jnp.asarray(A_T), jnp.asarray(W_T),
                          corrector=(jnp.asarray(C_T), jnp.asarray(CT_T)),
                          noise=(jnp.asarray(S_T), keys),
                          history=tuple(jnp.asarray(h) for h in HIST),
                          return_trajectory=True)
            one = ms.run(f_jax, x, ts, jnp.asarray(A_T), jnp.asarray(W_T[:, :1]),
                         corrector=(jnp.asarray(C_T[:, :1]), jnp.asarray(CT_T)))
            return plain, full, one

        out = jax.tree.map(np.asarray, go(jnp.asarray(X0)))
        z = np.stack([np.asarray(jax.random.normal(k, X0.shape, jnp.float64)) for k in keys])
        return out, z
    finally:
        jax.config.update("jax_enable_x64", prev)


def test_every_state_with_zero_history(runs):
    (x, traj), _, _ = runs[0]
    want = by_hand(X0, TS, A_T, W_T)
    assert traj.shape == (N + 1, 3, 2)
    np.testing.assert_allclose(traj, want, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(x, want[-1], rtol=RTOL, atol=1e-14)


def test_every_state_with_corrector_noise_and_given_history(runs):
    (_, (x, traj), _), z = runs
    want = by_hand(X0, TS, A_T, W_T, C_T, CT_T, S_T, z, history=HIST)
    np.testing.assert_allclose(traj, want, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(x, want[-1], rtol=RTOL, atol=1e-14)
    # the noise did something, the corrector too
    assert np.max(np.abs(want - by_hand(X0, TS, A_T, W_T, C_T, CT_T, history=HIST))) > 0.1
    assert np.max(np.abs(want - by_hand(X0, TS, A_T, W_T, S=S_T, z=z, history=HIST))) > 0.1


def test_one_value_method_and_the_default_no_trajectory(runs):
    (_, _, (x, traj)), _ = runs
    assert traj is None
    want = by_hand(X0, TS, A_T, W_T[:, :1], C_T[:, :1], CT_T)
    np.testing.assert_allclose(x, want[-1], rtol=RTOL, atol=1e-14)


def test_tables_and_model_outputs_are_cast_to_the_state_dtype(x64):
    """A float32 state with float64 tables, a float64 model output and float64 history.
    The state is 2^20 [1, 3], the coefficients 1 + 2^-30 (1 in float32) or exact
    halves, so every operation of the float32 recurrence is exact: the states are
    x_0, 0, 0 and the noise z_2 (drawn in float32) exactly, while one float64 coefficient
    or model output leaves about 2^-10 behind. The result and trajectory are float32."""
    one = 1.0 + 2.0**-30
    x0 = jnp.array([[2.0**20, 3 * 2.0**20]], jnp.float32)
    ts = jnp.array([1.0, 0.7, 0.4, 0.1])

    def f(x, t):
        return -(x.astype(jnp.float64)) * one + 0.0 * t

    A = jnp.full(3, one)
    W = jnp.array([[one, 0.5], [one, 0.5], [0.0, 0.0]])
    C = jnp.array([[one, 0.0], [1.0, 0.5], [0.0, 0.0]])
    Ct = jnp.array([0.0, one, 0.0])  # Ct_0 = 0: the corrector must not undo A_0's cast
    S = jnp.array([0.0, 0.0, 1.0])
    keys = jax.random.split(jax.random.PRNGKey(2), 3)
    x, traj = jax.jit(lambda x0: ms.run(
        f, x0, ts, A, W, corrector=(C, Ct), noise=(S, keys),
        history=(jnp.zeros((1, 2), jnp.float64),), return_trajectory=True))(x0)
    assert x.dtype == jnp.float32 and traj.dtype == jnp.float32
    z = jax.random.normal(keys[2], (1, 2), jnp.float32)
    np.testing.assert_array_equal(traj[0], x0)
    # exact in float32 (see above); one float64 coefficient leaves x_0 2^-31 >= 2^-11
    np.testing.assert_allclose(traj[1:3], 0.0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(x, z, rtol=1e-6)
    np.testing.assert_array_equal(traj[-1], x)
