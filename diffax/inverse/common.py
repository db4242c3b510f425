"""Argument checks shared by the inverse-problem solvers and guidance wrappers (time
grids are checked by :func:`diffax.samplers.base.check_timesteps`, numbers by
:mod:`diffax.checks`)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from diffax import checks

Array = jax.Array


def check_noise_std(noise_std: Any, where: str) -> Any:
    """The measurement noise level sigma_y: a finite number >= 0 (tracers pass)."""
    return checks.in_range(where, "noise_std", noise_std, lo=0, skip_traced=True)


def check_measurement(operator: Any, x: Array, y: Array, where: str) -> None:
    """``y`` must have the shape that ``operator`` gives to states shaped like ``x``."""
    expected = jax.eval_shape(operator, jax.ShapeDtypeStruct(x.shape, x.dtype)).shape
    if tuple(jnp.shape(y)) != tuple(expected):
        raise ValueError(f"{where}: y has shape {tuple(jnp.shape(y))} but the operator maps x "
                         f"of shape {x.shape} to {tuple(expected)}.")


def check_pinv_operator(operator: Any, where: str) -> None:
    """Projection methods need a closed-form pseudo-inverse A^+."""
    if not getattr(operator, "has_pinv", False):
        raise ValueError(f"{where}: needs an operator with a closed-form pseudo-inverse "
                         f"(Mask, Downsample, Blur, RandomProjection), got "
                         f"{type(operator).__name__}; use dps, pigdm or red_diff instead.")


def check_normal_solve_operator(operator: Any, where: str) -> None:
    """PiGDM needs (r^2 A A^T + s^2 I)^{-1}, i.e. a linear operator of diffax.inverse."""
    if not hasattr(operator, "normal_solve"):
        raise ValueError(f"{where}: needs a linear operator from diffax.inverse "
                         f"(Mask, Downsample, Blur, RandomProjection, Radon), got "
                         f"{type(operator).__name__}; use dps or red_diff for nonlinear ones.")


__all__ = ["check_measurement", "check_noise_std", "check_normal_solve_operator",
           "check_pinv_operator"]
