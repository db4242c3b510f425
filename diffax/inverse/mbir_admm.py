"""ADMM with conjugate gradients for total-variation regularised linear inverse problems:
the data-consistency solver of DiffusionMBIR (:mod:`diffax.inverse.mbir`) and the
TV-only baseline.

The problem, for a linear operator A (e.g. :class:`~diffax.inverse.Radon` applied to
every axial slice of a volume) and finite differences D_a along a set of axes,

    min_x  1/2 ||A x - y||^2 + lam sum_a ||D_a x||_1,

is split as D_a x = z_a and solved by scaled ADMM (Boyd et al. 2011, "Distributed
Optimization and Statistical Learning via the Alternating Direction Method of
Multipliers", section 3.1.1; Chung, Ryu & Ye, CVPR 2023, "Solving 3D Inverse Problems
using Pre-trained 2D Diffusion Models", section 3, its ADMM-TV step):

    x   <- argmin_x 1/2 ||A x - y||^2 + rho/2 sum_a ||D_a x - z_a + u_a||^2
           i.e.  (A^T A + rho sum_a D_a^T D_a) x = A^T y + rho sum_a D_a^T (z_a - u_a),
           solved approximately by ``n_cg`` conjugate-gradient iterations from the
           current x (warm start);
    z_a <- S_{lam/rho}(D_a x + u_a),   S_tau(v) = sign(v) max(|v| - tau, 0)
           (the proximal map of tau ||.||_1, "shrinkage");
    u_a <- u_a + D_a x - z_a.

D_a is the forward difference (D x)_i = x_{i+1} - x_i with a zero last row (Neumann
boundary; the official DiffusionMBIR code wraps around instead), so the TV is
anisotropic. ``axes=(0,)`` on a (D, H, W, 1) volume is DiffusionMBIR's TV along z;
``axes=(0, 1, 2)`` is the 3-D TV of the TV-only baseline. Everything is pure JAX and
jit-able; the state (z, u) is a pytree that DiffusionMBIR carries across diffusion
steps, as the paper does.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from flax import struct

from diffax import checks

Array = jax.Array


def forward_difference(x: Array, axis: int) -> Array:
    """(D x)_i = x_{i+1} - x_i along ``axis``, 0 at the last index."""
    d = jnp.diff(x, axis=axis)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, 1)
    return jnp.pad(d, pad)


def difference_adjoint(p: Array, axis: int) -> Array:
    """D^T p for :func:`forward_difference`: (D^T p)_i = p_{i-1} - p_i, with p_{-1} = 0
    and p_{n-1} (the zero row of D) ignored."""
    n = p.shape[axis]
    idx = jnp.arange(n).reshape([-1 if a == axis % p.ndim else 1 for a in range(p.ndim)])
    q = jnp.where(idx < n - 1, p, 0.0)
    prev = jnp.roll(q, 1, axis=axis)  # q_{i-1}; q_{n-1} = 0 wraps to i = 0
    return prev - q


def shrink(v: Array, tau: Any) -> Array:
    """Soft thresholding S_tau(v) = sign(v) max(|v| - tau, 0), the proximal map of
    tau ||.||_1: argmin_z 1/2 (z - v)^2 + tau |z| elementwise."""
    return jnp.sign(v) * jnp.maximum(jnp.abs(v) - tau, 0.0)


def _dot(a: Array, b: Array) -> Array:
    return jnp.vdot(a, b).real


def conjugate_gradient(matvec: Callable[[Array], Array], b: Array, x0: Array,
                       n_iter: int) -> Array:
    """``n_iter`` conjugate-gradient iterations (Hestenes & Stiefel 1952) for M x = b with
    M symmetric positive (semi-)definite, from ``x0``; a fixed count, so it jits and
    scans. Directions with p^T M p = 0 (converged) leave x unchanged."""
    checks.integer("conjugate_gradient", "n_iter", n_iter, minimum=0)

    def body(_, carry):
        x, r, p, rs = carry
        mp = matvec(p)
        pmp = _dot(p, mp)
        ok = pmp > 0
        alpha = jnp.where(ok, rs / jnp.where(ok, pmp, 1.0), 0.0)
        x = x + alpha * p
        r = r - alpha * mp
        rs_new = _dot(r, r)
        beta = jnp.where(rs > 0, rs_new / jnp.where(rs > 0, rs, 1.0), 0.0)
        return x, r, r + beta * p, rs_new

    r0 = b - matvec(x0)
    x, *_ = jax.lax.fori_loop(0, n_iter, body, (x0, r0, r0, _dot(r0, r0)))
    return x


class ADMMState(struct.PyTreeNode):
    """Split variables z_a = D_a x and scaled duals u_a, stacked on a leading axis (one
    entry per TV axis)."""

    z: Array
    u: Array

    @classmethod
    def zeros(cls, shape: Sequence[int], n_axes: int, dtype: Any = jnp.float32) -> "ADMMState":
        z = jnp.zeros((n_axes,) + tuple(shape), dtype)
        return cls(z=z, u=jnp.zeros_like(z))


def _check_axes(axes: Sequence[int], ndim: int) -> tuple[int, ...]:
    axes = tuple(int(a) for a in axes)
    if not axes or any(not -ndim <= a < ndim for a in axes) or len(set(a % ndim for a in axes)) \
            != len(axes):
        raise ValueError(f"TV axes must be distinct axes of a {ndim}-D array, got {axes}.")
    return axes


def admm_tv_step(x: Array, state: ADMMState, operator: Callable[[Array], Array],
                 adjoint: Callable[[Array], Array], aty: Array, *, lam: Any, rho: Any,
                 axes: Sequence[int], n_cg: int) -> tuple[Array, ADMMState]:
    """One scaled-ADMM iteration (module docstring) from (x, z, u); ``aty`` = A^T y."""
    axes = _check_axes(axes, x.ndim)

    def normal(v):
        out = adjoint(operator(v))
        for a in axes:
            out = out + rho * difference_adjoint(forward_difference(v, a), a)
        return out

    rhs = aty
    for i, a in enumerate(axes):
        rhs = rhs + rho * difference_adjoint(state.z[i] - state.u[i], a)
    x = conjugate_gradient(normal, rhs, x, n_cg)
    dx = jnp.stack([forward_difference(x, a) for a in axes])
    z = shrink(dx + state.u, lam / rho)
    return x, ADMMState(z=z, u=state.u + dx - z)


def linear_adjoint(operator: Callable[[Array], Array], shape: Sequence[int],
                   dtype: Any = jnp.float32) -> Callable[[Array], Array]:
    """A^T of a linear ``operator`` on arrays of ``shape`` (``jax.linear_transpose``)."""
    transpose = jax.linear_transpose(operator, jax.ShapeDtypeStruct(tuple(shape), dtype))
    return lambda y: transpose(y)[0]


def admm_tv(y: Array, operator: Callable[[Array], Array], x_init: Array, *, lam: Any = 1.0,
            rho: Any = 10.0, axes: Sequence[int] = (0, 1, 2), n_iter: int = 100,
            n_cg: int = 5) -> Array:
    """TV-regularised reconstruction: ``n_iter`` ADMM iterations (``n_cg`` CG iterations
    each) for min 1/2 ||A x - y||^2 + lam sum_a ||D_a x||_1 from ``x_init`` (e.g. zeros
    or the FBP). The TV-only baseline of DiffusionMBIR (its Table 1 "ADMM-TV")."""
    checks.positive("admm_tv", "rho", rho, skip_traced=True)
    checks.in_range("admm_tv", "lam", lam, lo=0, skip_traced=True)
    checks.integer("admm_tv", "n_iter", n_iter, minimum=1)
    x_init = jnp.asarray(x_init)
    axes = _check_axes(axes, x_init.ndim)
    adjoint = linear_adjoint(operator, x_init.shape, x_init.dtype)
    aty = adjoint(jnp.asarray(y, x_init.dtype))

    def body(_, carry):
        return admm_tv_step(*carry, operator, adjoint, aty, lam=lam, rho=rho, axes=axes,
                            n_cg=n_cg)

    state = ADMMState.zeros(x_init.shape, len(axes), x_init.dtype)
    x, _ = jax.lax.fori_loop(0, n_iter, body, (x_init, state))
    return x


__all__ = ["ADMMState", "admm_tv", "admm_tv_step", "conjugate_gradient", "difference_adjoint",
           "forward_difference", "linear_adjoint", "shrink"]
