"""Fixed-step diffrax solves of the diagonal-noise Itô SDEs (:mod:`.sde_classes`).

Solvers (all converge to the Itô solution):

* ``"euler"``: Euler-Maruyama (``diffrax.Euler``); strong order 1/2, order 1 for
  additive noise (the LSDE, and the GSDE solved for ``log z``);
* ``"milstein"``: :class:`DiagonalMilstein`, Milstein's scheme for diagonal noise
  (``g_i`` depends on ``y_i`` only, as in all three classes); strong order 1;
* ``"reversible_heun"``: ``diffrax.ReversibleHeun`` (Kidger et al. 2021) on the
  Stratonovich form of the same SDE: the drift gets the Itô-to-Stratonovich correction
  ``-g g' / 2`` (computed with a JVP), so the solution is still the Itô one.

The Brownian motion is a ``diffrax.VirtualBrownianTree`` of the state's shape (one
independent coordinate per state entry): a key gives one continuous path, so solves
with different step counts see the same noise (strong convergence tests) and a fixed
key reproduces a forward pass exactly.
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import diffrax
import jax
import jax.numpy as jnp

from diffax import checks
from diffax.neural_sde.sde_classes import SDE

SOLVERS = ("euler", "milstein", "reversible_heun")


class DiagonalNoise(diffrax.AbstractTerm):
    """``g(t, y) * dW`` with an elementwise diffusion ``g`` of y's shape."""

    diffusion: Callable
    control: diffrax.AbstractPath

    def vf(self, t, y, args):
        return self.diffusion(t, y)

    def contr(self, t0, t1, **kwargs):
        return self.control.evaluate(t0, t1, **kwargs)

    def prod(self, vf, control):
        return vf * control


class DiagonalMilstein(diffrax.AbstractItoSolver):
    """Milstein's method for diagonal noise:
    ``y1 = y0 + f dt + g dW + g (dg/dy) (dW^2 - dt) / 2`` (elementwise; ``dg/dy`` is the
    diagonal of the diffusion's Jacobian, a JVP with a vector of ones, which is exact
    when ``g_i`` depends on ``y_i`` only). Use with ``MultiTerm(ODETerm, DiagonalNoise)``."""

    term_structure: ClassVar = diffrax.MultiTerm[tuple[diffrax.AbstractTerm,
                                                       diffrax.AbstractTerm]]
    interpolation_cls: ClassVar = diffrax.LocalLinearInterpolation

    def order(self, terms):
        raise ValueError("DiagonalMilstein solves SDEs only.")

    def strong_order(self, terms):
        return 1

    def init(self, terms, t0, t1, y0, args):
        return None

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        del solver_state, made_jump
        drift, noise = terms.terms
        dt = drift.contr(t0, t1)
        dw = noise.contr(t0, t1)
        g, dg = jax.jvp(lambda y: noise.vf(t0, y, args), (y0,), (jnp.ones_like(y0),))
        y1 = (y0 + drift.vf_prod(t0, y0, args, dt) + g * dw
              + 0.5 * g * dg * (dw * dw - dt))
        return y1, None, dict(y0=y0, y1=y1), None, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)


def stratonovich_drift(sde: SDE) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``f - g g' / 2``: the drift of the Stratonovich SDE with the same solution."""

    def drift(t, y):
        g, dg = jax.jvp(lambda u: sde.diffusion(t, u), (y,), (jnp.ones_like(y),))
        return sde.drift(t, y) - 0.5 * g * dg

    return drift


def brownian_motion(key: jax.Array, shape: tuple[int, ...], *, t0: float = 0.0,
                    t1: float = 1.0, tol: float, dtype: Any = jnp.float32
                    ) -> diffrax.VirtualBrownianTree:
    """A ``diffrax.VirtualBrownianTree`` on ``[t0, t1]`` of the given shape."""
    t0, t1 = checks.interval("brownian_motion", t0, t1, names=("t0", "t1"))
    checks.positive("brownian_motion", "tol", tol)
    return diffrax.VirtualBrownianTree(t0, t1, tol=tol, key=key,
                                       shape=jax.ShapeDtypeStruct(tuple(shape), dtype))


def solve(sde: SDE, z0: jax.Array, key: jax.Array | None, *, steps: int,
          t0: float = 0.0, t1: float = 1.0, solver: str = "euler",
          save: str = "final", bm: diffrax.AbstractPath | None = None) -> jax.Array:
    """Solve ``sde`` from ``z0`` at ``t0`` to ``t1`` with ``steps`` equal steps.

    Args:
      sde: from :func:`~diffax.neural_sde.sde_classes.make_sde`.
      z0: initial value (any shape; every entry gets its own Brownian coordinate).
      key: PRNG key of the Brownian path (ignored when ``bm`` is given).
      steps: number of solver steps.
      solver: "euler", "milstein" or "reversible_heun" (module docstring).
      save: "final" (z at t1, z0's shape) or "grid" (z at the ``steps + 1`` grid
        times ``linspace(t0, t1, steps + 1)``, shape (steps + 1, *z0.shape)).
      bm: a Brownian path of z0's shape to use instead of a fresh one from ``key``
        (e.g. to compare step counts on the same path).

    Returns z (not the solver state: the GSDE in log mode is mapped back).
    """
    steps = checks.positive_int("solve", "steps", steps)
    checks.choice("solve", "solver", solver, SOLVERS)
    checks.choice("solve", "save", save, ("final", "grid"))
    t0, t1 = checks.interval("solve", t0, t1, names=("t0", "t1"))
    z0 = jnp.asarray(z0)
    checks.floating("solve", "z0", z0)
    y0 = sde.to_state(z0)
    if bm is None:
        if key is None:
            raise ValueError("solve: give a PRNG key (or a Brownian path bm=...), got key=None.")
        bm = brownian_motion(key, y0.shape, t0=t0, t1=t1, tol=(t1 - t0) / (8 * steps),
                             dtype=y0.dtype)
    drift = stratonovich_drift(sde) if solver == "reversible_heun" else sde.drift
    terms = diffrax.MultiTerm(diffrax.ODETerm(lambda t, y, args: drift(t, y)),
                              DiagonalNoise(sde.diffusion, bm))
    method = {"euler": diffrax.Euler, "milstein": DiagonalMilstein,
              "reversible_heun": diffrax.ReversibleHeun}[solver]()
    grid = jnp.linspace(t0, t1, steps + 1, dtype=y0.dtype)
    saveat = diffrax.SaveAt(ts=grid) if save == "grid" else diffrax.SaveAt(t1=True)
    sol = diffrax.diffeqsolve(terms, method, t0, t1, None, y0, saveat=saveat,
                              stepsize_controller=diffrax.StepTo(ts=grid),
                              max_steps=steps)
    ys = sol.ys if save == "grid" else sol.ys[0]
    return sde.from_state(ys)
