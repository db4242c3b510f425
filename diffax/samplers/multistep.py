"""One driver for the linear multistep samplers (DPM-Solver(++)-kM, SDE-DPM-Solver++(2M),
DEIS, UniPC, PNDM/PLMS/iPNDM).

A linear multistep sampler keeps the last K model outputs m_j = f(x_j, t_j) (in its own
parameterization: eps, x0, ...) and steps t_i -> t_{i+1} with per-step tables computed
from the time grid before the scan:

    predictor:  x_{i+1} = A_i x_i + sum_{j=0}^{K-1} W_ij m_{i-j}  [+ S_i z_i],
    corrector:  x^c_{i+1} = A_i x_i + sum_{j=0}^{K-1} C_ij m_{i-j} + Ct_i f(x_{i+1}, t_{i+1})

(optional: UniC of UniPC, Zhao et al. 2023; the noise term: SDE solvers, z_i ~ N(0, I)).
The model output at the predicted point is the next history value m_{i+1}, so a
corrector costs no extra evaluation, and every method takes one evaluation per step:
f(x_0, t_0) first, then one at each t_1..t_{N-1}; the last step needs no evaluation at
t_N (and has no corrector). The sums run newest value first, in this order, for every
method.

What differs between methods is only how the tables are built; what they share is here:

* :func:`step_orders`: the warm-up (step i can use at most ``history + i + 1`` values)
  and, optionally, lower orders on the last steps (order <= N - i);
* :func:`lagged` and :func:`lagged_nodes`: per-step views of past values, extended
  backwards with equal steps, so that warm-up steps see finite, distinct dummy values
  (their weights are zero; distinct nodes keep interpolation weights and gradients
  finite);
* :func:`run`: the history buffer and the branch-free ``lax.scan``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from diffax.samplers.base import run_scan

Array = jax.Array


def step_orders(n_steps: int, order: int, *, history: int = 0,
                lower_order_final: bool = False) -> np.ndarray:
    """Order of each of ``n_steps`` steps: min(order, history + i + 1) (the values
    available at step i, ``history`` of them before the first step) and, with
    ``lower_order_final``, at most n_steps - i."""
    i = np.arange(n_steps)
    k = np.minimum(order, history + i + 1)
    if lower_order_final:
        k = np.minimum(k, n_steps - i)
    return k


def lagged(values: Array, lags: Sequence[int]) -> Array:
    """``(N, len(lags))``: ``values[max(i - lag, 0)]`` for per-step quantities (e.g. step
    sizes h_i), i.e. the first value repeated before the start (equal steps)."""
    lags = np.asarray(lags, dtype=int).reshape(-1)   # () is an empty float array otherwise
    idx = np.maximum(np.arange(values.shape[0])[:, None] - lags[None, :], 0)
    return values[idx]


def lagged_nodes(grid: Array, lags: Sequence[int]) -> Array:
    """``(N, len(lags))`` grid nodes ``grid[i - lag]`` for the N steps of an (N + 1)-node
    grid, the grid extended backwards by equally spaced nodes where ``i - lag < 0``."""
    lags = np.asarray(lags, dtype=int).reshape(-1)
    pad = int(lags.max(initial=0))
    if pad:
        front = grid[0] - (grid[1] - grid[0]) * jnp.arange(pad, 0, -1, dtype=grid.dtype)
        grid = jnp.concatenate([front, grid])
    idx = np.arange(grid.shape[0] - pad - 1)[:, None] + pad - lags[None, :]
    return grid[idx]


def _combine(x: Array, a: Array, w: Array, hist: tuple[Array, ...]) -> Array:
    y = a * x
    for j, m in enumerate(hist):
        y = y + w[j] * m
    return y


def run(f: Callable[[Array, Array], Array], x_init: Array, ts: Array, A: Array, W: Array, *,
        corrector: tuple[Array, Array] | None = None,
        noise: tuple[Array, Array] | None = None, history: Sequence[Array] = (),
        return_trajectory: bool = False) -> tuple[Array, Array | None]:
    """Run a linear multistep method (see the module docstring).

    Args:
      f: ``f(x, t_scalar) -> m``, one model evaluation in the method's parameterization.
      x_init: the state at ``ts[0]``.
      ts: the N + 1 grid times.
      A, W: ``(N,)`` and ``(N, K)`` predictor tables; W[i, j] multiplies m_{i-j}.
      corrector: ``(C, Ct)``, shapes ``(N, K)`` and ``(N,)``, or None.
      noise: ``(S, keys)``: ``(N,)`` noise scales and N PRNG keys, or None.
      history: K - 1 model outputs from before ``ts[0]`` (newest first; default zeros),
        e.g. those of warm-up steps taken by another method.

    Returns:
      ``(x_N, trajectory or None)``; the trajectory holds the N + 1 states. The tables
      are cast to ``x_init``'s dtype and so is the state.
    """
    dt = x_init.dtype
    k = W.shape[1]
    A, W = A.astype(dt), W.astype(dt)
    hist = tuple(history) or tuple(jnp.zeros_like(x_init) for _ in range(k - 1))
    if len(hist) != k - 1:
        raise ValueError(f"multistep.run: history needs K - 1 = {k - 1} values, got "
                         f"{len(hist)}.")
    hist = (f(x_init, ts[0]).astype(dt),) + hist

    xs = {"a": A, "w": W, "t_next": ts[1:]}
    if noise is not None:
        xs["s"], xs["key"] = noise[0].astype(dt), noise[1]
    if corrector is not None:
        xs["c"], xs["ct"] = corrector[0].astype(dt), corrector[1].astype(dt)

    def predict(x, hist, inp):
        y = _combine(x, inp["a"], inp["w"], hist)
        if noise is not None:
            y = y + inp["s"] * jax.random.normal(inp["key"], x.shape, dt)
        return y

    def step(carry, inp):
        x, hist = carry
        x_pred = predict(x, hist, inp)
        m = f(x_pred, inp["t_next"]).astype(dt)
        x_new = x_pred if corrector is None else _combine(x, inp["a"], inp["c"], hist) \
            + inp["ct"] * m
        return x_new, (m,) + hist[:-1]

    head = jax.tree_util.tree_map(lambda v: v[:-1], xs)
    (x, hist), traj = run_scan(step, (x_init, hist), head, lambda c: c[0], x_init,
                               return_trajectory)
    x = predict(x, hist, jax.tree_util.tree_map(lambda v: v[-1], xs)).astype(dt)
    if return_trajectory:
        traj = jnp.concatenate([traj, x[None]], axis=0)
    return x, traj
