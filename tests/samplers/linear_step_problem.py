"""The shared problem of the samplers' mutation tests (test_<module>_mutants.py): VP-linear,
a grid non-uniform in t, three 2-D states, and an eps model that depends on x and t,
eps(x, t) = 0.3 sin x + 3 sin 9t + 2t (+ shift), also as a data prediction
x0 = (x - sigma eps) / alpha. unipc_by_hand.py transcribes the same model in NumPy; the
other *_by_hand.py files do the same for their samplers. Also the helpers those tests
share: the model with a conditioning argument as a data prediction, the message of a
refusal (and of a grid that does not decrease), and float64 around a module-scoped
fixture."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.processes import VPLinear

P = VPLinear()
TS = np.array([0.95, 0.8, 0.7, 0.5, 0.42, 0.2, 0.05])
X = np.array([[0.3, -1.2], [2.0, 0.1], [-0.7, 0.9]])


def model(x, t, shift=0.0):
    t = jnp.reshape(t, (-1, 1))
    return 0.3 * jnp.sin(x) + 3.0 * jnp.sin(9.0 * t) + 2.0 * t + shift


def model_needing_shift(x, t, *, shift):
    return model(x, t, shift)


def x0_model_needing_shift(x, t, *, shift):
    """The same model as a data prediction: x0 = (x - sigma eps) / alpha."""
    tt = jnp.reshape(t, (-1, 1))
    return (x - P.sigma(tt) * model(x, t, shift)) / P.alpha(tt)


def x0_model(x, t):
    """``x0_model_needing_shift`` without the conditioning argument (shift 0)."""
    return x0_model_needing_shift(x, t, shift=0.0)


def refusal(fn, *args, **kw) -> str:
    """The message of the ``ValueError`` that ``fn(*args, **kw)`` must raise."""
    with pytest.raises(ValueError) as err:
        fn(*args, **kw)
    return str(err.value)


def not_decreasing_message(name: str, grid) -> str:
    """The samplers' refusal of a grid that does not decrease strictly (``check_timesteps``)."""
    return (f"{name}: timesteps must decrease strictly from t_max towards t_min (a decreasing "
            f"grid t_0 > ... > t_N; use diffax.samplers.schedules); got {grid}.")


@contextlib.contextmanager
def float64():
    """jax_enable_x64 on inside the block, restored after (conftest's ``x64`` fixture is
    function-scoped; this serves module-scoped fixtures). The same as
    ``benchmarks.golden.common.x64_enabled(True)``, which these tests do not import: the
    mutation work folders hold ``diffax/`` and ``tests/`` only."""
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", prev)
