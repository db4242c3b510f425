"""The linear multistep driver (diffax.samplers.multistep): warm-up and final orders,
lagged views extended backwards, the history and corrector bookkeeping of ``run``
against a hand-written loop. (The methods built on it are checked against their papers
in their own files.)"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.samplers import multistep


def test_step_orders_warm_up_history_and_lower_order_final():
    np.testing.assert_array_equal(multistep.step_orders(6, 3), [1, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(multistep.step_orders(6, 3, lower_order_final=True),
                                  [1, 2, 3, 3, 2, 1])
    np.testing.assert_array_equal(multistep.step_orders(20, 2, lower_order_final=True),
                                  [1] + [2] * 18 + [1])
    np.testing.assert_array_equal(multistep.step_orders(1, 3), [1])
    # values from before the first step (PNDM after its warm-up steps)
    np.testing.assert_array_equal(multistep.step_orders(4, 4, history=1), [2, 3, 4, 4])


def test_lagged_views_extend_the_grid_backwards_with_equal_steps(x64):
    h = jnp.array([0.5, 0.25, 0.125, 0.1])
    np.testing.assert_array_equal(multistep.lagged(h, (1, 2)),
                                  [[0.5, 0.5], [0.5, 0.5], [0.25, 0.5], [0.125, 0.25]])
    grid = jnp.array([1.0, 0.8, 0.5, 0.3])  # 3 steps
    np.testing.assert_allclose(multistep.lagged_nodes(grid, range(3)),
                               [[1.0, 1.2, 1.4], [0.8, 1.0, 1.2], [0.5, 0.8, 1.0]],
                               rtol=1e-15)
    assert multistep.lagged_nodes(grid, range(1, 1)).shape == (3, 0)


def _by_hand(f, x, ts, A, W, C=None, Ct=None, S=None, keys=None):
    """The recurrence of the module docstring, written as a plain loop."""
    k = W.shape[1]
    ms = [f(x, ts[0])] + [jnp.zeros_like(x)] * (k - 1)
    for i in range(len(ts) - 1):
        pred = A[i] * x + sum(W[i, j] * ms[j] for j in range(k))
        if S is not None:
            pred = pred + S[i] * jax.random.normal(keys[i], x.shape, x.dtype)
        if i == len(ts) - 2:
            return pred
        m = f(pred, ts[i + 1])
        x = pred if C is None else A[i] * x + sum(C[i, j] * ms[j] for j in range(k)) + Ct[i] * m
        ms = [m] + ms[:-1]


@pytest.mark.parametrize("variant", ["plain", "corrector", "noise"])
def test_run_equals_the_recurrence(x64, variant):
    f = lambda x, t: jnp.sin(x) * (1.0 + t)  # noqa: E731
    rng = np.random.default_rng(0)
    n, k = 5, 3
    ts = jnp.linspace(1.0, 0.1, n + 1)
    A, Ct = (jnp.asarray(rng.uniform(0.5, 1.5, n)) for _ in range(2))
    W, C = (jnp.asarray(rng.normal(size=(n, k))) for _ in range(2))
    x = jnp.asarray(rng.normal(size=(4, 2)))
    kw, ref_kw = {}, {}
    if variant == "corrector":
        kw["corrector"], ref_kw = (C, Ct), dict(C=C, Ct=Ct)
    if variant == "noise":
        S, keys = jnp.asarray(rng.uniform(size=n)), jax.random.split(jax.random.PRNGKey(0), n)
        kw["noise"], ref_kw = (S, keys), dict(S=S, keys=keys)
    out, traj = jax.jit(lambda x: multistep.run(f, x, ts, A, W, return_trajectory=True,
                                                **kw))(x)
    np.testing.assert_allclose(out, _by_hand(f, x, ts, A, W, **ref_kw), rtol=1e-13)
    assert traj.shape == (n + 1, 4, 2)
    np.testing.assert_array_equal(traj[0], x)
    np.testing.assert_array_equal(traj[-1], out)


def test_history_length_is_checked():
    with pytest.raises(ValueError, match=r"history needs K - 1 = 2 values, got 1"):
        multistep.run(lambda x, t: x, jnp.ones((1, 2)), jnp.array([1.0, 0.5]), jnp.ones(1),
                      jnp.ones((1, 3)), history=(jnp.ones((1, 2)),))
