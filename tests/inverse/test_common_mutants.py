"""The argument checks shared by the inverse solvers (diffax/inverse/common.py): each
refusal with its whole message, what passes, and traced values passing unchecked."""

import jax
import jax.numpy as jnp
import pytest

from diffax.inverse import Blur, Mask, Nonlinear, Radon, RandomProjection
from diffax.inverse.common import (check_measurement, check_noise_std,
                                   check_normal_solve_operator, check_pinv_operator)


def test_check_noise_std():
    assert check_noise_std(0, "w") == 0.0 and check_noise_std(0.25, "w") == 0.25
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError) as e:
            check_noise_std(bad, "where")
        assert str(e.value) == f"where: noise_std must be finite and >= 0, got noise_std={bad!r}."
    # a traced noise level passes unchecked (the solvers jit over it)
    assert float(jax.jit(lambda s: jnp.asarray(check_noise_std(s, "w")) * 2)(0.5)) == 1.0


def test_check_measurement():
    op = RandomProjection(matrix=jnp.ones((3, 4)))
    x = jnp.zeros((2, 2, 2))
    check_measurement(op, x, jnp.zeros((2, 3)), "w")
    for y in (jnp.zeros((2, 2)), jnp.zeros((3,))):
        with pytest.raises(ValueError) as e:
            check_measurement(op, x, y, "solver")
        assert str(e.value) == (f"solver: y has shape {tuple(y.shape)} but the operator maps x "
                                "of shape (2, 2, 2) to (2, 3).")
    # the operator sees x's dtype: an operator whose output shape depends on it
    by_dtype = Nonlinear(fn=lambda v: v[:, :1] if v.dtype == jnp.int32 else v)
    check_measurement(by_dtype, jnp.zeros((2, 3), jnp.int32), jnp.zeros((2, 1)), "w")


def test_check_pinv_operator():
    check_pinv_operator(Mask(mask=jnp.ones(3)), "w")
    check_pinv_operator(Blur.gaussian(), "w")
    msg = ("repaint: needs an operator with a closed-form pseudo-inverse (Mask, Downsample, "
           "Blur, RandomProjection), got {}; use dps, pigdm or red_diff instead.")
    for op, name in ((Radon.sparse_view(3), "Radon"), (Nonlinear(fn=jnp.tanh), "Nonlinear"),
                     (jnp.tanh, "PjitFunction")):
        with pytest.raises(ValueError) as e:
            check_pinv_operator(op, "repaint")
        assert str(e.value) == msg.format(type(op).__name__), name


def test_check_normal_solve_operator():
    check_normal_solve_operator(Radon.sparse_view(3), "w")
    msg = ("pigdm: needs a linear operator from diffax.inverse (Mask, Downsample, Blur, "
           "RandomProjection, Radon), got {}; use dps or red_diff for nonlinear ones.")
    for op in (Nonlinear(fn=jnp.tanh), lambda v: v):
        with pytest.raises(ValueError) as e:
            check_normal_solve_operator(op, "pigdm")
        assert str(e.value) == msg.format(type(op).__name__)
