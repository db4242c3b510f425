"""Exact linear assignment in JAX: the Hungarian method with potentials.

Solves  min_{permutation pi} sum_i C[i, pi(i)]  for a square cost matrix (Kuhn,
1955; Munkres, 1957), in the O(n^3) shortest-augmenting-path form with dual
potentials u, v (Jonker & Volgenant, 1987 style): rows are inserted one at a time
and each insertion grows a Dijkstra-like alternating tree over columns with reduced
costs C[i, j] - u[i] - v[j] >= 0 until it reaches a free column, then flips the
path. All loops are ``lax.fori_loop`` / ``lax.while_loop`` with O(n) vector work
per step, so it jits and vmaps (a vmapped batch runs until its slowest member is
done). It is exact (up to float rounding of the costs) but sequential: use it for
small sets (n up to a few hundred); ``sinkhorn_emd`` approximates larger problems.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from diffax.metrics._common import as_float_array

Array = jax.Array


def _hungarian(cost: Array) -> Array:
    """Column assigned to each row for one (n, n) cost matrix."""
    n = cost.shape[0]
    dtype = cost.dtype
    inf = jnp.array(jnp.inf, dtype)
    # 1-based arrays with a dummy row/column 0 (the tree root and "unassigned").
    a = jnp.zeros((n + 1, n + 1), dtype).at[1:, 1:].set(cost)
    idx_dtype = jnp.int32

    def insert_row(i, carry):
        u, v, p, way = carry
        p = p.at[0].set(i)

        def grow_cond(state):
            _, _, p, _, j0, _, _ = state
            return p[j0] != 0

        def grow(state):
            u, v, p, way, j0, minv, used = state
            used = used.at[j0].set(True)
            i0 = p[j0]
            reduced = a[i0] - u[i0] - v
            better = (~used) & (reduced < minv)
            minv = jnp.where(better, reduced, minv)
            way = jnp.where(better, j0, way)
            masked = jnp.where(used, inf, minv)
            j1 = jnp.argmin(masked).astype(idx_dtype)
            delta = masked[j1]
            # Rows in the tree (p[j] for used j, all distinct) gain delta, their
            # columns lose it; unused columns' slack shrinks by delta.
            u = u.at[p].add(jnp.where(used, delta, 0.0).astype(dtype))
            v = jnp.where(used, v - delta, v)
            minv = jnp.where(used, minv, minv - delta)
            return u, v, p, way, j1, minv, used

        state = (u, v, p, way, jnp.zeros((), idx_dtype), jnp.full((n + 1,), inf),
                 jnp.zeros((n + 1,), bool))
        u, v, p, way, j0, _, _ = jax.lax.while_loop(grow_cond, grow, state)

        def flip(state):
            p, j0 = state
            j1 = way[j0]
            return p.at[j0].set(p[j1]), j1

        p, _ = jax.lax.while_loop(lambda s: s[1] != 0, flip, (p, j0))
        return u, v, p, way

    init = (jnp.zeros((n + 1,), dtype), jnp.zeros((n + 1,), dtype),
            jnp.zeros((n + 1,), idx_dtype), jnp.zeros((n + 1,), idx_dtype))
    _, _, p, _ = jax.lax.fori_loop(1, n + 1, insert_row, init)
    # p[j] is the (1-based) row matched to column j; invert to row -> column.
    return jnp.zeros((n,), idx_dtype).at[p[1:] - 1].set(jnp.arange(n, dtype=idx_dtype))


@jax.jit
def _assign(cost: Array) -> Array:
    fn = _hungarian
    for _ in range(cost.ndim - 2):
        fn = jax.vmap(fn)
    return fn(cost)


def linear_sum_assignment(cost: Array) -> Array:
    """Optimal assignment for square cost matrices (..., n, n), pure JAX.

    Returns ``cols`` of shape (..., n) with ``cols[i]`` the column assigned to row i,
    minimising ``sum_i cost[i, cols[i]]`` (the same optimum as
    ``scipy.optimize.linear_sum_assignment(cost)[1]``; with ties the permutation may
    differ but the total cost is equal). Leading dimensions are batched with vmap.
    Costs must be finite. O(n^3) sequential steps: meant for small n.
    """
    fn = "linear_sum_assignment"
    cost = as_float_array(cost)
    if cost.ndim < 2 or cost.shape[-1] != cost.shape[-2] or cost.shape[-1] == 0:
        raise ValueError(f"{fn}: cost must be square and non-empty in its last two "
                         f"dimensions, got shape {cost.shape}.")
    return _assign(cost)
